"""The LSF fake: it refuses what bsub refuses, runs jobs, answers like bjobs."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from reflow.testing.executor import max_overlap

Bench = Any
FIELDS = "jobid jobindex stat exit_code exit_reason"


@pytest.fixture
def lsf(make_bench: Callable[..., Bench]) -> Bench:
    return make_bench("lsf")


def submit(bench: Bench, *args: str, input: str | None = None) -> str:
    out = bench.ok("bsub", *args, input=input)
    match = re.fullmatch(r"Job <(\d+)> is submitted to (default )?queue <\w+>\.", out)
    assert match, out
    return match.group(1)


def records(bench: Bench, *ids: str) -> list[dict[str, str]]:
    done = bench.run("bjobs", "-o", FIELDS, "-json", *ids)
    document = json.loads(done.stdout)
    assert document["COMMAND"] == "bjobs"
    assert document["JOBS"] == len(document["RECORDS"])
    found: list[dict[str, str]] = document["RECORDS"]
    return found


def ended(bench: Bench, job_id: str) -> list[dict[str, str]]:
    bench.wait_until(lambda: all(r["STAT"] in {"DONE", "EXIT"} for r in records(bench, job_id)))
    return records(bench, job_id)


# -- refusals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-W", "01:00:00"], "01:00:00: Bad RUNLIMIT specification. Job not submitted."),
        (["-W", "1h"], "1h: Bad RUNLIMIT specification. Job not submitted."),
        (["-J", "name[1-10%2]"], "Job array index error. Job not submitted."),
        (["-J", "name[0-9]"], "Job array index error. Job not submitted."),
        (["-J", "name[1-1001]"], "Job array index too large. Job not submitted."),
        (["-J", "name[5,1001]"], "Job array index too large. Job not submitted."),
        (["-J", "name[1-3]%0"], "Job array index error. Job not submitted."),
        (["-J", "bad name[1-3]"], "Bad job name. Job not submitted."),
        (["-w", "done(424242)"], "No matching job found. Job not submitted."),
        (["-w", "finished(1)"], "Dependency condition syntax error. Job not submitted."),
        (["-q", "nosuch"], "nosuch: No such queue. Job not submitted."),
        (["-n", "two"], "Bad argument for option -n. Job not submitted."),
        (["-M", "4 GB"], "Bad memory limit specification. Job not submitted."),
        (["-Z"], "bsub: illegal option -- Z"),
        (["-ti"], "-ti: Use only with the -w option. Job not submitted."),
        (["-gpu", "num=0"], "num=0: Bad GPU requirement syntax. Job not submitted."),
        (["-gpu", "ngpus=2"], "ngpus=2: Bad GPU requirement syntax. Job not submitted."),
        (["-gpu", "num=2:gmodel"], "Bad GPU requirement syntax. Job not submitted."),
    ],
)
def test_bsub_refuses_what_lsf_refuses(lsf: Bench, args: list[str], message: str) -> None:
    done = lsf.run("bsub", *args, "/bin/true")
    assert done.returncode == 255
    assert message in done.stderr
    assert done.stdout == ""
    assert lsf.run("bjobs", "-a").stdout == ""


@pytest.mark.parametrize("request_", ["-", "num=2", "num=1/task:gmodel=a100:mode=shared"])
def test_gpu_requests_as_bsub_documents_them_are_accepted(lsf: Bench, request_: str) -> None:
    done = lsf.run("bsub", "-gpu", request_, "/bin/true")
    assert done.returncode == 0, done.stderr


def test_directive_errors_are_refused(lsf: Bench) -> None:
    done = lsf.run("bsub", input="#!/bin/sh\n#BSUB -W 01:00:00\ntrue\n")
    assert done.returncode == 255
    assert "Bad RUNLIMIT specification" in done.stderr


def test_array_limit_follows_max_job_array_size(make_bench: Callable[..., Bench]) -> None:
    bench = make_bench("lsf", max_array_size=5)
    assert bench.run("bsub", "-J", "a[1-5]", "/bin/true").returncode == 0
    refused = bench.run("bsub", "-J", "a[6]", "/bin/true")
    assert "Job array index too large" in refused.stderr


def test_unimplemented_options_say_so(lsf: Bench) -> None:
    done = lsf.run("bsub", "-I", "/bin/true")
    assert done.returncode == 2
    assert "not implemented by reflow's fake" in done.stderr


# -- running jobs ---------------------------------------------------------------------


def test_stdin_script_with_directives_runs_in_the_submit_directory(lsf: Bench) -> None:
    script = (
        "#!/bin/sh\n#BSUB -J hello\n#BSUB -o out.%J\n"
        'echo "$PWD|$LSB_JOBID|$LSB_JOBNAME|${SECRET-unset}"\necho oops >&2\nexit 3\n'
    )
    done = lsf.run("bsub", input=script, env={"SECRET": "42"})
    job_id = re.search(r"<(\d+)>", done.stdout).group(1)  # type: ignore[union-attr]
    (record,) = ended(lsf, job_id)
    assert record == {
        "JOBID": job_id,
        "JOBINDEX": "0",
        "STAT": "EXIT",
        "EXIT_CODE": "3",
        "EXIT_REASON": "",
    }
    out = (lsf.work / f"out.{job_id}").read_text().splitlines()
    assert out == [f"{lsf.work}|{job_id}|hello|42", "oops"]


def test_array_throttle_index_and_placeholders(lsf: Bench) -> None:
    cmd = lsf.SPAN.format(sleep=0.6) + '; echo "$LSB_JOBINDEX" >&2'
    job_id = submit(lsf, "-J", "arr[1-6]%2", "-o", "span-%J-%I.txt", "-e", "idx-%I.txt", cmd)
    found = ended(lsf, job_id)
    assert [r["JOBINDEX"] for r in found] == [str(i) for i in range(1, 7)]
    assert {r["STAT"] for r in found} == {"DONE"}
    spans = lsf.spans(f"span-{job_id}-*.txt")
    assert len(spans) == 6
    assert max_overlap(spans) == 2
    for index in range(1, 7):
        assert (lsf.work / f"idx-{index}.txt").read_text() == f"{index}\n"


def test_index_lists_and_steps(lsf: Bench) -> None:
    job_id = submit(lsf, "-J", "x[1,4-8:2]", "true")
    assert [r["JOBINDEX"] for r in ended(lsf, job_id)] == ["1", "4", "6", "8"]


def test_done_waits_and_a_failure_leaves_the_dependent_pending(lsf: Bench) -> None:
    first = submit(lsf, "sleep 3; exit 1")
    waiting = submit(lsf, "-w", f"done({first})", "-o", "ok.txt", "echo ran")
    anyway = submit(lsf, "-w", f"ended({first}) && exit({first})", "-o", "any.txt", "echo ran")
    assert records(lsf, waiting)[0]["STAT"] == "PEND"
    assert ended(lsf, first)[0]["STAT"] == "EXIT"
    assert ended(lsf, anyway)[0]["STAT"] == "DONE"
    assert (lsf.work / "any.txt").read_text() == "ran\n"
    assert records(lsf, waiting)[0]["STAT"] == "PEND"
    reason = lsf.ok("bjobs", "-noheader", "-o", "pend_reason delimiter='|'", waiting)
    assert reason == "Dependency condition invalid or never satisfied"
    assert not (lsf.work / "ok.txt").exists()


def test_ti_terminates_an_orphan_at_once(lsf: Bench) -> None:
    first = submit(lsf, "exit 1")
    orphan = submit(lsf, "-w", f"done({first})", "-ti", "-o", "ok.txt", "echo ran")
    (record,) = ended(lsf, orphan)
    assert record["STAT"] == "EXIT"
    assert record["EXIT_REASON"].startswith("TERM_ORPHAN_SYSTEM")
    assert not (lsf.work / "ok.txt").exists()


def test_done_on_an_array_element(lsf: Bench) -> None:
    cmd = lsf.SPAN.format(sleep=0.3)
    array = submit(
        lsf, "-J", "a[1-2]", "-o", "a-%I.txt", f"test $LSB_JOBINDEX = 1 || sleep 5; {cmd}"
    )
    after = submit(lsf, "-w", f"done({array}[1])", "-o", "b.txt", cmd)
    ended(lsf, after)
    assert records(lsf, f"{array}[2]")[0]["STAT"] == "RUN"
    assert lsf.spans("b.txt")[0][0] >= lsf.spans("a-1.txt")[0][1]


def test_runlimit_kill_is_term_runlimit(lsf: Bench) -> None:
    job_id = submit(lsf, "-W", "0:0", "sleep 30")
    (record,) = ended(lsf, job_id)
    assert record["STAT"] == "EXIT"
    assert record["EXIT_REASON"].startswith("TERM_RUNLIMIT")


def test_bkill_running_pending_and_single_element(make_bench: Callable[..., Bench]) -> None:
    bench = make_bench("lsf", slots=3)
    running = submit(bench, "sleep 60")
    bench.wait_until(lambda: records(bench, running)[0]["STAT"] == "RUN")
    array = submit(bench, "-J", "a[1-3]", "test $LSB_JOBINDEX != 2 || sleep 60")
    bench.wait_until(lambda: records(bench, f"{array}[2]")[0]["STAT"] == "RUN")
    pending = submit(bench, "-w", f"done({running})", "true")
    assert bench.ok("bkill", running) == f"Job <{running}> is being terminated"
    assert bench.ok("bkill", f"{array}[2]") == f"Job <{array}[2]> is being terminated"
    bench.ok("bkill", pending)
    for job_id in (running, pending):
        (record,) = ended(bench, job_id)
        assert record["STAT"] == "EXIT"
        assert record["EXIT_REASON"].startswith("TERM_OWNER")
    elements = ended(bench, array)
    assert [r["STAT"] for r in elements] == ["DONE", "EXIT", "DONE"]
    again = bench.run("bkill", running, "424242")
    assert again.returncode == 255
    assert f"Job <{running}>: Job has already finished" in again.stderr
    assert "Job <424242>: No matching job found" in again.stderr


def test_slots_hold_jobs_pending(make_bench: Callable[..., Bench]) -> None:
    bench = make_bench("lsf", slots=1)
    cmd = bench.SPAN.format(sleep=0.5)
    ids = [submit(bench, "-o", f"s{n}.txt", cmd) for n in range(3)]
    assert records(bench, ids[2])[0]["STAT"] == "PEND"
    for job_id in ids:
        ended(bench, job_id)
    assert max_overlap(bench.spans("s*.txt")) == 1


# -- output formats -------------------------------------------------------------------


def test_bjobs_json_and_delimited_formats(lsf: Bench) -> None:
    job_id = submit(lsf, "-q", "normal", "exit 2")
    ended(lsf, job_id)
    done = lsf.run("bjobs", "-o", FIELDS, "-json", job_id, "424242")
    assert done.returncode == 255
    document = json.loads(done.stdout)
    assert document["RECORDS"][1] == {"JOBID": "424242", "ERROR": "Job <424242> is not found"}
    text = lsf.run("bjobs", "-noheader", "-o", f"{FIELDS} delimiter='|'", job_id)
    assert text.stdout == f"{job_id}|0|EXIT|2|-\n"
    header = lsf.ok("bjobs", "-o", "jobid stat", job_id).splitlines()
    assert header == ["JOBID STAT", f"{job_id} EXIT"]


def test_bjobs_refuses_json_with_noheader_and_unknown_fields(lsf: Bench) -> None:
    assert lsf.run("bjobs", "-o", "jobid", "-json", "-noheader").returncode == 255
    assert "Illegal field name" in lsf.run("bjobs", "-o", "jobid colour").stderr


@pytest.mark.parametrize(
    ("spec", "seen"),
    [
        (None, "42 7 unset"),
        ("all", "42 7 unset"),
        ("all, ~SECRET, X=1", "unset 7 1"),
        ("none", "unset unset unset"),
        ("OTHER,X=1", "unset 7 1"),
    ],
)
def test_env_controls_what_the_job_sees_as_bsub_documents(
    lsf: Bench, spec: str | None, seen: str
) -> None:
    env = {"SECRET": "42", "OTHER": "7"}
    args = ["-o", "env.txt", *(["-env", spec] if spec is not None else [])]
    cmd = 'echo "${SECRET-unset} ${OTHER-unset} ${X-unset}"; echo "$LSB_JOBID" >&2'
    done = lsf.run("bsub", *args, cmd, env=env)
    job_id = re.search(r"<(\d+)>", done.stdout).group(1)  # type: ignore[union-attr]
    ended(lsf, job_id)
    assert (lsf.work / "env.txt").read_text().splitlines()[0] == seen

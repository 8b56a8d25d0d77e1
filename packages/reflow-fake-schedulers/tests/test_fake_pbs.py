"""The PBS Pro fake: it refuses what qsub refuses, runs jobs, answers like qstat."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reflow.testing.executor import max_overlap

Bench = Any


@pytest.fixture
def pbs(make_bench: Callable[..., Bench]) -> Bench:
    return make_bench("pbs")


def qstat(bench: Bench, *ids: str, subjobs: bool = False) -> dict[str, Any]:
    args = ["qstat", "-f", "-F", "json", "-x", *(["-t"] if subjobs else []), *ids]
    done = bench.run(*args)
    jobs: dict[str, Any] = json.loads(done.stdout)["Jobs"]
    return jobs


def finished(bench: Bench, job_id: str) -> dict[str, Any]:
    bench.wait_until(lambda: qstat(bench, job_id)[job_id]["job_state"] == "F")
    job: dict[str, Any] = qstat(bench, job_id)[job_id]
    return job


# -- refusals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-J", "1,2,3"], "qsub: illegal -J value"),
        (["-J", "5"], "qsub: illegal -J value"),
        (["-J", "3-3"], "qsub: illegal -J value"),
        (["-J", "1-10%0"], "qsub: illegal -J value"),
        (["-J", "1-10001"], "qsub: Array job exceeds server or queue size limit"),
        (["-Z"], "qsub: invalid option -- 'Z'"),
        (["-l", "walltime=1h"], "Illegal attribute or resource value Resource_List.walltime"),
        (["-l", "select=1:ncpus=four"], "Illegal attribute or resource value"),
        (["-l", "select=1:mem=4 GB"], "Illegal attribute or resource value"),
        (["-l", "select=1:ncpus=2:ngpus=two"], "Illegal attribute or resource value"),
        (["-l", "colour=blue"], "qsub: Unknown resource Resource_List.colour"),
        (["-W", "depend=afterwards:100"], "qsub: illegal -W value"),
        (["-W", "depend=afterok:100[2]"], "qsub: illegal -W value"),
        (["-N", "has space"], "qsub: illegal -N value"),
        (["-N", ".dot"], "qsub: illegal -N value"),
        (["-j", "xy"], "qsub: illegal -j value"),
        (["-q", "nosuchqueue"], "qsub: Unknown queue nosuchqueue"),
        (["-p", "2000"], "qsub: illegal -p value"),
    ],
)
def test_qsub_refuses_what_pbs_pro_refuses(pbs: Bench, args: list[str], message: str) -> None:
    done = pbs.run("qsub", *args, "--", "/bin/true")
    assert done.returncode != 0
    assert message in done.stderr
    assert done.stdout == ""
    assert json.loads(pbs.run("qstat", "-f", "-F", "json", "-x").stdout)["Jobs"] == {}


def test_gpus_in_the_select_are_accepted(pbs: Bench) -> None:
    """reflow's gpus= on PBS Pro: ngpus in the select chunk (pbs_resources(7B))."""
    done = pbs.run("qsub", "-l", "select=1:ncpus=2:mem=1024mb:ngpus=2", "--", "/bin/true")
    assert done.returncode == 0, done.stderr


def test_missing_option_argument(pbs: Bench) -> None:
    done = pbs.run("qsub", "-l")
    assert done.returncode == 2
    assert "qsub: option requires an argument -- 'l'" in done.stderr


def test_array_size_limit_is_configurable(make_bench: Callable[..., Bench]) -> None:
    bench = make_bench("pbs", max_array_size=10)
    assert bench.run("qsub", "-J", "1-10", "--", "/bin/true").returncode == 0
    refused = bench.run("qsub", "-J", "0-10", "--", "/bin/true")
    assert "exceeds server or queue size limit" in refused.stderr


def test_directive_errors_are_refused_too(pbs: Bench) -> None:
    done = pbs.run("qsub", input="#!/bin/sh\n#PBS -J 1,2\ntrue\n")
    assert done.returncode == 2
    assert "qsub: illegal -J value" in done.stderr


def test_unimplemented_options_say_so(pbs: Bench) -> None:
    done = pbs.run("qsub", "-I", "--", "/bin/true")
    assert done.returncode == 2
    assert "not implemented by reflow's fake" in done.stderr


# -- running jobs ---------------------------------------------------------------------


def test_job_runs_in_home_with_pbs_environment_and_default_output(pbs: Bench) -> None:
    script = (
        "#!/bin/sh\n#PBS -N hello\n"
        'echo "$PWD|$PBS_JOBID|$PBS_O_WORKDIR|$PBS_JOBNAME|${SECRET-unset}"\n'
        "echo oops >&2\nexit 3\n"
    )
    job_id = pbs.ok("qsub", input=script)
    assert job_id.endswith("." + pbs.fake.store.read()["server"])
    sequence = job_id.split(".")[0]
    attrs = finished(pbs, job_id)
    assert attrs["Exit_status"] == 3
    out = (pbs.work / f"hello.o{sequence}").read_text().strip()
    assert out == f"{Path.home()}|{job_id}|{pbs.work}|hello|unset"
    assert (pbs.work / f"hello.e{sequence}").read_text() == "oops\n"


def test_v_and_big_v_export_the_environment(pbs: Bench) -> None:
    env = {"SECRET": "42", "OTHER": "7"}
    cmd = ["--", "/bin/sh", "-c", 'echo "${SECRET-unset} ${OTHER-unset} ${X-unset}"']
    a = pbs.run("qsub", "-o", "a.txt", "-V", *cmd, env=env).stdout.strip()
    b = pbs.run("qsub", "-o", "b.txt", "-v", "OTHER,X=1", *cmd, env=env).stdout.strip()
    finished(pbs, a)
    finished(pbs, b)
    assert (pbs.work / "a.txt").read_text() == "42 7 unset\n"
    assert (pbs.work / "b.txt").read_text() == "unset 7 1\n"


def test_array_throttle_limits_overlap(pbs: Bench) -> None:
    cmd = pbs.SPAN.format(sleep=0.6)
    array_id = pbs.ok(
        "qsub", "-J", "1-6%2", "-o", "span-^array_index^.txt", "-V", "--", "/bin/sh", "-c", cmd
    )
    assert array_id.endswith("]." + array_id.split(".", 1)[1]) and "[]" in array_id
    attrs = finished(pbs, array_id)
    assert attrs["Exit_status"] == 0
    assert attrs["array_indices_submitted"] == "1-6"
    spans = pbs.spans("span-*.txt")
    assert len(spans) == 6
    assert max_overlap(spans) == 2


def test_array_elements_get_pbs_array_index_and_own_output(pbs: Bench) -> None:
    array_id = pbs.ok(
        "qsub", "-J", "2-7:2", "-N", "arr", "--", "/bin/sh", "-c", "echo $PBS_ARRAY_INDEX"
    )
    finished(pbs, array_id)
    sequence = array_id.split("[")[0]
    for index in (2, 4, 6):
        assert (pbs.work / f"arr.o{sequence}.{index}").read_text() == f"{index}\n"
    subjobs = qstat(pbs, array_id, subjobs=True)
    assert sorted(k for k in subjobs if k != array_id) == [
        array_id.replace("[]", f"[{i}]") for i in (2, 4, 6)
    ]
    assert {subjobs[array_id.replace("[]", f"[{i}]")]["job_state"] for i in (2, 4, 6)} == {"X"}


def test_slots_hold_jobs_in_the_queue(make_bench: Callable[..., Bench]) -> None:
    bench = make_bench("pbs", slots=1)
    cmd = bench.SPAN.format(sleep=0.5)
    ids = [bench.ok("qsub", "-V", "-o", f"s{n}.txt", "--", "/bin/sh", "-c", cmd) for n in range(3)]
    assert qstat(bench, ids[2])[ids[2]]["job_state"] == "Q"
    for job_id in ids:
        finished(bench, job_id)
    assert max_overlap(bench.spans("s*.txt")) == 1


def test_afterok_waits_and_a_failure_deletes_the_dependent(pbs: Bench) -> None:
    first = pbs.ok("qsub", "--", "/bin/sh", "-c", "sleep 3; exit 1")
    ok = pbs.ok("qsub", "-W", f"depend=afterok:{first}", "-o", "ok.txt", "--", "/bin/echo", "ran")
    anyway = pbs.ok(
        "qsub", "-W", f"depend=afterany:{first}", "-o", "any.txt", "--", "/bin/echo", "ran"
    )
    held = qstat(pbs, ok)[ok]
    assert held["job_state"] == "H"
    assert held["Hold_Types"] == "s"
    assert finished(pbs, first)["Exit_status"] == 1
    deleted = finished(pbs, ok)
    assert deleted["substate"] == 91
    assert "Exit_status" not in deleted
    assert finished(pbs, anyway)["Exit_status"] == 0
    assert (pbs.work / "any.txt").read_text() == "ran\n"
    assert not (pbs.work / "ok.txt").exists()


def test_afterok_on_an_array_runs_after_every_subjob(pbs: Bench) -> None:
    cmd = pbs.SPAN.format(sleep=0.3)
    array_id = pbs.ok(
        "qsub", "-V", "-J", "1-3", "-o", "a-^array_index^.txt", "--", "/bin/sh", "-c", cmd
    )
    after = pbs.ok(
        "qsub", "-V", "-W", f"depend=afterok:{array_id}", "-o", "b.txt", "--", "/bin/sh", "-c", cmd
    )
    finished(pbs, after)
    last_end = max(end for _, end in pbs.spans("a-*.txt"))
    assert pbs.spans("b.txt")[0][0] >= last_end


def test_walltime_kill_reports_minus_29_and_the_pbs_line(pbs: Bench) -> None:
    job_id = pbs.ok("qsub", "-l", "walltime=00:00:01", "-N", "slow", "--", "/bin/sleep", "30")
    started = time.monotonic()
    attrs = finished(pbs, job_id)
    assert time.monotonic() - started < 10
    assert attrs["Exit_status"] == -29
    sequence = job_id.split(".")[0]
    err = (pbs.work / f"slow.e{sequence}").read_text()
    assert "=>> PBS: job killed: walltime 1 exceeded limit 1" in err


def test_qdel_kills_a_running_job_and_a_single_subjob(pbs: Bench) -> None:
    job_id = pbs.ok("qsub", "--", "/bin/sleep", "60")
    pbs.wait_until(lambda: qstat(pbs, job_id)[job_id]["job_state"] == "R")
    pid = qstat(pbs, job_id)[job_id]["session_id"]
    assert pbs.run("qdel", job_id).returncode == 0
    attrs = finished(pbs, job_id)
    assert attrs["Exit_status"] == 256 + 15
    assert attrs["substate"] == 91
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    array_id = pbs.ok(
        "qsub",
        "-J",
        "1-3",
        "--",
        "/bin/sh",
        "-c",
        'sleep "$((PBS_ARRAY_INDEX * 0 + 1))"; test $PBS_ARRAY_INDEX != 2 || sleep 60',
    )
    second = array_id.replace("[]", "[2]")
    pbs.wait_until(lambda: qstat(pbs, second)[second]["job_state"] == "R")
    assert pbs.run("qdel", second).returncode == 0
    finished(pbs, array_id)
    subjobs = qstat(pbs, array_id, subjobs=True)
    assert subjobs[array_id.replace("[]", "[1]")]["Exit_status"] == 0
    assert subjobs[second]["Exit_status"] == 256 + 15
    assert subjobs[array_id]["Exit_status"] == 2


def test_qdel_of_unknown_and_finished_jobs_fails_like_pbs(pbs: Bench) -> None:
    job_id = pbs.ok("qsub", "--", "/bin/true")
    finished(pbs, job_id)
    done = pbs.run("qdel", job_id, "99999.nowhere")
    assert done.returncode != 0
    assert f"qdel: Job has finished {job_id}" in done.stderr
    assert "qdel: Unknown Job Id 99999.nowhere" in done.stderr


# -- output formats -------------------------------------------------------------------


def test_qstat_json_shape_and_unknown_ids(pbs: Bench) -> None:
    job_id = pbs.ok("qsub", "-N", "shape", "-l", "select=1:ncpus=2:mem=1gb", "--", "/bin/true")
    finished(pbs, job_id)
    done = pbs.run("qstat", "-f", "-F", "json", "-x", job_id, "424242.nowhere")
    assert done.returncode != 0
    assert "qstat: Unknown Job Id 424242.nowhere" in done.stderr
    document = json.loads(done.stdout)
    assert {"timestamp", "pbs_version", "pbs_server", "Jobs"} <= set(document)
    attrs = document["Jobs"][job_id]
    assert attrs["Job_Name"] == "shape"
    assert attrs["Resource_List"]["select"] == "1:ncpus=2:mem=1gb"
    assert attrs["job_state"] == "F"
    assert isinstance(attrs["Exit_status"], int)


def test_finished_jobs_need_x_and_vanish_without_history(make_bench: Callable[..., Bench]) -> None:
    bench = make_bench("pbs")
    job_id = bench.ok("qsub", "--", "/bin/true")
    finished(bench, job_id)
    plain = bench.run("qstat", "-f", "-F", "json", job_id)
    assert "Job has finished, use -x or -H" in plain.stderr
    nohist = make_bench("pbs", job_history=False)
    other = nohist.ok("qsub", "--", "/bin/true")
    nohist.wait_until(lambda: "Unknown Job Id" in nohist.run("qstat", "-x", other).stderr)


def test_version_and_plain_qstat(pbs: Bench) -> None:
    assert pbs.ok("qstat", "--version").startswith("pbs_version = ")
    job_id = pbs.ok("qsub", "-N", "plain", "--", "/bin/sleep", "5")
    lines = pbs.ok("qstat").splitlines()
    assert lines[0].split()[:2] == ["Job", "id"]
    assert lines[2].split()[0] == job_id
    assert lines[2].split()[1] == "plain"
    pbs.run("qdel", job_id)
    finished(pbs, job_id)
    quiet = pbs.run("qstat")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")

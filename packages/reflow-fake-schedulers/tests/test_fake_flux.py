"""The Flux fake: it refuses what flux submit refuses, runs jobs, answers like flux jobs."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest

from reflow.testing.executor import max_overlap
from reflow_fake_schedulers import _f58

Bench = Any


@pytest.fixture
def flux(make_bench: Callable[..., Bench]) -> Bench:
    return make_bench("flux")


def submit(bench: Bench, *args: str) -> list[str]:
    out: list[str] = bench.ok("flux", "submit", *args).splitlines()
    assert out and all(line.startswith("ƒ") for line in out), out
    return out


def record(bench: Bench, job_id: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(bench.ok("flux", "jobs", "--json", job_id))
    return found


def inactive(bench: Bench, job_id: str) -> dict[str, Any]:
    bench.wait_until(lambda: record(bench, job_id)["state"] == "INACTIVE")
    return record(bench, job_id)


# -- F58 ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "text"),
    [(0, "ƒ1"), (57, "ƒz"), (1234, "ƒNH"), (3364, "ƒ211"), (4294967295, "ƒ7YXq9G"),
     (633528662, "ƒxyzzy"), (18446744073709551615, "ƒjpXCZedGfVQ")],
)  # fmt: skip
def test_f58_matches_flux_core_vectors(number: int, text: str) -> None:
    # The vectors of flux-core's src/common/libutil/test/fluid.c.
    assert _f58.encode(number, ascii_only=False) == text
    assert _f58.encode(number, ascii_only=True) == "f" + text[1:]
    assert _f58.decode(text) == number
    assert _f58.decode("f" + text[1:]) == number
    assert _f58.parse_jobid(str(number)) == number
    assert _f58.parse_jobid(hex(number)) == number


@pytest.mark.parametrize("bad", ["", "f", "1234", "f1230", "x1", "ƒl"])
def test_f58_refuses_what_flux_refuses(bad: str) -> None:
    with pytest.raises(ValueError):
        _f58.decode(bad)


# -- refusals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["-t", "01:00:00"], 1, "flux-submit: ERROR: invalid Flux standard duration"),
        (["-t", "1x"], 1, "flux-submit: ERROR: invalid Flux standard duration"),
        (["--time-limit=-5m"], 1, "flux-submit: ERROR: invalid Flux standard duration"),
        (["--time-limit=1:30"], 1, "invalid Flux standard duration"),
        (["--bogus"], 2, "flux-submit: error: unrecognized arguments: --bogus"),
        (["-n", "0"], 2, "argument -n/--ntasks: invalid positive integer: '0'"),
        (["--dependency=afterfoo:1"], 1, 'dependency scheme "afterfoo" not supported'),
        (["--dependency=afterok:ƒ2"], 1, "afterok: job ƒ2 not found"),
        (["--cc=3-1"], 1, "invalid idset"),
        (["--cc=1-2", "--bcc=1-2"], 1, "mutually exclusive"),
        (["-g", "two"], 2, "argument -g/--gpus-per-task: invalid int value: 'two'"),
    ],
)
def test_flux_submit_refuses_what_flux_refuses(
    flux: Bench, args: list[str], status: int, message: str
) -> None:
    done = flux.run("flux", "submit", *args, "true")
    assert done.returncode == status
    assert message in done.stderr
    assert done.stdout == ""
    assert json.loads(flux.ok("flux", "jobs", "-a", "--json")) == {"jobs": []}


def test_gpus_per_task_is_accepted(flux: Bench) -> None:
    """reflow's gpus= on Flux: --gpus-per-task for its one task (flux-submit(1))."""
    done = flux.run("flux", "submit", "--ntasks=1", "--gpus-per-task=2", "true")
    assert done.returncode == 0, done.stderr


def test_unimplemented_options_say_so(flux: Bench) -> None:
    done = flux.run("flux", "submit", "--watch", "true")
    assert done.returncode == 2
    assert "not implemented by reflow's fake" in done.stderr


def test_time_limit_forms(flux: Bench) -> None:
    durations = {"90s": 90.0, "2": 120.0, "1.5h": 5400.0, "2d": 172800.0, "60m": 3600.0}
    for text, seconds in durations.items():
        (job_id,) = submit(flux, "-t", text, "true")
        assert record(flux, job_id)["duration"] == seconds


# -- running jobs ---------------------------------------------------------------------


def test_job_runs_in_cwd_with_flux_environment(flux: Bench) -> None:
    (job_id,) = submit(
        flux, "--output=out.{{id}}", "--job-name=hello", "sh", "-c",
        'echo "$PWD|$FLUX_JOB_ID|${SECRET-unset}"; echo oops >&2; exit 3',
    )  # fmt: skip
    found = inactive(flux, job_id)
    assert found["result"] == "FAILED"
    assert found["returncode"] == 3
    assert found["waitstatus"] == 3 << 8
    assert found["name"] == "hello"
    assert isinstance(found["id"], int)
    assert _f58.encode(found["id"]) == job_id
    lines = (flux.work / f"out.{job_id}").read_text().splitlines()
    assert lines == [f"{flux.work}|{job_id}|unset", "oops"]


def test_ascii_ids_when_forced(flux: Bench) -> None:
    done = flux.run("flux", "submit", "true", env={"FLUX_F58_FORCE_ASCII": "1"})
    job_id = done.stdout.strip()
    assert job_id.startswith("f")
    assert inactive(flux, job_id)["result"] == "COMPLETED"


def test_cc_gives_each_copy_its_own_id_and_flux_job_cc(flux: Bench) -> None:
    ids = submit(flux, "--cc=0-2", "--output=cc{cc}.txt", "sh", "-c", 'echo "$FLUX_JOB_CC"')
    assert len(set(ids)) == 3
    for job_id in ids:
        assert inactive(flux, job_id)["result"] == "COMPLETED"
    assert [(flux.work / f"cc{i}.txt").read_text() for i in range(3)] == ["0\n", "1\n", "2\n"]
    bcc = submit(flux, "--bcc=1-2", "--output=bcc{cc}.txt", "sh", "-c", 'echo "${FLUX_JOB_CC-x}"')
    for job_id in bcc:
        inactive(flux, job_id)
    assert (flux.work / "bcc2.txt").read_text() == "x\n"


def test_slots_bound_concurrency(make_bench: Callable[..., Bench]) -> None:
    bench = make_bench("flux", slots=2)
    cmd = bench.SPAN.format(sleep=0.6)
    ids = submit(bench, "--cc=1-5", "--output=span{cc}.txt", "sh", "-c", cmd)
    for job_id in ids:
        inactive(bench, job_id)
    spans = bench.spans("span*.txt")
    assert len(spans) == 5
    assert max_overlap(spans) == 2


def test_afterok_and_a_failed_dependency_raises_an_exception(flux: Bench) -> None:
    (first,) = submit(flux, "sh", "-c", "sleep 3; exit 1")
    (ok,) = submit(flux, f"--dependency=afterok:{first}", "--output=ok.txt", "echo", "ran")
    (anyway,) = submit(flux, f"--dependency=afterany:{first}", "--output=any.txt", "echo", "ran")
    pending = record(flux, ok)
    assert pending["state"] == "DEPEND"
    assert pending["dependencies"] == [f"after-success={first}"]
    assert "priority" not in pending  # set when the job leaves DEPEND
    assert inactive(flux, first)["result"] == "FAILED"
    failed = inactive(flux, ok)
    assert failed["result"] == "FAILED"
    assert failed["exception"] == {
        "occurred": True,
        "severity": 0,
        "type": "dependency",
        "note": f"dependency after-success={first} can never be satisfied",
    }
    # flux-core: a job that failed before it started has no waitstatus and returncode 1.
    assert failed["returncode"] == 1
    assert "waitstatus" not in failed
    assert "t_run" not in failed
    assert inactive(flux, anyway)["result"] == "COMPLETED"
    assert (flux.work / "any.txt").read_text() == "ran\n"
    assert not (flux.work / "ok.txt").exists()


def test_dependency_ids_in_any_encoding(flux: Bench) -> None:
    (first,) = submit(flux, flux.SPAN.format(sleep=0.3).split()[0], "-c", "pass")
    decimal = str(_f58.decode(first))
    (after,) = submit(flux, f"--dependency=afterok:{decimal}", "true")
    assert inactive(flux, after)["result"] == "COMPLETED"


def test_time_limit_ends_timeout(flux: Bench) -> None:
    (job_id,) = submit(flux, "-t", "1s", "sleep", "30")
    found = inactive(flux, job_id)
    assert found["result"] == "TIMEOUT"
    assert found["exception"] == {
        "occurred": True,
        "severity": 0,
        "type": "timeout",
        "note": "resource allocation expired",
    }
    # The job shell's task died of SIGALRM: the shell exits 128 + 14.
    assert (found["returncode"], found["waitstatus"]) == (142, 142 << 8)
    assert found["runtime"] < 10


def test_cancel_running_and_pending(flux: Bench) -> None:
    (running,) = submit(flux, "sleep", "60")
    flux.wait_until(lambda: record(flux, running)["state"] == "RUN")
    pid_file = flux.work / "never.txt"
    (pending,) = submit(flux, f"--dependency=afterany:{running}", "touch", str(pid_file))
    assert flux.run("flux", "cancel", "-m", "enough", pending, running).returncode == 0
    for job_id in (running, pending):
        found = inactive(flux, job_id)
        assert found["result"] == "CANCELED"
        assert found["exception"]["type"] == "cancel"
        assert found["exception"]["note"] == "enough"
    before = record(flux, pending)
    assert (before["returncode"], "waitstatus" in before) == (-128, False)
    # Canceled while running: SIGTERM killed the task, the job shell exits 128 + 15.
    assert (record(flux, running)["returncode"], record(flux, running)["waitstatus"]) == (
        143,
        143 << 8,
    )
    assert not pid_file.exists()
    again = flux.run("flux", "cancel", running, "424242")
    assert again.returncode == 1
    assert "424242: unknown job id" in again.stderr


def test_returncode_of_every_ending(flux: Bench) -> None:
    """flux-jobs(1) returncode: the shell's exit code, 128+N for a task killed by signal N."""
    (done,) = submit(flux, "true")
    (failed,) = submit(flux, "sh", "-c", "exit 7")
    (killed,) = submit(flux, "sh", "-c", "kill -USR1 $$")
    (missing,) = submit(flux, "/nonexistent/command")
    expected = {
        done: ("COMPLETED", 0, 0, {"occurred": False}),
        failed: ("FAILED", 7, 7 << 8, {"occurred": False}),
        killed: ("FAILED", 128 + 10, (128 + 10) << 8, {"occurred": False}),
    }
    for job_id, (result, code, status, exception) in expected.items():
        found = inactive(flux, job_id)
        assert (found["result"], found["returncode"], found["waitstatus"]) == (
            result,
            code,
            status,
        )
        assert found["success"] is (result == "COMPLETED")
        assert found["exception"] == exception
    lost = inactive(flux, missing)
    assert (lost["result"], lost["returncode"], lost["exception"]["type"]) == (
        "FAILED",
        127,
        "exec",
    )


def test_json_object_is_flux_core_job_info(flux: Bench) -> None:
    """The keys and types of flux-core's JobInfo.to_dict(), and nothing it does not print."""
    (job_id,) = submit(flux, "-t", "5m", "--job-name=shape", "sleep", "30")
    flux.wait_until(lambda: record(flux, job_id)["state"] == "RUN")
    running = record(flux, job_id)
    assert set(running) == {
        "id", "userid", "username", "urgency", "priority", "state", "status", "name", "cwd",
        "ntasks", "ncores", "nnodes", "ranks", "nodelist", "duration", "expiration",
        "t_submit", "t_depend", "t_run", "t_remaining", "runtime", "dependencies",
        "annotations", "exception",
    }  # fmt: skip
    assert running["state"] == running["status"] == "RUN"
    assert running["exception"] == {"occurred": False}
    assert running["expiration"] == running["t_run"] + 300
    assert 0 < running["t_remaining"] <= 300
    flux.ok("flux", "cancel", job_id)
    ended = inactive(flux, job_id)
    assert set(ended) - set(running) == {
        "t_cleanup", "t_inactive", "success", "result", "returncode", "waitstatus",
    }  # fmt: skip
    assert "t_remaining" not in ended
    types = {
        "id": int, "userid": int, "urgency": int, "priority": int, "ntasks": int,
        "ncores": int, "nnodes": int, "state": str, "status": str, "result": str, "name": str,
        "username": str, "success": bool, "returncode": int, "waitstatus": int,
        "t_submit": float, "t_depend": float, "t_run": float, "t_cleanup": float,
        "t_inactive": float, "expiration": float, "duration": float, "runtime": float,
        "dependencies": list, "annotations": dict, "exception": dict,
    }  # fmt: skip
    assert {k: type(ended[k]) for k in types} == types
    assert (ended["state"], ended["status"], ended["result"]) == ("INACTIVE",) + ("CANCELED",) * 2
    assert ended["exception"] == {"occurred": True, "severity": 0, "type": "cancel", "note": ""}
    assert not any(key.startswith("exception_") for key in ended)
    (queued,) = submit(flux, f"--dependency=afterok:{job_id}", "true")
    pending = inactive(flux, queued)
    assert "t_run" not in pending and "runtime" not in pending and "nnodes" not in pending
    assert (
        pending["exception"]["note"] == f"dependency after-success={job_id} can never be satisfied"
    )


def test_dependency_on_a_job_that_never_started(flux: Bench) -> None:
    (sleeper,) = submit(flux, "sleep", "30")
    (middle,) = submit(flux, f"--dependency=afterany:{sleeper}", "true")
    (last,) = submit(flux, f"--dependency=afterok:{middle}", "true")
    flux.ok("flux", "cancel", middle)
    found = inactive(flux, last)
    assert found["exception"]["note"] == f"dependency after-success={middle} job never started"
    assert (found["result"], found["returncode"]) == ("FAILED", 1)
    assert record(flux, middle)["dependencies"] == [f"after-finish={sleeper}"]
    flux.ok("flux", "cancel", sleeper)


def test_format_fields_are_dotted(flux: Bench) -> None:
    (first,) = submit(flux, "sh", "-c", "exit 1")
    (after,) = submit(flux, f"--dependency=afterok:{first}", "true")
    inactive(flux, after)
    fmt = "{exception.occurred}|{exception.type}|{exception.note}|{returncode}|{waitstatus}"
    assert flux.ok("flux", "jobs", "-n", "-o", fmt, after) == (
        f"True|dependency|dependency after-success={first} can never be satisfied|1|"
    )
    assert flux.ok("flux", "jobs", "-n", "-o", fmt, first) == "False|||1|256"


# -- output formats -------------------------------------------------------------------


def test_jobs_format_filters_and_unknown_ids(flux: Bench) -> None:
    (job_id,) = submit(flux, "true")
    inactive(flux, job_id)
    assert flux.ok("flux", "jobs", "-n", "-o", "{id.f58}") == ""
    line = flux.ok("flux", "jobs", "-a", "-n", "-o", "{id} {id.f58} {state} {result} {returncode}")
    assert line == f"{_f58.decode(job_id)} {job_id} INACTIVE COMPLETED 0"
    assert flux.ok("flux", "jobs", "-n", "-f", "completed", "-o", "{status_abbrev}") == "CD"
    done = flux.run("flux", "jobs", "--json", job_id, "424242")
    assert done.returncode == 1
    assert [j["id"] for j in json.loads(done.stdout)["jobs"]] == [_f58.decode(job_id)]
    assert "424242" in done.stderr
    bad = flux.run("flux", "jobs", "-o", "{colour}", "-a")
    assert "Unknown format field" in bad.stderr
    assert flux.run("flux", "jobs", "notanid").returncode == 2


def test_flux_job_id_converts(flux: Bench) -> None:
    assert flux.ok("flux", "job", "id", "--to=f58", "1234") == "ƒNH"
    assert flux.ok("flux", "job", "id", "ƒNH") == "1234"
    assert os.environ.get("FLUX_F58_FORCE_ASCII") is None


@pytest.mark.parametrize(
    ("rules", "seen"),
    [
        ([], "42 7 unset"),
        (["--env=-*"], "unset unset unset"),
        (["--env=-*", "--env=OTHER", "--env=X=1"], "unset 7 1"),
        (["--env=OTHER", "--env=-*"], "unset unset unset"),  # rules apply in order
        (["--env-remove=SEC*"], "unset 7 unset"),
    ],
)
def test_env_rules_apply_in_order_as_flux_submit_documents(
    flux: Bench, rules: list[str], seen: str
) -> None:
    env = {"SECRET": "42", "OTHER": "7"}
    cmd = 'echo "${SECRET-unset} ${OTHER-unset} ${X-unset}"'
    done = flux.run("flux", "submit", "--output=env.txt", *rules, "/bin/sh", "-c", cmd, env=env)
    assert done.returncode == 0, done.stderr
    assert inactive(flux, done.stdout.strip())["result"] == "COMPLETED"
    assert (flux.work / "env.txt").read_text() == f"{seen}\n"

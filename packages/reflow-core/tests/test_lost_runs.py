"""Every run ends in a definite state: killed drivers, dying tasks, lost dispatchers.

A ``run_local`` driver killed with ``kill -9`` leaves no worker behind and its
run shows as LOST; ``reflow cancel`` closes it and a new run reuses what it
finished.  A task that ends its own process fails its instance.  A submitted
run whose dispatcher job is gone shows as LOST and ``reflow resume`` completes
it.  Commands given a run of the wrong kind say so in one line.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from reflow import RunState, TaskState
from reflow.executors.local.executor import LocalExecutor
from reflow.stores import RunOwner
from reflow.stores.sqlite import SqliteStore

PIPELINE = textwrap.dedent(
    """
    import os, time
    from typing import Annotated
    from reflow import Result, RunDir, Workflow

    wf = Workflow("lost")

    @wf.job()
    def items(n: int = 6) -> list[int]:
        return list(range(n))

    @wf.job(array=True)
    def work(i: Annotated[int, Result(step="items")], run_dir: RunDir = RunDir()) -> int:
        (run_dir / f"pid-{i}").write_text(str(os.getpid()))
        if i >= 3 and (run_dir / "hang").exists():
            time.sleep(120)
        if (run_dir / f"exit-{i}").exists():
            os._exit(0)
        return 10 * i

    @wf.job()
    def total(xs: Annotated[list[int], Result(step="work")]) -> int:
        return sum(xs)

    if __name__ == "__main__":
        raise SystemExit(wf.cli())
    """
)


def cli(*argv: str) -> tuple[int, str, str]:
    """``reflow ARGV`` in this process: exit status, stdout, stderr."""
    from reflow.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie nobody reaped yet does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


class Pipeline:
    """``python pipeline.py run`` in a subprocess, against this test's store."""

    def __init__(self, tmp_path: Path) -> None:
        self.script = tmp_path / "pipeline.py"
        self.script.write_text(PIPELINE)
        self.run_dir = tmp_path / "run"
        self.run_dir.mkdir()
        self.store_path = Path(os.environ["REFLOW_STORE_PATH"])

    def argv(self, workers: int) -> list[str]:
        return [
            sys.executable,
            str(self.script),
            "run",
            "--run-dir",
            str(self.run_dir),
            "--max-workers",
            str(workers),
        ]

    def run(self, workers: int = 1) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(workers), capture_output=True, text=True, timeout=120, check=False
        )

    def store(self) -> SqliteStore:
        store = SqliteStore(self.store_path)
        store.init()
        return store

    def start_hanging(self) -> tuple[subprocess.Popen[bytes], str, list[int]]:
        """Start a run whose elements 3.. hang: the driver, the run id and the worker pids."""
        (self.run_dir / "hang").write_text("")
        proc = subprocess.Popen(self.argv(2), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        store = self.store()
        deadline = time.monotonic() + 60
        while True:  # elements 0-2 recorded (every 5 s at most), two workers hanging
            assert proc.poll() is None, "the driver ended early"
            assert time.monotonic() < deadline, "the run never reached the hanging elements"
            runs = store.list_run_records()
            done = runs and store.task_state_summary(runs[0].run_id).get("work", {})
            hanging = [p for p in self.run_dir.glob("pid-*") if int(p.name[4:]) >= 3]
            if done and done.get("SUCCESS", 0) >= 3 and len(hanging) >= 2:
                break
            time.sleep(0.1)
        store.close()
        workers = sorted({int(p.read_text()) for p in self.run_dir.glob("pid-*")})
        assert proc.pid not in workers  # tasks run in worker processes
        return proc, runs[0].run_id, workers

    def start_and_kill(self) -> tuple[str, list[int]]:
        """Start a hanging run and kill -9 its driver; the run id and the worker pids."""
        proc, run_id, workers = self.start_hanging()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        (self.run_dir / "hang").unlink()
        return run_id, workers


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    return Pipeline(tmp_path)


def test_a_killed_driver_leaves_no_worker_and_its_run_is_lost_then_cancelled(
    pipeline: Pipeline,
) -> None:
    run_id, workers = pipeline.start_and_kill()
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in workers if alive(pid)], "a worker outlived its killed driver"

    code, out, _ = cli("runs", "--json")
    assert code == 0
    [row] = json.loads(out)
    assert (row["run_id"], row["status"]) == (run_id, "LOST")
    assert "is gone" in row["lost"]
    code, out, _ = cli("status", run_id)
    assert code == 0 and "Status    LOST" in out and f"reflow cancel {run_id}" in out

    from reflow.errors import ReflowError
    from reflow.run import Run
    from reflow.testing.scripts import load_script

    module = load_script(pipeline.run_dir.parent, "lost_pipeline", PIPELINE)
    store = pipeline.store()
    with pytest.raises(ReflowError, match=rf"Run {run_id} is LOST: its process \d+ on .* is gone"):
        Run(module.wf, run_id, pipeline.run_dir, store).wait(timeout=30)  # does not block
    store.close()

    code, out, err = cli("resume", run_id)  # the wrong kind of run: one line, status 2
    assert code == 2 and out == ""
    assert err.startswith(f"reflow: error: Run {run_id} was made by run_local, not submitted")
    assert len(err.splitlines()) == 1

    code, out, err = cli("cancel", run_id)
    assert code == 0, err
    store = pipeline.store()
    record = store.get_run_record(run_id)
    assert record is not None and record.status is RunState.CANCELLED
    summary = store.task_state_summary(run_id)
    assert summary["work"]["SUCCESS"] >= 3  # what finished stays, for the cache
    assert set(summary["work"]) <= {"SUCCESS", "CANCELLED"}
    code, out, _ = cli("runs", "--json")
    assert json.loads(out)[0]["status"] == "CANCELLED"

    again = pipeline.run(workers=2)
    assert again.returncode == 0, again.stderr
    new = store.list_run_records()[0]
    assert new.run_id != run_id and new.status is RunState.SUCCESS
    hits = [
        r.array_index
        for r in store.list_task_instance_records(new.run_id, task_name="work")
        if r.cache_info.get("status") == "hit"
    ]
    assert {0, 1, 2} <= set(hits)
    total = store.get_task_instance_record(new.run_id, "total", None)
    assert total is not None and total.output == 150
    store.close()


def test_running_the_same_command_takes_a_lost_run_over(pipeline: Pipeline) -> None:
    run_id, _ = pipeline.start_and_kill()
    script = [sys.executable, str(pipeline.script)]
    listed = subprocess.run(
        [*script, "runs", "--status", "lost"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0 and run_id in listed.stdout and " LOST " in listed.stdout
    retried = subprocess.run(
        [*script, "retry", run_id], capture_output=True, text=True, timeout=60, check=False
    )
    assert retried.returncode == 2 and len(retried.stderr.splitlines()) == 1
    assert "was made by run_local, not submitted" in retried.stderr
    again = pipeline.run()
    assert again.returncode == 0, again.stderr
    store = pipeline.store()
    old = store.get_run_record(run_id)
    assert old is not None and old.status is RunState.CANCELLED
    [closed] = store.first_task_instance_records(run_id, "work", [TaskState.CANCELLED], limit=1)
    assert closed.error_text is not None and "taken over by run" in closed.error_text
    assert store.list_run_records()[0].status is RunState.SUCCESS
    store.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_task_that_ends_its_process_fails_its_instance(pipeline: Pipeline, workers: int) -> None:
    (pipeline.run_dir / "exit-4").write_text("")
    done = pipeline.run(workers)
    assert done.returncode != 0
    reason = "the worker process exited with status 0 before returning a result"
    assert reason in done.stderr
    store = pipeline.store()
    [run] = store.list_run_records()
    assert run.status is RunState.FAILED
    dead = store.get_task_instance_record(run.run_id, "work", 4)
    assert dead is not None and dead.state is TaskState.FAILED
    assert dead.error_text == f"{reason} (while running work[4])"
    store.close()


def test_a_fully_cached_run_starts_no_worker(pipeline: Pipeline) -> None:
    assert pipeline.run().returncode == 0
    for marker in pipeline.run_dir.glob("pid-*"):
        marker.unlink()
    assert pipeline.run().returncode == 0
    assert not list(pipeline.run_dir.glob("pid-*"))  # every instance came from the cache


def test_a_local_run_is_lost_on_another_host_once_its_lease_expires(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reflow.runs.liveness import lost_reason

    monkeypatch.setenv("REFLOW_RUN_LEASE", "1")
    store.insert_run("r", "wf", "me", {}, executor="run_local")
    store.set_run_owner("r", RunOwner(host="elsewhere.invalid", pid=1, started=1))
    assert lost_reason(store, store.get_run_record("r")) is None  # heartbeat fresh
    time.sleep(1.2)
    reason = lost_reason(store, store.get_run_record("r"))
    assert reason is not None and "no heartbeat" in reason and "elsewhere.invalid" in reason
    store.heartbeat_run("r")  # the driver is alive after all
    assert lost_reason(store, store.get_run_record("r")) is None
    monkeypatch.setenv("REFLOW_RUN_LEASE", "soon")
    with pytest.raises(Exception, match="REFLOW_RUN_LEASE must be a number"):
        lost_reason(store, store.get_run_record("r"))


def test_a_reused_pid_is_not_taken_for_the_owner(store: Any) -> None:
    import socket

    from reflow.runs.liveness import lost_reason, process_start_time, this_process

    me = this_process()
    assert me.started is not None and me.started == process_start_time(os.getpid())
    store.insert_run("r", "wf", "me", {}, executor="run_local")
    store.set_run_owner("r", me)
    assert lost_reason(store, store.get_run_record("r")) is None
    other = RunOwner(host=socket.gethostname(), pid=os.getpid(), started=me.started - 1)
    store.set_run_owner("r", other)
    reason = lost_reason(store, store.get_run_record("r"))
    assert reason is not None and "the pid now names another" in reason


def test_cancel_stops_a_live_local_run_on_this_host(pipeline: Pipeline) -> None:
    proc, run_id, _ = pipeline.start_hanging()
    try:
        code, out, err = cli("cancel", run_id)
        assert (code, out) == (0, f"Run {run_id}: cancelled 3 task instance(s).\n"), err
        assert proc.wait(timeout=30) != 0  # the driver stopped, saying the run was cancelled
    finally:
        proc.kill()
        proc.wait()
    store = pipeline.store()
    record = store.get_run_record(run_id)
    assert record is not None and record.status is RunState.CANCELLED
    assert store.task_state_summary(run_id)["work"]["SUCCESS"] >= 3
    store.close()


def test_a_live_local_run_on_another_host_cannot_be_cancelled_here(
    store: Any, tmp_path: Path
) -> None:
    store.insert_run("r", "wf", "me", {}, executor="run_local")
    store.set_run_owner("r", RunOwner(host="elsewhere.invalid", pid=77, started=1))
    code, out, err = cli("cancel", "r", "--store-path", str(store.path))
    assert code == 2 and out == ""
    assert err == (
        "reflow: error: Run r is being run by process 77 on elsewhere.invalid; stop it "
        "there (Ctrl-C), or cancel it here once it shows as LOST.\n"
    )
    code, _, err = cli("cancel", "r", "--task", "t", "--store-path", str(store.path))
    assert code == 2 and "Task 't'" not in err and len(err.splitlines()) == 1


SUBMITTED = textwrap.dedent(
    """
    from typing import Annotated
    from reflow import Result, Workflow

    wf = Workflow("lost_sub")

    @wf.job()
    def items() -> list[int]:
        return [1, 2]

    @wf.job(array=True)
    def double(i: Annotated[int, Result(step="items")]) -> int:
        return 2 * i
    """
)


def test_a_submitted_run_whose_dispatcher_was_killed_is_lost_and_resume_completes_it(
    tmp_path: Path, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reflow.testing.scripts import load_script

    executor = LocalExecutor(state_dir=tmp_path / "jobs")
    module = load_script(tmp_path, "lost_sub", SUBMITTED)
    run = module.wf.submit(tmp_path / "run", store=store, executor=executor)
    record = store.get_run_record(run.run_id)
    assert record.owner == RunOwner(job_id=record.owner.job_id, executor="local")
    executor.cancel([record.owner.job_id])  # the dispatcher job is killed before it ran
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli("status", run.run_id, "--json", "--store-path", str(store.path))
    data = json.loads(out)
    assert code == 0 and data["run"]["status"] == "LOST"
    assert f"dispatcher job {record.owner.job_id} ended" in data["run"]["lost"]
    assert f"reflow resume {run.run_id}" in data["run"]["lost"]
    assert run.status(as_dict=True)["run"]["status"] == "LOST"

    code, out, err = cli("resume", run.run_id, "--store-path", str(store.path))
    assert code == 0, err
    assert run.wait(timeout=120) is RunState.SUCCESS
    assert run.output("double") == [2, 4]
    code, out, _ = cli("runs", "--json", "--store-path", str(store.path))
    assert json.loads(out)[0]["status"] == "SUCCESS"


def test_cancel_closes_a_lost_submitted_run(tmp_path: Path, store: Any) -> None:
    from reflow.testing.scripts import load_script

    executor = LocalExecutor(state_dir=tmp_path / "jobs")
    module = load_script(tmp_path, "lost_sub", SUBMITTED)
    run = module.wf.submit(tmp_path / "run", store=store, executor=executor)
    executor.cancel([store.get_run_record(run.run_id).owner.job_id])
    assert run.status(as_dict=True)["run"]["status"] == "LOST"
    code, _, err = cli("cancel", run.run_id, "--store-path", str(store.path))
    assert code == 0, err
    assert store.get_run_record(run.run_id).status is RunState.CANCELLED
    assert run.status(as_dict=True)["run"]["status"] == "CANCELLED"


def test_gc_deletes_a_lost_run_and_keeps_a_live_one(store: Any, tmp_path: Path) -> None:
    import socket

    from reflow.runs.liveness import this_process

    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid is free now
    here = socket.gethostname()
    for run_id, owner in (
        ("lost-run", RunOwner(host=here, pid=gone.pid)),
        ("live-run", this_process()),
    ):
        store.insert_run(
            run_id, "wf", "me", {"run_dir": str(tmp_path / run_id)}, executor="run_local"
        )
        store.set_run_owner(run_id, owner)
        store.insert_task_instance(run_id, "t", None, TaskState.PENDING, {})
    code, out, err = cli("gc", "--older-than", "0s", "--json", "--store-path", str(store.path))
    assert code == 0, err
    report = json.loads(out)
    assert [(e["run_id"], e["status"]) for e in report["deleted"]] == [("lost-run", "LOST")]
    assert [e["run_id"] for e in report["kept_active"]] == ["live-run"]
    assert store.get_run_record("lost-run") is None
    assert store.get_run_record("live-run") is not None


def test_a_killed_driver_not_yet_reaped_is_gone(store: Any) -> None:
    import socket

    from reflow.runs.liveness import lost_reason, process_start_time

    driver = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        owner = RunOwner(socket.gethostname(), driver.pid, process_start_time(driver.pid))
        store.insert_run("r", "wf", "me", {}, executor="run_local")
        store.set_run_owner("r", owner)
        assert lost_reason(store, store.get_run_record("r")) is None
        driver.kill()  # a zombie until reaped: its pid still exists
        deadline = time.monotonic() + 10
        while alive(driver.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Path(f"/proc/{driver.pid}").exists()
        reason = lost_reason(store, store.get_run_record("r"))
        assert reason == f"its process {driver.pid} on {socket.gethostname()} is gone"
    finally:
        driver.kill()
        driver.wait()

"""The user-guide pipeline on the real Slurm test cluster: waves, cache, faults, cancel."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from reflow import RunState, TaskState
from reflow.testing.scripts import load_script, load_template

PIPELINE = """
import os, signal, time
from typing import Annotated
from reflow import Result, RunDir, Workflow

wf = Workflow("{name}")

@wf.job(time="00:05:00", mem="200M")
def find(n: int = 50) -> list[str]:
    return [f"f{{i}}" for i in range(n)]

@wf.job(array=True, array_parallelism=4, time="00:05:00", mem="200M")
def process(path: Annotated[str, Result(step="find")], run_dir: RunDir = RunDir()) -> str:
    if (run_dir / "slow").exists():
        time.sleep(120)
    return path.upper()

@wf.job(time="00:05:00", mem="200M")
def report(xs: Annotated[list[str], Result(step="process")]) -> str:
    return ",".join(xs)

@wf.job(time="00:01:00", mem="200M", after=["report"])
def too_slow(run_dir: RunDir = RunDir()) -> str:
    marker = run_dir / "too_slow-ran"
    if (run_dir / "faults").exists() and not marker.exists():
        marker.write_text("")
        time.sleep(300)
    return "in time"

@wf.job(time="00:05:00", mem="200M", after=["report"])
def killed(run_dir: RunDir = RunDir()) -> str:
    marker = run_dir / "killed-ran"
    if (run_dir / "faults").exists() and not marker.exists():
        marker.write_text("")
        os.kill(os.getpid(), signal.SIGKILL)
    return "alive"
"""


def jobs_named(slurm: Any, prefix: str) -> dict[str, str]:
    """Job id -> name of every job squeue still knows (finished ones too: MinJobAge=600)."""
    return dict(slurm.squeue(prefix, "%i", "%j", finished=True))


def test_fan_out_of_50_with_throttle_then_fully_cached(
    tmp_path: Path, store: Any, executor: Any, slurm: Any
) -> None:
    mod = load_template(tmp_path, "guide50", PIPELINE)
    seen_throttle: list[str] = []
    stop = threading.Event()

    def watch() -> None:  # squeue shows the pending array with its %4 throttle
        while not stop.is_set():
            arrays = slurm.squeue("guide50.process", "%i")  # pending: 123_[0-49%4]
            seen_throttle.extend(job for (job,) in arrays if "%4]" in job)
            time.sleep(0.3)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        run = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=50)
        assert run.wait(timeout=600) is RunState.SUCCESS
    finally:
        stop.set()
        watcher.join()
    assert run.output("process") == [f"F{i}" for i in range(50)]
    assert run.output("report") == ",".join(f"F{i}" for i in range(50))
    assert seen_throttle, "squeue never showed the array with its %4 throttle"

    before = jobs_named(slurm, "guide50.")
    again = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=50)
    assert again.wait(timeout=300) is RunState.SUCCESS
    assert again.output("report") == run.output("report")
    new = {job: name for job, name in jobs_named(slurm, "guide50.").items() if job not in before}
    assert new and set(new.values()) == {"guide50.dispatch"}, new


def test_timeout_and_sigkill_fail_with_reasons_and_retry_runs_only_them(
    tmp_path: Path, store: Any, executor: Any
) -> None:
    mod = load_template(tmp_path, "faults", PIPELINE)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "faults").write_text("")
    run = mod.wf.submit(run_dir, store=store, executor=executor, n=3)
    assert run.wait(timeout=600) is RunState.FAILED
    slow = store.get_task_instance_record(run.run_id, "too_slow", None)
    dead = store.get_task_instance_record(run.run_id, "killed", None)
    assert slow.state is TaskState.FAILED and "TIMEOUT" in slow.error_text
    assert dead.state is TaskState.FAILED and "without writing a result" in dead.error_text
    done_jobs = {
        i: store.get_task_instance_record(run.run_id, "process", i).job_id for i in range(3)
    }
    assert run.retry() == 2
    assert run.wait(timeout=600) is RunState.SUCCESS
    assert run.output("too_slow") == "in time" and run.output("killed") == "alive"
    for i, job in done_jobs.items():
        assert store.get_task_instance_record(run.run_id, "process", i).job_id == job
    active = store.list_task_instance_records(
        run.run_id, states=[TaskState.PENDING, TaskState.SUBMITTED, TaskState.RUNNING]
    )
    assert active == []


def test_cancel_leaves_no_job_of_the_run_in_squeue(
    tmp_path: Path, store: Any, executor: Any, slurm: Any
) -> None:
    mod = load_template(tmp_path, "cancelme", PIPELINE)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "slow").write_text("")
    run = mod.wf.submit(run_dir, store=store, executor=executor, n=8)
    deadline = time.monotonic() + 120
    while not list((run_dir / ".reflow" / run.run_id).glob("started/process/*.json")):
        assert time.monotonic() < deadline, "the array never started"
        time.sleep(0.5)
    assert run.cancel() >= 1
    deadline = time.monotonic() + 60
    while True:
        mine = slurm.squeue("cancelme.", "%j")
        if not mine:
            break
        assert time.monotonic() < deadline, f"still in squeue: {mine}"
        time.sleep(0.5)
    assert store.get_run_record(run.run_id).status is RunState.CANCELLED


def test_an_invalid_partition_fails_at_once_naming_the_task(
    tmp_path: Path, store: Any, executor: Any
) -> None:
    mod = load_script(
        tmp_path,
        "badpart",
        """
        from reflow import Workflow
        wf = Workflow("badpart")

        @wf.job(time="00:05:00", mem="200M", partition="no_such_partition")
        def lost() -> int:
            return 1
        """,
    )
    started = time.monotonic()
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor)
    assert run.wait(timeout=120) is RunState.FAILED
    assert time.monotonic() - started < 60
    inst = store.get_task_instance_record(run.run_id, "lost", None)
    assert "task 'lost' could not be submitted" in inst.error_text
    assert "invalid partition" in inst.error_text.lower()
    assert os.environ.get("SLURM_CONF")

"""The user-guide pipeline on the real Grid Engine test cell: throttle, cache, faults, cancel."""

from __future__ import annotations

import json
import re
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reflow import RunState, TaskState
from reflow.runs.layout import RunLayout
from reflow.testing.executor import max_overlap
from reflow.testing.scripts import load_script, load_template

if TYPE_CHECKING:  # the fixture's type; conftest.py is not importable as a module
    from conftest import SGECell

PIPELINE = """
import os, signal, time
from typing import Annotated
from reflow import Result, RunDir, Workflow

wf = Workflow("{name}")

@wf.job(time="00:05:00", mem="200M")
def find(n: int = 20) -> list[str]:
    return [f"f{{i}}" for i in range(n)]

@wf.job(array=True, array_parallelism=2, time="00:05:00", mem="200M")
def process(path: Annotated[str, Result(step="find")], run_dir: RunDir = RunDir()) -> str:
    time.sleep(120 if (run_dir / "slow").exists() else 0.5)
    return path.upper()

@wf.job(time="00:05:00", mem="200M")
def report(xs: Annotated[list[str], Result(step="process")]) -> str:
    return ",".join(xs)

@wf.job(time="00:00:20", mem="200M", after=["report"])
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


def live_jobs(sge: SGECell) -> list[tuple[str, str, str, str]]:
    """``(job id, name, state, tasks)`` of every job and array entry in ``qstat -xml``."""
    root = ET.fromstring(sge.run("qstat", "-xml"))
    return [
        (
            e.findtext("JB_job_number") or "",
            e.findtext("JB_name") or "",
            e.findtext("state") or "",
            e.findtext("tasks") or "",
        )
        for e in root.iter("job_list")
    ]


def accounted(sge: SGECell, pattern: str) -> dict[str, str]:
    """Job id -> name of every job whose name matches ``pattern`` in ``qacct``."""
    out = sge.run("qacct", "-j", pattern, check=False)
    names = re.findall(r"^jobname\s+(\S+)\s*\njobnumber\s+(\d+)", out, re.MULTILINE)
    return {job: name for name, job in names}


def test_fan_out_of_20_with_throttle_then_gather_then_fully_cached(
    tmp_path: Path, store: Any, sge: SGECell
) -> None:
    mod = load_template(tmp_path, "guide20", PIPELINE)
    throttles: dict[str, str] = {}
    most_running = 0
    stop = threading.Event()

    def watch() -> None:  # qstat shows the array, its -tc 2, and never more than 2 tasks running
        nonlocal most_running
        while not stop.is_set():
            rows = [r for r in live_jobs(sge) if r[1] == "guide20.process"]
            running = [r for r in rows if "r" in r[2] or "t" in r[2]]
            most_running = max(most_running, len(running))
            for job_id in {r[0] for r in rows} - set(throttles):
                detail = sge.run("qstat", "-j", job_id, check=False)
                found = re.search(r"^maximum concurrency:\s+(\d+)", detail, re.MULTILINE)
                tasks = re.search(r"^job-array tasks:\s+(\S+)", detail, re.MULTILINE)
                if found and tasks:
                    throttles[job_id] = f"{tasks.group(1)} tc={found.group(1)}"
            time.sleep(0.3)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        run = mod.wf.submit(tmp_path / "run", store=store, executor="sge", n=20)
        assert run.wait(timeout=600) is RunState.SUCCESS
    finally:
        stop.set()
        watcher.join()
    assert run.output("process") == [f"F{i}" for i in range(20)]
    assert run.output("report") == ",".join(f"F{i}" for i in range(20))
    assert list(throttles.values()) == ["1-20:1 tc=2"], throttles
    assert 1 <= most_running <= 2, most_running
    spans = []
    for i in range(20):
        result = json.loads(
            RunLayout(tmp_path / "run", run.run_id).result_file("process", i).read_text()
        )
        spans.append((result["start"], result["end"]))
    assert max_overlap(spans) == 2, spans

    def ours() -> dict[str, str]:
        while any(name.startswith("guide20.") for _, name, _, _ in live_jobs(sge)):
            time.sleep(0.3)
        time.sleep(2.5)  # the accounting file is flushed every second
        return accounted(sge, "guide20.*")

    before = ours()
    again = mod.wf.submit(tmp_path / "run", store=store, executor="sge", n=20)
    assert again.wait(timeout=300) is RunState.SUCCESS
    assert again.output("report") == run.output("report")
    new = {job: name for job, name in ours().items() if job not in before}
    assert new and set(new.values()) == {"guide20.dispatch"}, new


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
    assert slow.state is TaskState.FAILED, slow
    assert slow.error_text.startswith("TIMEOUT: walltime exceeded"), slow.error_text
    assert "SIGUSR1" in slow.error_text
    assert dead.state is TaskState.FAILED, dead
    assert "exit status 137 without writing a result" in dead.error_text, dead.error_text
    assert "killed by signal 9 (SIGKILL)" in dead.error_text
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


def test_cancel_leaves_no_job_of_the_run_in_qstat(
    tmp_path: Path, store: Any, executor: Any, sge: SGECell
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
    while mine := [r for r in live_jobs(sge) if r[1].startswith("cancelme.")]:
        assert time.monotonic() < deadline, f"still in qstat: {mine}"
        time.sleep(0.5)
    assert store.get_run_record(run.run_id).status is RunState.CANCELLED


def test_an_unknown_queue_fails_at_once_naming_the_task(
    tmp_path: Path, store: Any, executor: Any
) -> None:
    mod = load_script(
        tmp_path,
        "badqueue",
        """
        from reflow import Workflow
        wf = Workflow("badqueue")

        @wf.job(time="00:05:00", mem="200M", partition="no_such_queue")
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
    assert "no_such_queue" in inst.error_text


def test_a_packed_array_is_one_task_per_pack_two_at_a_time(tmp_path: Path, sge: SGECell) -> None:
    """pack=5: the 20 elements are SGE tasks 1-4 with -tc 2; outputs and limits checked there."""
    from reflow.testing.pipeline import run_guide_pipeline

    guide = run_guide_pipeline(tmp_path, "sge", name="pack20", pack=5)
    [script] = (tmp_path / "run").rglob("pack20.process.*.sh")
    text = script.read_text()
    assert "#$ -t 1-4" in text and "#$ -tc 2" in text, text
    logs = sorted(p.name for p in (guide.run.run_dir / "logs").glob("process-*.out"))
    assert len(logs) == 4, logs

"""run_local: a task's cpus count against max_workers, and progress is recorded while it runs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

from reflow import Result, RunDir, Workflow
from reflow.stores.sqlite import SqliteStore


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    """The most intervals open at one moment."""
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def _spans(run_dir: Path, prefix: str) -> list[tuple[float, float]]:
    spans = []
    for path in sorted(run_dir.glob(f"{prefix}-*.span")):
        start, end = path.read_text().split()
        spans.append((float(start), float(end)))
    return spans


def _timed(run_dir: Path, name: str, seconds: float) -> None:
    start = time.time()
    time.sleep(seconds)
    (run_dir / f"{name}.span").write_text(f"{start} {time.time()}")


def test_a_task_of_two_cpus_takes_two_of_four_slots(tmp_path: Path, store: Any) -> None:
    wf = Workflow("slots")

    @wf.job()
    def items() -> list[int]:
        return [0, 1, 2, 3]

    @wf.job(array=True, cpus=2)
    def heavy(i: Annotated[int, Result(step="items")], run_dir: RunDir = RunDir()) -> int:
        _timed(run_dir, f"heavy-{i}", 1.0)
        return i

    run_dir = tmp_path / "run"
    wf.run_local(run_dir, store=store, max_workers=4)
    spans = _spans(run_dir, "heavy")
    assert len(spans) == 4
    assert _most_at_once(spans) == 2  # two at a time: 2 x 2 cpus fill the 4 slots


def test_a_task_asking_more_cpus_than_slots_runs_alone(tmp_path: Path, store: Any) -> None:
    wf = Workflow("alone")

    @wf.job()
    def items() -> list[int]:
        return [0, 1, 2]

    @wf.job(array=True)
    def light(i: Annotated[int, Result(step="items")], run_dir: RunDir = RunDir()) -> int:
        _timed(run_dir, f"task-light{i}", 0.6)
        return i

    @wf.job(cpus=8)
    def big(run_dir: RunDir = RunDir()) -> int:
        _timed(run_dir, "task-big-0", 0.6)
        return 8

    run_dir = tmp_path / "run"
    run = wf.run_local(run_dir, store=store, max_workers=2)
    assert run.output("big") == 8
    spans = _spans(run_dir, "task")
    assert len(spans) == 4
    big_span = _spans(run_dir, "task-big")[0]
    others = [s for s in spans if s != big_span]
    assert all(end <= big_span[0] or start >= big_span[1] for start, end in others)


def test_finished_instances_are_in_the_store_while_the_task_runs(
    tmp_path: Path, store: SqliteStore
) -> None:
    """Another reader (reflow status) sees elements finished 2 s ago, before the task ends."""
    wf = Workflow("progress")
    path = str(store.path)

    @wf.job()
    def items() -> list[int]:
        return list(range(6))

    @wf.job(array=True)
    def slow(i: Annotated[int, Result(step="items")]) -> int:
        time.sleep(1.1)
        if i < 5:
            return -1
        reader = SqliteStore(path, readonly=True)
        try:
            [run] = [r for r in reader.list_run_records() if r.graph_name == "progress"]
            return sum(
                1
                for r in reader.list_task_instance_records(run.run_id, task_name="slow")
                if r.state == "SUCCESS"
            )
        finally:
            reader.close()

    run = wf.run_local(tmp_path / "run", store=store)
    # The first batch (four elements) ends about 4.4 s in; element 5 reads the store
    # after elements 4 and 5 ran, 2.2 s later: more than the 2 s within which
    # finished instances are written (any write in between may restart that clock).
    assert run.output("slow")[5] >= 4

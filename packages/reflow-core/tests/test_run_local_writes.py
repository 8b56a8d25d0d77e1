"""How run_local writes instance rows: once for an element that ends between two writes,
and every instance in the store from the periodic write on while a long task runs."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Annotated, Any

import pytest

from reflow import Result, TaskState, Workflow
from reflow.engine.local import engine
from reflow.stores import StateUpdate
from reflow.stores.sqlite import SqliteStore


class CountingStore(SqliteStore):
    """A SQLite store that counts the rows each kind of write touches."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.inserted_pending = 0
        self.inserted_ended = 0
        self.updated = 0

    def insert_task_instances(self, run_id: str, instances: Any) -> list[int]:
        items = list(instances)
        self.inserted_pending += len(items)
        return super().insert_task_instances(run_id, items)

    def insert_ended_instances(self, run_id: str, instances: Any, ends: Any) -> list[int]:
        self.inserted_ended += len(instances)
        return super().insert_ended_instances(run_id, instances, ends)

    def apply_state_updates(self, updates: Any) -> None:
        items: list[StateUpdate] = list(updates)
        self.updated += len(items)
        super().apply_state_updates(items)


def squares() -> Workflow:
    wf = Workflow("writes")

    @wf.job()
    def items(n: int = 50) -> list[int]:
        return list(range(n))

    @wf.job(array=True)
    def square(x: Annotated[int, Result(step="items")]) -> int:
        return x * x

    @wf.job()
    def total(xs: Annotated[list[int], Result(step="square")]) -> int:
        return sum(xs)

    return wf


def test_elements_ending_between_two_writes_are_each_written_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No periodic write comes between, however slow the machine.
    monkeypatch.setattr(engine, "_RECORD_SECONDS", 600.0)
    store = CountingStore(tmp_path / "m.db")
    store.init()
    run = squares().run_local(tmp_path / "run", store=store, max_workers=2)
    assert run.output("total") == sum(x * x for x in range(50))
    assert run.output("square") == [x * x for x in range(50)]
    # 52 instances, each inserted once already ended: no PENDING row, no UPDATE.
    assert (store.inserted_ended, store.inserted_pending, store.updated) == (52, 0, 0)
    record = store.get_task_instance_record(run.run_id, "square", 7)
    assert record is not None and record.state is TaskState.SUCCESS
    assert record.cache_info["status"] == "miss" and set(record.cache_info["inputs"]) == {"x"}
    # The rows are what a cached rerun reuses.
    again = squares().run_local(tmp_path / "run", store=store)
    assert again.status(as_dict=True)["summary"]["square"] == {"SUCCESS": 50}  # type: ignore[index]
    hit = store.get_task_instance_record(again.run_id, "square", 7)
    assert hit is not None and hit.output == 49


def test_a_running_array_is_in_the_store_before_its_elements_end(tmp_path: Path) -> None:
    # Elements wait for a file this test writes only once it saw every one of
    # them in the store: the periodic write (every 2 s) inserted their rows.
    gate = tmp_path / "go"
    wf = Workflow("slow")

    @wf.job()
    def items() -> list[int]:
        return [0, 1, 2]

    @wf.job(array=True)
    def wait(x: Annotated[int, Result(step="items")]) -> int:
        deadline = time.monotonic() + 60
        while not gate.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        return x

    path = tmp_path / "m.db"
    store = CountingStore(path)
    store.init()
    seen: dict[str, Any] = {}

    def watch() -> None:
        reader = SqliteStore(path)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                runs = reader.list_run_records()
                if runs:
                    counts = reader.task_state_summary(runs[0].run_id).get("wait", {})
                    if sum(counts.values()) == 3:
                        seen.update(counts=counts, after=time.monotonic() - started)
                        break
                time.sleep(0.05)
        finally:
            reader.close()
            gate.touch()

    started = time.monotonic()
    watcher = threading.Thread(target=watch)
    watcher.start()
    run = wf.run_local(tmp_path / "run", store=store, max_workers=2)
    watcher.join()
    assert seen["counts"] == {"PENDING": 3}
    assert seen["after"] < 10
    assert run.output("wait") == [0, 1, 2]
    assert run.status(as_dict=True)["summary"]["wait"] == {"SUCCESS": 3}  # type: ignore[index]
    # Written while they waited, their ends are updates of those rows.
    assert (store.inserted_pending, store.updated) == (3, 3)

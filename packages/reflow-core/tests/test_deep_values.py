"""A value nested deeper than Python's recursion limit fails one instance, in one line.

The codec raises :class:`~reflow.manifest.NestingError` (a ``ValueError``)
instead of a ``RecursionError`` whose traceback runs to a thousand lines; a
task returning such a value fails with one line; a result file holding one
fails its own instance, and the dispatcher reads the other results of the
wave as usual.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from reflow import Workflow
from reflow._types import TaskState
from reflow.engine.scheduler.results import ResultReader
from reflow.manifest import CODEC, NestingError
from reflow.runs.layout import RunLayout
from reflow.stores import NewTaskInstance
from reflow.stores.sqlite import SqliteStore

DEPTH = 5 * sys.getrecursionlimit()
TOO_DEEP = (
    "is nested too deeply for the manifest (Python's recursion limit is "
    f"{sys.getrecursionlimit()} levels); store it flatter, e.g. as a list of rows, or write "
    "it to a file and store the file's Path."
)


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def test_encoding_a_deep_value_is_a_one_line_value_error() -> None:
    with pytest.raises(NestingError) as caught:
        CODEC.dumps({"rows": nested(DEPTH)})
    assert str(caught.value) == f"The value {TOO_DEEP}"
    assert isinstance(caught.value, ValueError)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_decoding_deep_stored_data_is_a_one_line_value_error() -> None:
    with pytest.raises(NestingError) as caught:
        CODEC.loads("[" * DEPTH + "]" * DEPTH)
    assert str(caught.value) == f"The stored data {TOO_DEEP}"


def test_values_a_little_nested_still_round_trip() -> None:
    value = nested(100)
    assert CODEC.loads(CODEC.dumps(value)) == value


def test_task_returning_a_deep_value_fails_in_one_line(tmp_path: Path) -> None:
    wf = Workflow("deepvalue")

    @wf.job()
    def deep() -> list[Any]:
        return nested(DEPTH)

    store = SqliteStore(tmp_path / "manifest.db")
    run = wf.run_local(tmp_path / "run", store=store, on_error="continue")
    (inst,) = store.list_task_instance_records(run.run_id)
    assert inst.state is TaskState.FAILED
    assert inst.error_text == (
        f"Task deep returned a value reflow cannot store (The value {TOO_DEEP}). Return "
        "JSON-like data (str, numbers, lists, dicts with str keys), Path, datetime, date, "
        "UUID, tuple, Enum or a dataclass of these."
    )
    store.close()


@pytest.mark.parametrize("where", ["output", "file"])
def test_deep_result_file_fails_its_instance_only(tmp_path: Path, where: str) -> None:
    store = SqliteStore(tmp_path / "manifest.db")
    store.insert_run("run-1", "wave", "alice", {})
    ids = store.insert_task_instances(
        "run-1", [NewTaskInstance("work", i, state=TaskState.RUNNING) for i in range(3)]
    )
    run_dir = tmp_path / "run"
    for i in range(3):
        path = RunLayout(run_dir, "run-1").result_file("work", i)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"ok": True, "output": CODEC.dumps(f"fine {i}")}))
    bad = RunLayout(run_dir, "run-1").result_file("work", 1)
    if where == "output":  # the output the worker encoded, nested too deeply
        bad.write_text(json.dumps({"ok": True, "output": "[" * DEPTH + "]" * DEPTH}))
    else:  # the result file itself
        bad.write_text('{"ok": true, "output": ' + "[" * DEPTH + "]" * DEPTH + "}")
    reader = ResultReader(store, "run-1", run_dir)
    updates = {}
    for inst in store.list_task_instance_records("run-1"):
        update, interrupted = reader.update(inst)
        assert update is not None and not interrupted
        updates[inst.id] = update
    assert [updates[i].state for i in ids] == [
        TaskState.SUCCESS,
        TaskState.FAILED,
        TaskState.SUCCESS,
    ]
    error = updates[ids[1]].error_text or ""
    assert error.startswith(f"the result file {bad} is corrupt: ")
    assert "nested too deeply" in error
    assert "\n" not in error
    store.close()


DEEP_SCRIPT = """
import sys
from typing import Annotated

from reflow import Result, Workflow

wf = Workflow("deepjob")


@wf.job()
def items() -> list[int]:
    return [0, 1, 2]


@wf.job(array=True)
def deep(i: Annotated[int, Result(step="items")]) -> list:
    value: list = [i]
    for _ in range(i * 5 * sys.getrecursionlimit()):  # element 0 stays flat
        value = [value]
    return value
"""


def test_scheduler_job_returning_a_deep_value_fails_in_one_line(tmp_path: Path) -> None:
    from reflow import RunState
    from reflow.executors.local.executor import LocalExecutor
    from reflow.testing.scripts import load_script

    name = f"deepjob_{id(tmp_path)}"
    module = load_script(tmp_path, name, DEEP_SCRIPT)
    store = SqliteStore(tmp_path / "manifest.db")
    try:
        run = module.wf.submit(
            tmp_path / "run", store=store, executor=LocalExecutor(state_dir=tmp_path / "jobs")
        )
        assert run.wait(timeout=120) is RunState.FAILED
        states = {
            inst.array_index: inst
            for inst in store.list_task_instance_records(run.run_id, task_name="deep")
        }
        assert states[0].state is TaskState.SUCCESS
        for index in (1, 2):
            assert states[index].state is TaskState.FAILED
            assert states[index].error_text == (
                f"Task deep[{index}] returned a value reflow cannot store (The value "
                f"{TOO_DEEP}). Return JSON-like data (str, numbers, lists, dicts with str "
                "keys), Path, datetime, date, UUID, tuple, Enum or a dataclass of these."
            )
    finally:
        store.close()
        sys.modules.pop(name, None)

"""The store interface itself: records, lifecycle table, errors, the ABC's helpers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from reflow._types import RunState, TaskState
from reflow.stores import (
    TRANSITIONS,
    InvalidTransitionError,
    RunRecord,
    StateUpdate,
    Store,
    StoreError,
    TaskInstanceRecord,
    TaskSpecRecord,
    UnknownRunError,
    can_transition,
)

WHEN = datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=timezone.utc)


def test_run_record_public_dict() -> None:
    record = RunRecord("r1", "g", "alice", WHEN, RunState.RUNNING, {"p": Path("/x")}, "slurm")
    public = record.to_public_dict()
    assert public == {
        "run_id": "r1",
        "graph_name": "g",
        "user_id": "alice",
        "created_at": "2024-05-01T12:30:15.250000+00:00",
        "status": "RUNNING",
        "parameters": {"p": Path("/x")},
        "executor": "slurm",
        "executor_options": {},
        "owner": None,
        "heartbeat_at": None,
    }


def test_instance_record_public_dict() -> None:
    record = TaskInstanceRecord(
        7, "r1", "t", None, TaskState.FAILED, "12", {}, None, "oom", "ab", "", "", WHEN, WHEN
    )
    public = record.to_public_dict()
    assert public["state"] == "FAILED"
    assert public["array_index"] is None
    assert public["updated_at"] == "2024-05-01T12:30:15.250000+00:00"
    assert public["cache_info"] == {}
    assert set(public) == {
        "id",
        "run_id",
        "task_name",
        "array_index",
        "state",
        "job_id",
        "input",
        "output",
        "error_text",
        "identity",
        "input_hash",
        "output_hash",
        "created_at",
        "updated_at",
        "cache_info",
    }


def test_spec_record_public_dict_copies_dependencies() -> None:
    record = TaskSpecRecord("r1", "t", True, {"cpus": 2}, ["a"])
    public = record.to_public_dict()
    public["dependencies"].append("b")
    assert record.dependencies == ["a"]


def test_every_state_has_a_rule() -> None:
    assert set(TRANSITIONS) == set(TaskState)


def test_success_is_final() -> None:
    assert TRANSITIONS[TaskState.SUCCESS] == frozenset()
    assert not can_transition(TaskState.SUCCESS, TaskState.RUNNING)


@pytest.mark.parametrize("state", list(TaskState), ids=str)
def test_retry_only_from_retriable_states(state: TaskState) -> None:
    assert can_transition(state, TaskState.RETRYING) == (state in TaskState.retriable())


def test_nothing_returns_to_pending() -> None:
    assert not any(TaskState.PENDING in targets for targets in TRANSITIONS.values())


def test_invalid_transition_message() -> None:
    error = InvalidTransitionError(12, TaskState.SUCCESS, TaskState.RUNNING)
    assert isinstance(error, ValueError)
    assert isinstance(error, StoreError)
    text = str(error)
    assert "12" in text
    assert "SUCCESS" in text
    assert "RUNNING" in text
    assert "new run" in text
    retry = str(InvalidTransitionError(3, TaskState.RUNNING, TaskState.RETRYING))
    assert "FAILED or CANCELLED" in retry


def test_unknown_run_error_reads_like_a_sentence() -> None:
    error = UnknownRunError("No run 'x' in the manifest store.")
    assert isinstance(error, KeyError)
    assert str(error) == "No run 'x' in the manifest store."


class _Recorder(Store):
    """A store whose only working method records the updates it is given."""

    def __init__(self) -> None:
        self.updates: list[StateUpdate] = []
        self.infos: list[dict[int, dict[str, Any]]] = []

    def apply_state_updates(self, updates: Iterable[StateUpdate]) -> None:
        self.updates.extend(updates)

    def set_cache_info_many(self, infos: Mapping[int, dict[str, Any]]) -> None:
        self.infos.append(dict(infos))

    def transaction(self) -> AbstractContextManager[None]:
        return nullcontext()

    def _missing(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


for _name in Store.__abstractmethods__ - {
    "apply_state_updates",
    "set_cache_info_many",
    "transaction",
}:
    setattr(_Recorder, _name, _Recorder._missing)
_Recorder.__abstractmethods__ = frozenset()


def test_single_transitions_go_through_apply_state_updates() -> None:
    store = _Recorder()  # type: ignore[abstract]  # (filled in above)
    store.update_task_running(1)
    store.update_task_success(2, {"x": 1}, "ab")
    store.update_task_failed(3, "boom")
    store.update_task_cancelled(4)
    store.mark_for_retry(5)
    store.set_cache_info(6, {"hit": True})
    assert [(u.instance_id, u.state) for u in store.updates] == [
        (1, TaskState.RUNNING),
        (2, TaskState.SUCCESS),
        (3, TaskState.FAILED),
        (4, TaskState.CANCELLED),
        (5, TaskState.RETRYING),
    ]
    assert (store.updates[1].output, store.updates[1].output_hash) == ({"x": 1}, "ab")
    assert store.updates[2].error_text == "boom"
    assert store.infos == [{6: {"hit": True}}]


def test_store_cannot_be_instantiated_without_its_methods() -> None:
    class Partial(Store):
        pass

    with pytest.raises(TypeError, match="abstract"):
        Partial()  # type: ignore[abstract]


def test_importing_the_interface_loads_no_backend() -> None:
    code = (
        "import sys, reflow.stores, reflow.testing\n"
        "heavy = {'sqlite3', 'reflow_store_sqlite', 'pytest', 'reflow.manifest', 'platformdirs'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"

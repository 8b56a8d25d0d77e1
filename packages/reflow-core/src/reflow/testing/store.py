"""Conformance suite for manifest stores.

A store package proves it honours the :class:`reflow.stores.Store` contract by
subclassing :class:`StoreConformance` in its tests::

    from reflow.testing.store import StoreConformance
    from my_store import MyStore

    class TestMyStore(StoreConformance):
        __test__ = True

        def make_store(self, tmp_path):
            return MyStore(tmp_path / "manifest")

        def open_peer(self, store, tmp_path):  # optional
            return MyStore(tmp_path / "manifest")

Each test gets a fresh, initialised store from :meth:`StoreConformance.make_store`.
The suite covers runs, task specifications, task instances, outputs and
hashes, the lifecycle rules of :data:`reflow.stores.TRANSITIONS`, batch
atomicity, transactions, cache lookups across runs, and (with
:meth:`StoreConformance.open_peer`) that one handle sees what another commits.
"""

from __future__ import annotations

import abc
import hashlib
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from reflow._types import RunState, TaskState
from reflow.manifest import CODEC
from reflow.stores import (
    ActiveRunError,
    CacheCandidate,
    DuplicateError,
    InvalidTransitionError,
    NewTaskInstance,
    NewTaskSpec,
    RunContext,
    RunOwner,
    StateUpdate,
    Store,
    UnknownInstanceError,
    UnknownRunError,
    can_transition,
)

__all__ = ["StoreConformance"]


def _own_or_default(store: Store, how: str, method: str) -> Callable[..., Any]:
    """``store``'s own ``method`` (``how="store"``), or ``Store``'s default run on it.

    A store that does not override an optional method gets the default: on
    each store, both must give the same result.
    """
    if how == "store":
        own: Callable[..., Any] = getattr(store, method)
        return own
    default = getattr(Store, method)
    return lambda *args, **kwargs: default(store, *args, **kwargs)


RUN = "run-1"


def sha(text: str) -> str:
    """Return a 64-character hex digest, standing in for a Merkle hash."""
    return hashlib.sha256(text.encode()).hexdigest()


def tick() -> None:
    """Wait until the millisecond clock has moved on, so timestamps differ."""
    start = datetime.now(tz=timezone.utc)
    while datetime.now(tz=timezone.utc) - start < timedelta(milliseconds=2):
        time.sleep(0.0005)


class StoreConformance(abc.ABC):
    """Tests every manifest store must pass.

    Subclass it in a store package's tests, set ``__test__ = True`` and
    implement :meth:`make_store`.
    """

    __test__ = False

    @abc.abstractmethod
    def make_store(self, tmp_path: Path) -> Store:
        """Return a new, empty store kept under ``tmp_path`` (not yet initialised)."""

    def open_peer(self, store: Store, tmp_path: Path) -> Store | None:
        """Return a second, independent handle on ``store``'s data, or ``None``.

        Stores shared between processes return one, so the suite can check that
        each handle sees what the other commits.
        """
        return None

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        """A fresh, initialised store holding one run, ``run-1``."""
        made = self.make_store(tmp_path)
        made.init()
        made.insert_run(RUN, "pipeline", "alice", {"n": 3})
        try:
            yield made
        finally:
            made.close()

    # -- helpers ---------------------------------------------------------------------

    @staticmethod
    def _instance(
        store: Store,
        task: str = "task",
        index: int | None = None,
        state: TaskState = TaskState.PENDING,
        *,
        run: str = RUN,
        identity: str = "",
    ) -> int:
        return store.insert_task_instance(run, task, index, state, {}, identity=identity)

    @staticmethod
    def _state(store: Store, instance_id: int) -> TaskState:
        record = store.get_task_instance_record_by_id(instance_id)
        assert record is not None, f"instance {instance_id} vanished"
        return record.state

    # -- runs ------------------------------------------------------------------------

    def test_run_round_trips(self, store: Store) -> None:
        before = datetime.now(tz=timezone.utc) - timedelta(seconds=5)
        store.insert_run(
            "run-2",
            "graph",
            "bob",
            {"path": Path("/data/in.nc"), "when": datetime(2024, 1, 2, tzinfo=timezone.utc)},
            executor="slurm",
            executor_options={"partition": "short", "nodes": (1, 2)},
        )
        record = store.get_run_record("run-2")
        assert record is not None
        assert (record.run_id, record.graph_name, record.user_id) == ("run-2", "graph", "bob")
        assert record.status is RunState.RUNNING
        assert record.parameters == {
            "path": Path("/data/in.nc"),
            "when": datetime(2024, 1, 2, tzinfo=timezone.utc),
        }
        assert record.executor == "slurm"
        assert record.executor_options == {"partition": "short", "nodes": (1, 2)}
        assert record.created_at.utcoffset() == timedelta(0)
        assert before <= record.created_at <= datetime.now(tz=timezone.utc) + timedelta(seconds=5)

    def test_run_context_round_trips(self, store: Store) -> None:
        context = RunContext(
            run_id="run-2",
            run_dir=Path("/work/project/run"),
            workflow="graph",
            script=Path("/work/project/flow.py"),
            argv=("flow.py", "submit", "--n", "3"),
            executor="slurm",
            executor_options={"partition": "short"},
            store_url="sqlite:///work/project/manifest.db",
            force=True,
            force_tasks=frozenset({"convert", "prepare"}),
            verify=True,
        )
        store.insert_run(
            "run-2",
            "graph",
            "bob",
            {"n": 3},
            executor="slurm",
            executor_options={"partition": "short"},
            context=context,
        )
        record = store.get_run_record("run-2")
        assert record is not None
        assert record.context == context
        assert record.parameters == {"n": 3}  # the context is not among the parameters
        (listed,) = [r for r in store.list_run_records() if r.run_id == "run-2"]
        assert listed.context == context

    def test_run_context_of_a_local_run_round_trips(self, store: Store) -> None:
        context = RunContext(run_id="run-2", run_dir=Path("/work/run"), workflow="graph")
        store.insert_run("run-2", "graph", "bob", {}, context=context)
        record = store.get_run_record("run-2")
        assert record is not None and record.context is not None
        assert (record.context.run_dir, record.context.script) == (Path("/work/run"), None)
        assert (record.context.argv, record.context.force_tasks) == ((), frozenset())
        assert not record.context.force and not record.context.verify

    def test_a_run_recorded_without_context_has_none(self, store: Store) -> None:
        record = store.get_run_record(RUN)
        assert record is not None
        assert record.context is None

    def test_run_defaults_for_executor_fields(self, store: Store) -> None:
        record = store.get_run_record(RUN)
        assert record is not None
        assert record.executor == ""
        assert record.executor_options == {}

    def test_run_public_dict(self, store: Store) -> None:
        public = store.get_run(RUN)
        assert public is not None
        assert public["run_id"] == RUN
        assert public["status"] == "RUNNING"
        assert public["parameters"] == {"n": 3}
        assert datetime.fromisoformat(public["created_at"]).utcoffset() == timedelta(0)

    def test_empty_parameters_round_trip(self, store: Store) -> None:
        store.insert_run("run-2", "graph", "bob", {})
        assert store.get_run_parameters("run-2") == {}

    def test_unknown_run(self, store: Store) -> None:
        assert store.get_run("nope") is None
        assert store.get_run_record("nope") is None
        with pytest.raises(UnknownRunError):
            store.get_run_parameters("nope")
        with pytest.raises(KeyError):
            store.get_run_parameters("nope")

    def test_duplicate_run_is_refused(self, store: Store) -> None:
        with pytest.raises(DuplicateError):
            store.insert_run(RUN, "other", "bob", {})
        record = store.get_run_record(RUN)
        assert record is not None
        assert record.graph_name == "pipeline"

    def test_update_run_status(self, store: Store) -> None:
        store.update_run_status(RUN, RunState.SUCCESS)
        record = store.get_run_record(RUN)
        assert record is not None
        assert record.status is RunState.SUCCESS
        with pytest.raises(UnknownRunError):
            store.update_run_status("nope", RunState.FAILED)

    def test_a_new_run_has_no_owner(self, store: Store) -> None:
        record = store.get_run_record(RUN)
        assert record is not None
        assert (record.owner, record.heartbeat_at) == (None, None)
        assert store.get_run(RUN)["owner"] is None  # type: ignore[index]

    def test_run_owner_round_trips_and_stamps_the_heartbeat(self, store: Store) -> None:
        local = RunOwner(host="node1", pid=4242, started=987654321)
        before = datetime.now(tz=timezone.utc) - timedelta(seconds=1)
        store.set_run_owner(RUN, local)
        record = store.get_run_record(RUN)
        assert record is not None
        assert record.owner == local
        assert record.heartbeat_at is not None and record.heartbeat_at >= before
        job = RunOwner(job_id="1234.0", executor="slurm")
        store.set_run_owner(RUN, job)  # the next dispatcher replaces the previous owner
        assert [r.owner for r in store.list_run_records()] == [job]
        assert store.get_run(RUN)["owner"] == {"job_id": "1234.0", "executor": "slurm"}  # type: ignore[index]
        with pytest.raises(UnknownRunError):
            store.set_run_owner("nope", local)

    def test_heartbeat_moves_forward(self, store: Store) -> None:
        store.set_run_owner(RUN, RunOwner(host="h", pid=1))
        first = store.get_run_record(RUN)
        tick()
        store.heartbeat_run(RUN)
        second = store.get_run_record(RUN)
        assert first is not None and second is not None
        assert first.heartbeat_at is not None and second.heartbeat_at is not None
        assert second.heartbeat_at > first.heartbeat_at
        assert second.owner == first.owner
        with pytest.raises(UnknownRunError):
            store.heartbeat_run("nope")

    def test_list_runs_newest_first_and_filtered(self, store: Store) -> None:
        tick()
        store.insert_run("run-2", "pipeline", "bob", {})
        tick()
        store.insert_run("run-3", "other", "alice", {})
        assert [r["run_id"] for r in store.list_runs()] == ["run-3", "run-2", RUN]
        assert [r.run_id for r in store.list_run_records(graph_name="pipeline")] == [
            "run-2",
            RUN,
        ]
        assert [r.run_id for r in store.list_run_records(user_id="alice")] == ["run-3", RUN]
        assert [r.run_id for r in store.list_run_records("pipeline", "alice")] == [RUN]
        assert store.list_runs(graph_name="missing") == []

    # -- task specifications ---------------------------------------------------------

    def test_task_spec_round_trips(self, store: Store) -> None:
        config = {"cpus": 4, "time": "01:00:00", "after": ["a"], "submit_options": {}}
        store.insert_task_spec(RUN, "convert", True, config, ["prepare", "fetch"])
        store.insert_task_spec(RUN, "prepare", False, {}, [])
        spec = store.get_task_spec_record(RUN, "convert")
        assert spec is not None
        assert spec.is_array is True
        assert spec.config == config
        assert spec.dependencies == ["fetch", "prepare"]
        assert store.list_task_dependencies(RUN, "convert") == ["fetch", "prepare"]
        assert store.list_task_dependencies(RUN, "prepare") == []
        assert [s.task_name for s in store.list_task_spec_records(RUN)] == ["convert", "prepare"]
        prepare = store.get_task_spec_record(RUN, "prepare")
        assert prepare is not None
        assert (prepare.is_array, prepare.config, prepare.dependencies) == (False, {}, [])
        assert store.get_task_spec_record(RUN, "missing") is None

    def test_task_spec_insert_again_replaces(self, store: Store) -> None:
        store.insert_task_spec(RUN, "convert", True, {"cpus": 1}, ["a", "b"])
        store.insert_task_spec(RUN, "convert", False, {"cpus": 2}, ["c"])
        spec = store.get_task_spec_record(RUN, "convert")
        assert spec is not None
        assert (spec.is_array, spec.config, spec.dependencies) == (False, {"cpus": 2}, ["c"])

    def test_task_specs_are_per_run(self, store: Store) -> None:
        store.insert_run("run-2", "pipeline", "alice", {})
        store.insert_task_spec(RUN, "convert", True, {}, ["a"])
        store.insert_task_spec("run-2", "convert", False, {}, ["b"])
        assert store.list_task_dependencies(RUN, "convert") == ["a"]
        assert store.list_task_dependencies("run-2", "convert") == ["b"]

    def test_task_spec_unknown_run(self, store: Store) -> None:
        with pytest.raises(UnknownRunError):
            store.insert_task_spec("nope", "convert", False, {}, [])

    @pytest.mark.parametrize("how", ["store", "default"])
    def test_active_runs_of_a_workflow_and_user(self, store: Store, how: str) -> None:
        active = _own_or_default(store, how, "list_active_run_records")
        for run_id, state in [("r1", RunState.RUNNING), ("r2", RunState.SUCCESS)]:
            tick()
            store.insert_run(run_id, "pipeline", "alice", {"k": [1, {"n": 2}]})
            store.update_run_status(run_id, state)
        tick()
        store.insert_run("r3", "pipeline", "alice", {})  # RUNNING, the newest
        store.insert_run("r4", "pipeline", "bob", {})
        store.insert_run("r5", "other", "alice", {})
        store.update_run_status(RUN, RunState.FAILED)
        for run_id, state in [("r6", RunState.PENDING), ("r7", RunState.CANCELLED)]:
            store.insert_run(run_id, "pipeline", "alice", {})
            store.update_run_status(run_id, state)
        got = active("pipeline", "alice")
        assert sorted(r.run_id for r in got) == ["r1", "r3", "r6"]
        wanted = [
            r
            for r in store.list_run_records("pipeline", "alice")
            if r.run_id in {"r1", "r3", "r6"}
        ]
        assert got == wanted  # the same records, newest first
        assert active("missing", "alice") == []

    @pytest.mark.parametrize("how", ["store", "default"])
    def test_task_specs_in_bulk(self, store: Store, how: str) -> None:
        # "default" runs Store's own implementation (one insert_task_spec each):
        # a store's bulk version must read back the same.
        insert = _own_or_default(store, how, "insert_task_specs")
        store.insert_task_spec(RUN, "convert", False, {"cpus": 9}, ["old"])
        insert(
            RUN,
            [
                NewTaskSpec("prepare", False, {}, []),
                NewTaskSpec("convert", True, {"cpus": 4, "after": ["a"]}, ["prepare", "fetch"]),
                NewTaskSpec("fetch", False, {"n": [1, 2]}, ("prepare", "prepare")),
            ],
        )
        insert(RUN, [])
        specs = {s.task_name: s for s in store.list_task_spec_records(RUN)}
        assert sorted(specs) == ["convert", "fetch", "prepare"]
        got = {n: (s.is_array, s.config, s.dependencies) for n, s in specs.items()}
        assert got == {
            "convert": (True, {"cpus": 4, "after": ["a"]}, ["fetch", "prepare"]),
            "fetch": (False, {"n": [1, 2]}, ["prepare"]),
            "prepare": (False, {}, []),
        }
        assert store.list_task_dependencies(RUN, "convert") == ["fetch", "prepare"]
        with pytest.raises(UnknownRunError):
            insert("nope", [NewTaskSpec("convert", False, {}, [])])

    # -- task instances --------------------------------------------------------------

    def test_instance_round_trips(self, store: Store) -> None:
        payload = {"item": Path("/data/a.nc"), "pair": (1, "x"), "nested": {"k": [1, 2]}}
        instance_id = store.insert_task_instance(
            RUN, "convert", 7, TaskState.PENDING, payload, identity=sha("i"), input_hash=sha("h")
        )
        record = store.get_task_instance_record(RUN, "convert", 7)
        assert record is not None
        assert record.id == instance_id
        assert (record.run_id, record.task_name, record.array_index) == (RUN, "convert", 7)
        assert record.state is TaskState.PENDING
        assert record.input == payload
        assert (record.identity, record.input_hash, record.output_hash) == (sha("i"), sha("h"), "")
        assert (record.job_id, record.output, record.error_text) == (None, None, None)
        assert record.cache_info == {}
        assert record.created_at.utcoffset() == timedelta(0)
        assert record.updated_at == record.created_at
        assert store.get_task_instance_record_by_id(instance_id) == record

    def test_idle_between_writes_keeps_every_row(self, store: Store) -> None:
        store.idle()  # nothing written yet: nothing to do, and no error
        ids = store.insert_task_instances(
            RUN, [NewTaskInstance("arr", i, TaskState.SUCCESS, {"i": i}) for i in range(500)]
        )
        store.idle()
        with store.transaction():  # inside a transaction: nothing it could not undo
            store.insert_task_instance(RUN, "arr", 500, TaskState.PENDING, {})
            store.idle()
        store.idle()
        assert store.count_task_instances(RUN, "arr") == 501
        record = store.get_task_instance_record_by_id(ids[-1])
        assert record is not None and record.input == {"i": 499}

    def test_instance_public_dict(self, store: Store) -> None:
        instance_id = self._instance(store, "convert", 0)
        public = store.get_task_instance(RUN, "convert", 0)
        assert public is not None
        assert public["id"] == instance_id
        assert public["state"] == "PENDING"
        assert public["array_index"] == 0
        assert public["input"] == {}
        for key in ("created_at", "updated_at"):
            assert datetime.fromisoformat(public[key]).utcoffset() == timedelta(0)
        assert {"job_id", "output", "error_text", "identity", "output_hash", "cache_info"} <= set(
            public
        )

    def test_singleton_and_array_instances_are_distinct(self, store: Store) -> None:
        single = self._instance(store, "task", None)
        first = self._instance(store, "task", 0)
        assert single != first
        singleton = store.get_task_instance_record(RUN, "task", None)
        assert singleton is not None
        assert singleton.id == single
        assert singleton.array_index is None
        assert store.get_task_instance(RUN, "task", 1) is None
        assert store.get_task_instance(RUN, "other", None) is None

    def test_duplicate_singleton_is_refused(self, store: Store) -> None:
        self._instance(store, "task", None)
        with pytest.raises(DuplicateError):
            self._instance(store, "task", None)
        assert store.count_task_instances(RUN, "task") == 1

    def test_duplicate_array_index_is_refused(self, store: Store) -> None:
        self._instance(store, "task", 3)
        with pytest.raises(DuplicateError):
            self._instance(store, "task", 3)
        assert store.count_task_instances(RUN, "task") == 1

    def test_same_key_in_other_run_is_allowed(self, store: Store) -> None:
        store.insert_run("run-2", "pipeline", "alice", {})
        a = self._instance(store, "task", 0)
        b = self._instance(store, "task", 0, run="run-2")
        assert a != b

    def test_batch_insert_returns_ids_in_order(self, store: Store) -> None:
        items = [
            NewTaskInstance("b", 1, identity=sha("b1")),
            NewTaskInstance("a", None, input={"x": 1}),
            NewTaskInstance("b", 0, TaskState.SKIPPED),
            NewTaskInstance("c", 5, input_hash=sha("c5")),
        ]
        ids = store.insert_task_instances(RUN, items)
        assert len(set(ids)) == len(items)
        for instance_id, item in zip(ids, items, strict=True):
            record = store.get_task_instance_record_by_id(instance_id)
            assert record is not None
            assert (record.task_name, record.array_index, record.state) == (
                item.task_name,
                item.array_index,
                item.state,
            )
            assert (record.input, record.identity, record.input_hash) == (
                item.input,
                item.identity,
                item.input_hash,
            )
        assert store.insert_task_instances(RUN, []) == []

    def test_batch_insert_with_duplicate_inserts_nothing(self, store: Store) -> None:
        self._instance(store, "task", 2)
        with pytest.raises(DuplicateError):
            store.insert_task_instances(RUN, [NewTaskInstance("task", i) for i in range(5)])
        assert store.count_task_instances(RUN, "task") == 1
        with pytest.raises(DuplicateError):
            store.insert_task_instances(
                RUN, [NewTaskInstance("fresh", 0), NewTaskInstance("fresh", 0)]
            )
        assert store.count_task_instances(RUN, "fresh") == 0

    def test_instance_unknown_run(self, store: Store) -> None:
        with pytest.raises(UnknownRunError):
            self._instance(store, run="nope")

    def test_negative_array_index_is_refused(self, store: Store) -> None:
        with pytest.raises(ValueError, match="negative"):
            self._instance(store, "task", -1)

    @pytest.mark.parametrize(
        "value",
        [sha("x"), "abc", "ABCD", "sha256:00ff", "00", "0" * 128, "not hex at all"],
    )
    def test_hashes_round_trip_exactly(self, store: Store, value: str) -> None:
        instance_id = store.insert_task_instance(
            RUN, "task", 0, TaskState.PENDING, {}, identity=value, input_hash=value
        )
        store.update_task_success(instance_id, "out", output_hash=value)
        record = store.get_task_instance_record_by_id(instance_id)
        assert record is not None
        assert (record.identity, record.input_hash, record.output_hash) == (value, value, value)
        found = store.find_cached_record("task", value)
        assert found is not None
        assert found.id == instance_id

    def test_list_instances_sorted_and_filtered(self, store: Store) -> None:
        store.insert_task_instances(
            RUN,
            [
                NewTaskInstance("b", 1),
                NewTaskInstance("b", 0, TaskState.FAILED),
                NewTaskInstance("a", None, TaskState.SUCCESS),
                NewTaskInstance("b", 10),
            ],
        )
        store.insert_run("run-2", "pipeline", "alice", {})
        self._instance(store, "a", 0, run="run-2")
        listed = [(r.task_name, r.array_index) for r in store.list_task_instance_records(RUN)]
        assert listed == [("a", None), ("b", 0), ("b", 1), ("b", 10)]
        only_b = store.list_task_instances(RUN, task_name="b")
        assert [r["array_index"] for r in only_b] == [0, 1, 10]
        pending_b = store.list_task_instance_records(RUN, "b", [TaskState.PENDING])
        assert [r.array_index for r in pending_b] == [1, 10]
        done = store.list_task_instance_records(RUN, states=[TaskState.SUCCESS, TaskState.FAILED])
        assert [(r.task_name, r.array_index) for r in done] == [("a", None), ("b", 0)]
        assert store.list_task_instance_records(RUN, states=[]) == []
        assert store.list_task_instance_records("nope") == []

    def test_count_and_summary(self, store: Store) -> None:
        store.insert_task_instances(
            RUN,
            [NewTaskInstance("a", i, TaskState.SUCCESS) for i in range(3)]
            + [NewTaskInstance("a", 3, TaskState.FAILED), NewTaskInstance("b", None)],
        )
        assert store.count_task_instances(RUN, "a") == 4
        assert store.count_task_instances(RUN, "b") == 1
        assert store.count_task_instances(RUN, "missing") == 0
        assert store.task_state_summary(RUN) == {
            "a": {"SUCCESS": 3, "FAILED": 1},
            "b": {"PENDING": 1},
        }
        assert store.task_state_summary("nope") == {}

    def test_first_instances_stop_at_the_limit(self, store: Store) -> None:
        store.insert_task_instances(
            RUN,
            [NewTaskInstance("b", i, TaskState.FAILED) for i in range(5)]
            + [NewTaskInstance("a", None, TaskState.FAILED), NewTaskInstance("c", None)],
        )
        failed = store.first_task_instance_records(RUN, states=[TaskState.FAILED], limit=3)
        assert [(r.task_name, r.array_index) for r in failed] == [("a", None), ("b", 0), ("b", 1)]
        only_b = store.first_task_instance_records(RUN, "b", limit=10)
        assert [r.array_index for r in only_b] == [0, 1, 2, 3, 4]
        assert store.first_task_instance_records(RUN, limit=0) == []

    # -- deleting runs ---------------------------------------------------------------

    def test_delete_run_removes_everything_of_that_run_only(self, store: Store) -> None:
        store.insert_task_spec(RUN, "convert", True, {"cpus": 2}, ["prepare"])
        store.insert_task_instances(
            RUN, [NewTaskInstance("convert", i, TaskState.SUCCESS) for i in range(3)]
        )
        store.insert_run("run-2", "pipeline", "alice", {})
        store.insert_task_spec("run-2", "convert", True, {"cpus": 2}, ["prepare"])
        kept = self._instance(store, "convert", 0, run="run-2", identity=sha("x"))
        store.update_task_success(kept, "out", sha("o"))
        store.update_run_status(RUN, RunState.SUCCESS)
        assert store.delete_run(RUN) == 3
        assert store.get_run_record(RUN) is None
        assert store.list_task_instance_records(RUN) == []
        assert store.list_task_spec_records(RUN) == []
        assert store.task_state_summary(RUN) == {}
        assert [r.run_id for r in store.list_run_records()] == ["run-2"]
        assert store.get_task_spec_record("run-2", "convert") is not None
        found = store.find_cached_record("convert", sha("x"))
        assert found is not None and found.id == kept
        with pytest.raises(UnknownRunError):
            store.delete_run(RUN)
        store.compact()
        assert store.get_task_instance_record("run-2", "convert", 0) is not None

    @pytest.mark.parametrize("status", [RunState.RUNNING, RunState.PENDING], ids=str)
    def test_delete_run_refuses_an_active_run(self, store: Store, status: RunState) -> None:
        self._instance(store, "task", None, TaskState.RUNNING)
        store.update_run_status(RUN, status)
        with pytest.raises(ActiveRunError, match="cancel"):
            store.delete_run(RUN)
        assert store.get_run_record(RUN) is not None
        assert store.count_task_instances(RUN, "task") == 1

    # -- lifecycle -------------------------------------------------------------------

    @pytest.mark.parametrize("current", list(TaskState), ids=str)
    @pytest.mark.parametrize("requested", list(TaskState), ids=str)
    def test_transition_rules(
        self, store: Store, current: TaskState, requested: TaskState
    ) -> None:
        instance_id = self._instance(store, "task", 0, current)
        before = store.get_task_instance_record_by_id(instance_id)
        update = StateUpdate(instance_id, requested, job_id="42", output=1, error_text="why")
        if can_transition(current, requested):
            store.apply_state_updates([update])
            assert self._state(store, instance_id) is requested
        else:
            with pytest.raises(InvalidTransitionError) as caught:
                store.apply_state_updates([update])
            assert caught.value.current is current
            assert caught.value.requested is requested
            assert store.get_task_instance_record_by_id(instance_id) == before

    def test_success_never_goes_back_to_running(self, store: Store) -> None:
        instance_id = self._instance(store)
        store.update_task_running(instance_id)
        store.update_task_success(instance_id, {"result": 1}, output_hash=sha("out"))
        with pytest.raises(InvalidTransitionError, match="SUCCESS"):
            store.update_task_running(instance_id)
        for state in (TaskState.SUBMITTED, TaskState.FAILED, TaskState.PENDING):
            with pytest.raises(InvalidTransitionError):
                store.apply_state_updates([StateUpdate(instance_id, state)])
        record = store.get_task_instance_record_by_id(instance_id)
        assert record is not None
        assert record.state is TaskState.SUCCESS
        assert (record.output, record.output_hash) == ({"result": 1}, sha("out"))

    def test_success_is_not_overwritten_by_a_second_success(self, store: Store) -> None:
        instance_id = self._instance(store)
        store.update_task_success(instance_id, "first", output_hash=sha("first"))
        with pytest.raises(InvalidTransitionError):
            store.update_task_success(instance_id, "second", output_hash=sha("second"))
        record = store.get_task_instance_record_by_id(instance_id)
        assert record is not None
        assert (record.output, record.output_hash) == ("first", sha("first"))

    @pytest.mark.parametrize("state", sorted(TaskState.retriable()), ids=str)
    def test_retry_from_retriable_state(self, store: Store, state: TaskState) -> None:
        instance_id = self._instance(store, "task", 0, TaskState.SUBMITTED)
        store.apply_state_updates([StateUpdate(instance_id, state, error_text="boom")])
        store.mark_for_retry(instance_id)
        record = store.get_task_instance_record_by_id(instance_id)
        assert record is not None
        assert record.state is TaskState.RETRYING
        assert (record.job_id, record.output, record.output_hash) == (None, None, "")

    @pytest.mark.parametrize("state", sorted(set(TaskState) - TaskState.retriable()), ids=str)
    def test_retry_refused_from_other_states(self, store: Store, state: TaskState) -> None:
        instance_id = self._instance(store, "task", 0, state)
        with pytest.raises(InvalidTransitionError, match="retried"):
            store.mark_for_retry(instance_id)
        assert self._state(store, instance_id) is state

    def test_every_transition_stamps_updated_at(self, store: Store) -> None:
        instance_id = self._instance(store)
        created = store.get_task_instance_record_by_id(instance_id)
        assert created is not None
        stamps = [created.updated_at]
        steps: list[Callable[[], object]] = [
            lambda: store.update_task_submitted(RUN, "task", "100"),
            lambda: store.update_task_running(instance_id),
            lambda: store.update_task_failed(instance_id, "oom"),
            lambda: store.mark_for_retry(instance_id),
            lambda: store.apply_state_updates([StateUpdate(instance_id, TaskState.SUBMITTED)]),
            lambda: store.update_task_cancelled(instance_id),
            lambda: store.mark_for_retry(instance_id),
            lambda: store.update_task_success(instance_id, 1),
        ]
        for step in steps:
            tick()
            step()
            record = store.get_task_instance_record_by_id(instance_id)
            assert record is not None
            assert record.updated_at > stamps[-1]
            assert record.created_at == created.created_at
            stamps.append(record.updated_at)

    def test_transition_fields(self, store: Store) -> None:
        instance_id = self._instance(store)
        store.apply_state_updates([StateUpdate(instance_id, TaskState.SUBMITTED, job_id="7")])
        store.update_task_running(instance_id)
        record = store.get_task_instance_record_by_id(instance_id)
        assert record is not None
        assert (record.state, record.job_id) == (TaskState.RUNNING, "7")
        store.update_task_failed(instance_id, "exit code 3")
        record = store.get_task_instance_record_by_id(instance_id)
        assert record is not None
        assert (record.state, record.error_text, record.job_id) == (
            TaskState.FAILED,
            "exit code 3",
            "7",
        )
        store.mark_for_retry(instance_id)
        store.update_task_success(instance_id, [1, 2], output_hash=sha("o"))
        record = store.get_task_instance_record_by_id(instance_id)
        assert record is not None
        assert (record.output, record.output_hash, record.error_text) == ([1, 2], sha("o"), None)

    @pytest.mark.parametrize("output", [None, 0, "", [], {}, {"p": Path("/x")}, (1, 2)])
    def test_outputs_round_trip(self, store: Store, output: Any) -> None:
        instance_id = self._instance(store)
        store.update_task_success(instance_id, output)
        record = store.get_task_instance_record_by_id(instance_id)
        assert record is not None
        assert record.output == output
        assert type(record.output) is type(output)

    def test_unknown_instance(self, store: Store) -> None:
        with pytest.raises(UnknownInstanceError):
            store.update_task_running(987654)
        with pytest.raises(UnknownInstanceError):
            store.set_cache_info(987654, {"hit": False})
        assert store.get_task_instance_record_by_id(987654) is None

    def test_batch_updates_are_all_or_nothing(self, store: Store) -> None:
        a, b = self._instance(store, "task", 0), self._instance(store, "task", 1)
        done = self._instance(store, "task", 2, TaskState.SUCCESS)
        updates = [
            StateUpdate(a, TaskState.RUNNING),
            StateUpdate(done, TaskState.RUNNING),
            StateUpdate(b, TaskState.RUNNING),
        ]
        with pytest.raises(InvalidTransitionError) as caught:
            store.apply_state_updates(updates)
        assert caught.value.instance_id == done
        assert [self._state(store, i) for i in (a, b, done)] == [
            TaskState.PENDING,
            TaskState.PENDING,
            TaskState.SUCCESS,
        ]
        with pytest.raises(UnknownInstanceError):
            store.apply_state_updates(
                [StateUpdate(a, TaskState.RUNNING), StateUpdate(-5, TaskState.RUNNING)]
            )
        assert self._state(store, a) is TaskState.PENDING

    def test_batch_updates_apply_in_order(self, store: Store) -> None:
        a, b = self._instance(store, "task", 0), self._instance(store, "task", 1)
        store.apply_state_updates(
            [
                StateUpdate(a, TaskState.SUBMITTED, job_id="1"),
                StateUpdate(b, TaskState.SUBMITTED, job_id="1"),
                StateUpdate(a, TaskState.RUNNING),
                StateUpdate(a, TaskState.SUCCESS, output="A"),
                StateUpdate(b, TaskState.FAILED, error_text="boom"),
                StateUpdate(b, TaskState.RETRYING),
            ]
        )
        assert self._state(store, a) is TaskState.SUCCESS
        assert self._state(store, b) is TaskState.RETRYING
        store.apply_state_updates([])

    def test_update_task_submitted(self, store: Store) -> None:
        waiting = self._instance(store, "task", 0)
        failed = self._instance(store, "task", 1, TaskState.FAILED)
        store.mark_for_retry(failed)
        running = self._instance(store, "task", 2, TaskState.RUNNING)
        other = self._instance(store, "other", None)
        assert store.update_task_submitted(RUN, "task", "555") == 2
        for instance_id in (waiting, failed):
            record = store.get_task_instance_record_by_id(instance_id)
            assert record is not None
            assert (record.state, record.job_id) == (TaskState.SUBMITTED, "555")
        assert self._state(store, running) is TaskState.RUNNING
        assert self._state(store, other) is TaskState.PENDING
        assert store.update_task_submitted(RUN, "missing", "1") == 0
        with pytest.raises(UnknownRunError):
            store.update_task_submitted("nope", "task", "1")

    # -- transactions ----------------------------------------------------------------

    def test_transaction_commits_together(self, store: Store) -> None:
        with store.transaction():
            store.insert_run("run-2", "pipeline", "alice", {})
            ids = store.insert_task_instances("run-2", [NewTaskInstance("t", i) for i in range(3)])
            store.apply_state_updates([StateUpdate(i, TaskState.SUBMITTED) for i in ids])
        assert store.task_state_summary("run-2") == {"t": {"SUBMITTED": 3}}

    def test_transaction_rolls_back_on_error(self, store: Store) -> None:
        existing = self._instance(store)
        with pytest.raises(RuntimeError, match="stop"), store.transaction():
            store.insert_run("run-2", "pipeline", "alice", {})
            self._instance(store, "t", 0, run="run-2")
            store.update_task_running(existing)
            raise RuntimeError("stop")
        assert store.get_run("run-2") is None
        assert self._state(store, existing) is TaskState.PENDING

    def test_failed_step_inside_transaction_keeps_earlier_writes(self, store: Store) -> None:
        done = self._instance(store, "task", 0, TaskState.SUCCESS)
        with store.transaction():
            fresh = self._instance(store, "task", 1)
            with pytest.raises(InvalidTransitionError):
                store.apply_state_updates(
                    [StateUpdate(fresh, TaskState.RUNNING), StateUpdate(done, TaskState.RUNNING)]
                )
            assert self._state(store, fresh) is TaskState.PENDING
            store.update_task_submitted(RUN, "task", "9")
        assert self._state(store, fresh) is TaskState.SUBMITTED
        assert self._state(store, done) is TaskState.SUCCESS

    def test_nested_transactions(self, store: Store) -> None:
        with store.transaction():
            outer = self._instance(store, "task", 0)
            with pytest.raises(RuntimeError), store.transaction():
                self._instance(store, "task", 1)
                raise RuntimeError
            with store.transaction():
                self._instance(store, "task", 2)
        indices = [r.array_index for r in store.list_task_instance_records(RUN)]
        assert indices == [0, 2]
        assert self._state(store, outer) is TaskState.PENDING

    def test_retrying_commits_a_unit_and_returns_its_value(self, store: Store) -> None:
        def unit() -> list[int]:
            store.insert_run("run-2", "pipeline", "alice", {})
            return store.insert_task_instances("run-2", [NewTaskInstance("t", 0)])

        [iid] = store.retrying(unit)
        assert self._state(store, iid) is TaskState.PENDING

    def test_retrying_rolls_a_failing_unit_back_whole(self, store: Store) -> None:
        def unit() -> None:
            store.insert_run("run-2", "pipeline", "alice", {})
            raise RuntimeError("stop")

        with pytest.raises(RuntimeError, match="stop"):
            store.retrying(unit)
        assert store.get_run("run-2") is None

    def test_restore_times_gives_a_copy_its_recorded_times(self, store: Store) -> None:
        iid = self._instance(store, "task", 0)
        created = datetime(2024, 5, 1, 8, 30, 15, 250000, tzinfo=timezone.utc)
        updated = datetime(2024, 5, 1, 9, 0, 0, 125000, tzinfo=timezone.utc)
        try:
            store.restore_times(RUN, created, updated, {iid: (created, updated)})
        except NotImplementedError:
            pytest.skip(f"{type(store).__name__} keeps no recorded times (optional)")
        run = store.get_run_record(RUN)
        assert run is not None and (run.created_at, run.heartbeat_at) == (created, updated)
        record = store.get_task_instance_record_by_id(iid)
        assert record is not None and (record.created_at, record.updated_at) == (created, updated)
        with pytest.raises(UnknownRunError):
            store.restore_times("nope", created, None, {})

    # -- outputs and dependencies ----------------------------------------------------

    def test_outputs_and_hashes(self, store: Store) -> None:
        ids = store.insert_task_instances(RUN, [NewTaskInstance("arr", i) for i in range(3)])
        single = self._instance(store, "one", None)
        store.update_task_success(ids[2], "c", output_hash=sha("c"))
        store.update_task_success(ids[0], "a", output_hash=sha("a"))
        store.update_task_failed(ids[1], "boom")
        assert store.get_array_outputs(RUN, "arr") == ["a", "c"]
        assert store.get_all_output_hashes(RUN, "arr") == [sha("a"), sha("c")]
        assert store.get_output_hash(RUN, "arr", 0) == sha("a")
        assert store.get_output_hash(RUN, "arr", 1) == ""
        assert store.dependency_is_satisfied(RUN, "arr") is False
        store.mark_for_retry(ids[1])
        store.update_task_success(ids[1], "b", output_hash=sha("b"))
        assert store.get_array_outputs(RUN, "arr") == ["a", "b", "c"]
        assert store.dependency_is_satisfied(RUN, "arr") is True

        assert store.get_singleton_output(RUN, "one") is None
        assert store.get_output_hash(RUN, "one") == ""
        assert store.dependency_is_satisfied(RUN, "one") is False
        store.update_task_success(single, {"k": Path("/o")}, output_hash=sha("one"))
        assert store.get_singleton_output(RUN, "one") == {"k": Path("/o")}
        assert store.get_output_hash(RUN, "one") == sha("one")
        assert store.dependency_is_satisfied(RUN, "one") is True

        assert store.dependency_is_satisfied(RUN, "missing") is False
        assert store.get_array_outputs(RUN, "missing") == []
        assert store.get_singleton_output("nope", "one") is None

    # -- cache -----------------------------------------------------------------------

    def test_find_cached_across_runs_most_recent(self, store: Store) -> None:
        identity = sha("identity")
        store.insert_run("run-2", "pipeline", "alice", {})
        store.insert_run("run-3", "pipeline", "alice", {})
        old = self._instance(store, "task", 0, identity=identity)
        new = self._instance(store, "task", 0, run="run-2", identity=identity)
        pending = self._instance(store, "task", 0, run="run-3", identity=identity)
        assert store.find_cached("task", identity) is None
        store.update_task_success(old, "old", output_hash=sha("old"))
        tick()
        store.update_task_success(new, "new", output_hash=sha("new"))
        found = store.find_cached_record("task", identity)
        assert found is not None
        assert (found.id, found.run_id, found.output) == (new, "run-2", "new")
        assert found.id != pending
        public = store.find_cached("task", identity)
        assert public is not None
        assert public["output_hash"] == sha("new")

    def test_find_cached_many_takes_the_newest_of_many_runs(self, store: Store) -> None:
        ids = [sha("a"), sha("b")]
        newest: dict[str, int] = {}
        for number in range(2, 7):
            store.insert_run(f"run-{number}", "pipeline", "alice", {})
            for n, identity in enumerate(ids):
                iid = self._instance(store, "task", n, run=f"run-{number}", identity=identity)
                store.update_task_success(iid, number, output_hash=sha(f"{number}"))
                newest[identity] = iid
            tick()
        found = store.find_cached_many("task", [*ids, sha("c")])
        assert {i: r.id for i, r in found.items()} == newest
        assert {r.output for r in found.values()} == {6}

    def test_find_cached_outputs_finds_what_find_cached_many_finds(self, store: Store) -> None:
        store.insert_run("run-bob", "pipeline", "bob", {})
        ids = [sha("a"), sha("b")]
        for run in (RUN, "run-bob"):
            for n, identity in enumerate(ids):
                iid = self._instance(store, "task", n, run=run, identity=identity)
                store.update_task_success(iid, [run, n], output_hash=sha(f"{run}{n}"))
            tick()
        for user in (None, "alice", "bob", "carol"):
            full = store.find_cached_many("task", [*ids, sha("c")], user_id=user)
            light = store.find_cached_outputs("task", [*ids, sha("c")], user_id=user)
            assert {
                i: (r.id, r.run_id, r.array_index, r.output, r.output_hash)
                for i, r in light.items()
            } == {
                i: (r.id, r.run_id, r.array_index, r.output, r.output_hash)
                for i, r in full.items()
            }

    @pytest.mark.parametrize("how", ["store", "default"])
    def test_reused_instances_take_their_sources_outputs(self, store: Store, how: str) -> None:
        # "default" runs Store's own implementation on this store: a store that
        # does not override the method must get the same result.
        reuse = _own_or_default(store, how, "insert_reused_instances")
        store.insert_run("run-2", "pipeline", "alice", {})
        outputs = [7, {"p": Path("/o"), "t": (1, "x")}, None]
        sources = store.insert_task_instances(
            "run-2", [NewTaskInstance("arr", i, identity=sha(f"i{i}")) for i in range(4)]
        )
        for iid, output in zip(sources, outputs, strict=False):
            store.update_task_success(iid, output, output_hash=sha(f"o{output}"))
        store.update_task_failed(sources[3], "boom")
        tick()
        news = [
            NewTaskInstance(
                "arr",
                i,
                TaskState.PENDING,
                {"a": i},
                identity=sha(f"i{i}"),
                input_hash=sha(f"in{i}"),
                cache_info={"status": "hit", "source": {"instance_id": src}},
            )
            for i, src in enumerate([*sources, 10**9])
        ]
        ids = reuse(RUN, news, [*sources, 10**9])
        assert ids[3:] == [None, None]  # a failed source and one that is gone
        assert all(isinstance(iid, int) for iid in ids[:3])
        assert len(set(ids[:3])) == 3
        for i, (new_id, output) in enumerate(zip(ids[:3], outputs, strict=True)):
            assert new_id is not None
            record = store.get_task_instance_record_by_id(new_id)
            assert record is not None
            assert (record.run_id, record.task_name, record.array_index) == (RUN, "arr", i)
            assert (record.state, record.output) == (TaskState.SUCCESS, output)
            assert record.output_hash == sha(f"o{output}")
            assert (record.identity, record.input_hash) == (sha(f"i{i}"), sha(f"in{i}"))
            assert record.input == {"a": i}
            assert record.cache_info == {"status": "hit", "source": {"instance_id": sources[i]}}
        assert store.get_task_instance_record(RUN, "arr", 3) is None
        assert store.get_array_outputs(RUN, "arr") == outputs
        # A look-up still finds the computed source (a stored hit may stand
        # aside for it: same output), never another instance.
        found = store.find_cached_many("arr", [sha("i0")])
        assert found[sha("i0")].id in (ids[0], sources[0])
        assert found[sha("i0")].output == outputs[0]
        assert reuse(RUN, [], []) == []

    @pytest.mark.parametrize("how", ["store", "default"])
    def test_cache_hits_inserted_or_handed_back(self, store: Store, how: str) -> None:
        # "default" runs Store's own implementation on this store (it inserts
        # nothing): whatever a store inserts must be what the planner would have.
        hits = _own_or_default(store, how, "insert_cache_hits")
        store.insert_run("run-old", "pipeline", "alice", {})
        store.insert_run("run-2", "pipeline", "alice", {})
        outputs = [7, None, "x", {"p": Path("/o")}, (1, "x")]
        for run in ("run-old", "run-2"):  # the newer run's instances are the hits
            sources = store.insert_task_instances(
                run, [NewTaskInstance("arr", i, identity=sha(f"i{i}")) for i in range(6)]
            )
            for iid, output in zip(sources, outputs, strict=False):
                store.update_task_success(iid, output, output_hash=sha(f"o{output}{run}"))
            store.update_task_failed(sources[5], "boom")  # identity i5: no hit
            tick()
        newest = {r.array_index: r for r in store.list_task_instance_records("run-2", "arr")}
        wanted = [
            CacheCandidate(i, sha(f"i{i}"), {"inputs": {"i": sha(f"in{i}")}}) for i in range(7)
        ]
        wanted.append(CacheCandidate(None, "", {}))  # no identity: never a hit
        reused, held = hits(RUN, "arr", wanted)
        assert set(reused).isdisjoint(i for i in range(7) if sha(f"i{i}") in held)
        assert {i for i in range(7) if i in reused or sha(f"i{i}") in held} == set(range(5))
        assert sha("i3") in held  # its output holds a Path: its files are checked first
        for i in range(5):
            source = newest[i]
            if i not in reused:
                assert held[sha(f"i{i}")].id == source.id
                assert held[sha(f"i{i}")].output == source.output
                assert store.get_task_instance_record(RUN, "arr", i) is None
                continue
            record = store.get_task_instance_record_by_id(reused[i].instance_id)
            assert record is not None
            assert (record.run_id, record.task_name, record.array_index) == (RUN, "arr", i)
            assert (record.state, record.output) == (TaskState.SUCCESS, source.output)
            assert record.output_hash == reused[i].output_hash == source.output_hash
            assert record.identity == sha(f"i{i}")
            assert record.cache_info == {
                "inputs": {"i": sha(f"in{i}")},
                "status": "hit",
                "source": {"run_id": "run-2", "instance_id": source.id, "array_index": i},
            }
        assert store.get_task_instance_record(RUN, "arr", 5) is None
        assert store.get_task_instance_record(RUN, "arr", None) is None
        if how == "store":  # what each of SQLite and PostgreSQL does: plain outputs inserted
            assert set(reused) == {0, 1, 2}
        assert hits(RUN, "arr", []) == ({}, {})

    def test_cache_hits_complete_the_cache_info_text_given(self, store: Store) -> None:
        # A candidate may carry its cache_info's text (the planner encodes a chunk's
        # once): the hit's stored cache_info is the same as from the dictionary alone.
        [source] = store.insert_task_instances(RUN, [NewTaskInstance("arr", 0, identity=sha("x"))])
        store.update_task_success(source, 5, output_hash=sha("5"))
        info = {"code": "c1", "inputs": {"i": sha("in")}}
        store.insert_run("run-2", "pipeline", "alice", {})
        store.insert_run("run-3", "pipeline", "alice", {})
        given = CacheCandidate(0, sha("x"), info, CODEC.dumps(info))
        for run, candidate in (("run-2", given), ("run-3", CacheCandidate(0, sha("x"), info))):
            reused, held = store.insert_cache_hits(run, "arr", [candidate])
            if not reused:  # a store that hands hits back inserts nothing
                assert held[sha("x")].id == source
                continue
            record = store.get_task_instance_record(run, "arr", 0)
            assert record is not None and record.output == 5
            assert record.cache_info == {
                **info,
                "status": "hit",
                "source": {"run_id": RUN, "instance_id": source, "array_index": 0},
            }

    def test_a_task_never_computed_has_no_cached_results(self, store: Store) -> None:
        # The planner looks nothing up for a task of which this answers False: it
        # must never say False while a result of the task could be reused.
        # Store's default always answers True (every identity is looked up).
        own = type(store).may_have_cached_results is not Store.may_have_cached_results
        assert store.may_have_cached_results("arr") is not own
        [_, failed, done] = store.insert_task_instances(
            RUN, [NewTaskInstance("arr", i, identity=sha(f"i{i}")) for i in range(3)]
        )
        store.update_task_failed(failed, "boom")
        assert store.may_have_cached_results("arr") is not own  # pending, failed: no result
        assert store.may_have_cached_results("other") is not own
        store.update_task_success(done, 1, output_hash=sha("o1"))
        assert store.may_have_cached_results("arr")
        assert store.find_cached_many("arr", [sha("i2")])  # what the answer stands for
        store.insert_run("run-2", "pipeline", "bob", {})
        store.insert_cache_hits("run-2", "arr", [CacheCandidate(2, sha("i2"))])
        assert store.may_have_cached_results("arr")  # a hit reuses it; it is still there

    def test_cache_hits_of_one_user_and_singletons(self, store: Store) -> None:
        store.insert_run("run-bob", "pipeline", "bob", {})
        for run, output in ((RUN, "alice's"), ("run-bob", "bob's")):
            [iid] = store.insert_task_instances(run, [NewTaskInstance("one", identity=sha("s"))])
            store.update_task_success(iid, output, output_hash=sha(output))
            tick()
        mine = store.get_task_instance_record(RUN, "one", None)
        assert mine is not None
        store.insert_run("run-2", "pipeline", "alice", {})
        reused, held = store.insert_cache_hits(
            "run-2", "one", [CacheCandidate(None, sha("s"))], user_id="alice"
        )
        if reused:
            assert set(reused) == {None} and not held
            record = store.get_task_instance_record("run-2", "one", None)
            assert record is not None and record.output == "alice's"
            assert record.cache_info["source"] == {
                "run_id": RUN,
                "instance_id": mine.id,
                "array_index": None,
            }
        else:
            assert held[sha("s")].id == mine.id
        store.insert_run("run-3", "pipeline", "carol", {})
        assert store.insert_cache_hits(
            "run-3", "one", [CacheCandidate(None, sha("s"))], user_id="carol"
        ) == ({}, {})

    def test_hits_stay_cached_when_their_source_run_is_deleted(self, store: Store) -> None:
        store.update_run_status(RUN, RunState.SUCCESS)
        [source] = store.insert_task_instances(RUN, [NewTaskInstance("arr", 0, identity=sha("x"))])
        store.update_task_success(source, {"v": 1}, output_hash=sha("v1"))
        tick()
        store.insert_run("run-2", "pipeline", "alice", {})
        store.insert_cache_hits("run-2", "arr", [CacheCandidate(0, sha("x"))])
        store.insert_run("run-3", "pipeline", "alice", {})
        [hit] = store.insert_task_instances("run-3", [NewTaskInstance("arr", 0)])
        store.insert_reused_instances("run-3", [NewTaskInstance("arr", 1)], [source])
        copy = store.get_task_instance_record("run-2", "arr", 0) or store.get_task_instance_record(
            "run-3", "arr", 1
        )
        assert copy is not None
        store.update_run_status("run-2", RunState.SUCCESS)
        store.update_run_status("run-3", RunState.SUCCESS)
        store.delete_run(RUN)
        found = store.find_cached_record("arr", sha("x"))
        assert found is not None  # a reused copy answers for the deleted result
        assert found.run_id in ("run-2", "run-3")
        assert (found.output, found.output_hash) == ({"v": 1}, sha("v1"))
        assert hit != found.id  # the PENDING instance is no result

    def test_cache_hits_refuse_a_duplicate_whole(self, store: Store) -> None:
        source = self._instance(store, "arr", 0, run=RUN, identity=sha("x"))
        store.update_task_success(source, 1, output_hash=sha("1"))
        store.insert_run("run-2", "pipeline", "alice", {})
        self._instance(store, "arr", 1, run="run-2")
        wanted = [CacheCandidate(0, sha("x")), CacheCandidate(1, sha("x"))]
        if type(store).insert_cache_hits is Store.insert_cache_hits:
            return  # the default inserts nothing
        with pytest.raises(DuplicateError):
            store.insert_cache_hits("run-2", "arr", wanted)
        assert store.get_task_instance_record("run-2", "arr", 0) is None

    def test_reused_instances_refuse_a_duplicate_whole(self, store: Store) -> None:
        source = self._instance(store, "arr", 0, run=RUN, identity=sha("x"))
        store.update_task_success(source, 1, output_hash=sha("1"))
        store.insert_run("run-2", "pipeline", "alice", {})
        self._instance(store, "arr", 1, run="run-2")
        with pytest.raises(DuplicateError):
            store.insert_reused_instances(
                "run-2", [NewTaskInstance("arr", 0), NewTaskInstance("arr", 1)], [source, source]
            )
        assert store.get_task_instance_record("run-2", "arr", 0) is None
        with pytest.raises(ValueError, match="sources"):
            store.insert_reused_instances("run-2", [NewTaskInstance("arr", 2)], [])

    @pytest.mark.parametrize("how", ["store", "default"])
    def test_ended_instances_are_inserted_in_their_final_state(
        self, store: Store, how: str
    ) -> None:
        insert = _own_or_default(store, how, "insert_ended_instances")
        outputs = [{"p": Path("/o"), "t": (1, "x")}, 3, None]
        news = [
            NewTaskInstance(
                "arr",
                i,
                TaskState.PENDING,
                {"a": i},
                identity=sha(f"i{i}"),
                input_hash=sha(f"in{i}"),
                cache_info={"status": "miss", "inputs": {"x": sha(f"in{i}")}},
                # A row may carry its cache_info's text already: the same text.
                cache_info_text=CODEC.dumps({"status": "miss", "inputs": {"x": sha(f"in{i}")}})
                if i == 1
                else None,
            )
            for i in range(5)
        ]
        ends = [
            StateUpdate(0, TaskState.SUCCESS, output=outputs[0], output_hash=sha("o0")),
            StateUpdate(
                0, TaskState.SUCCESS, output=3, output_hash=sha("o1"), output_text=CODEC.dumps(3)
            ),
            StateUpdate(0, TaskState.SUCCESS, output=None, output_hash=sha("o2")),
            StateUpdate(0, TaskState.FAILED, error_text="boom"),
            StateUpdate(0, TaskState.CANCELLED, error_text="stopped"),
        ]
        ids = insert(RUN, news, ends)
        assert len(set(ids)) == 5
        records = [store.get_task_instance_record_by_id(iid) for iid in ids]
        for i, record in enumerate(records):
            assert record is not None
            assert (record.run_id, record.task_name, record.array_index) == (RUN, "arr", i)
            assert (record.identity, record.input_hash) == (sha(f"i{i}"), sha(f"in{i}"))
            assert record.input == {"a": i}
            assert record.cache_info == {"status": "miss", "inputs": {"x": sha(f"in{i}")}}
        assert [r.state for r in records if r] == [TaskState.SUCCESS] * 3 + [
            TaskState.FAILED,
            TaskState.CANCELLED,
        ]
        assert [r.output for r in records[:3] if r] == outputs
        assert [r.output_hash for r in records[:3] if r] == [sha(f"o{i}") for i in range(3)]
        assert [r.error_text for r in records[3:] if r] == ["boom", "stopped"]
        # A success inserted ended is in the cache like one updated to SUCCESS.
        assert store.find_cached_many("arr", [sha("i1")])[sha("i1")].id == ids[1]
        assert insert(RUN, [], []) == []

    def test_ended_instances_refuse_what_is_not_an_end(self, store: Store) -> None:
        with pytest.raises(ValueError, match="updates"):
            store.insert_ended_instances(RUN, [NewTaskInstance("arr", 0)], [])
        with pytest.raises(ValueError, match="RUNNING"):
            store.insert_ended_instances(
                RUN, [NewTaskInstance("arr", 0)], [StateUpdate(0, TaskState.RUNNING)]
            )
        self._instance(store, "arr", 1, run=RUN)
        with pytest.raises(DuplicateError):
            store.insert_ended_instances(
                RUN,
                [NewTaskInstance("arr", 0), NewTaskInstance("arr", 1)],
                [StateUpdate(0, TaskState.FAILED, error_text="x")] * 2,
            )
        assert store.get_task_instance_record(RUN, "arr", 0) is None

    def test_newest_outputs_is_what_find_cached_outputs_finds(self, store: Store) -> None:
        # Across workflows and users, newest per identity; failures and empty
        # identities left out; another task's identities too.
        store.insert_run("run-bob", "other-workflow", "bob", {})
        store.insert_run("run-new", "pipeline", "alice", {})
        ids = [sha("a"), sha("b"), sha("c")]
        for run in (RUN, "run-bob", "run-new"):
            for n, identity in enumerate(ids[: 2 if run == "run-new" else 3]):
                iid = self._instance(store, "task", n, run=run, identity=identity)
                store.update_task_success(iid, [run, n], output_hash=sha(f"{run}{n}"))
            tick()
        failed = self._instance(store, "task", 5, run="run-new", identity=sha("failed"))
        store.update_task_failed(failed, "boom")
        blank = self._instance(store, "task", 6, run="run-new", identity="")
        store.update_task_success(blank, "x", output_hash=sha("x"))
        other = self._instance(store, "elsewhere", 0, run="run-new", identity=sha("z"))
        store.update_task_success(other, "z", output_hash=sha("z"))
        for user in (None, "alice", "bob", "carol"):
            every = store.newest_outputs("task", user_id=user)
            found = store.find_cached_outputs("task", [*ids, sha("failed")], user_id=user)
            assert {
                i: (r.id, r.run_id, r.array_index, r.output, r.output_hash)
                for i, r in every.items()
            } == {
                i: (r.id, r.run_id, r.array_index, r.output, r.output_hash)
                for i, r in found.items()
            }
        assert {r.run_id for r in store.newest_outputs("task").values()} == {"run-new", "run-bob"}
        assert set(store.newest_outputs("task", user_id="bob")) == set(ids)
        assert store.newest_outputs("nothing") == {}

    def test_find_cached_falls_back_when_the_newest_goes(self, store: Store) -> None:
        identity = sha("identity")
        store.insert_run("run-2", "pipeline", "alice", {})
        store.insert_run("run-3", "pipeline", "alice", {})
        old = self._instance(store, "task", 0, identity=identity)
        mid = self._instance(store, "task", 0, run="run-2", identity=identity)
        new = self._instance(store, "task", 0, run="run-3", identity=identity)
        for n, iid in enumerate((old, mid, new)):
            store.update_task_success(iid, n, output_hash=sha(str(n)))
            tick()

        def found() -> int | None:
            record = store.find_cached_record("task", identity, user_id="alice")
            many = store.find_cached_many("task", [identity])
            assert (record and record.id) == (many[identity].id if many else None)
            return None if record is None else record.id

        assert found() == new
        store.set_identity_many({new: (sha("moved"), {})})  # its code was another
        assert found() == mid
        found_moved = store.find_cached_record("task", sha("moved"))
        assert found_moved is not None and found_moved.id == new
        store.update_run_status("run-2", RunState.SUCCESS)
        store.delete_run("run-2")
        assert found() == old

    def test_find_cached_only_matches_successful_same_task(self, store: Store) -> None:
        identity = sha("identity")
        failed = self._instance(store, "task", 0, identity=identity)
        store.update_task_failed(failed, "boom")
        other_task = self._instance(store, "other", 0, identity=identity)
        store.update_task_success(other_task, 1)
        assert store.find_cached("task", identity) is None
        assert store.find_cached("task", sha("different")) is None
        assert store.find_cached("task", "") is None
        store.mark_for_retry(failed)
        store.update_task_success(failed, 2)
        found = store.find_cached_record("task", identity)
        assert found is not None
        assert found.id == failed

    def test_find_cached_of_one_user(self, store: Store) -> None:
        identity = sha("shared")
        store.insert_run("run-bob", "pipeline", "bob", {})
        alices = self._instance(store, "task", 0, identity=identity)
        bobs = self._instance(store, "task", 0, run="run-bob", identity=identity)
        store.update_task_success(alices, "alice's", output_hash=sha("a"))
        tick()
        store.update_task_success(bobs, "bob's", output_hash=sha("b"))

        def found(user: str | None) -> int | None:
            record = store.find_cached_record("task", identity, user_id=user)
            many = store.find_cached_many("task", [identity, sha("none")], user_id=user)
            assert set(many) <= {identity}
            assert (record and record.id) == (many[identity].id if many else None)
            return None if record is None else record.id

        assert found(None) == bobs  # any user's: the most recent
        assert found("alice") == alices
        assert found("bob") == bobs
        assert found("carol") is None

    def test_whole_array_identities_are_listed_and_copied_for_one_user(self, store: Store) -> None:
        identity = sha("array")
        a = self._instance(store, "arr", 0, identity=sha("e0"))
        b = self._instance(store, "arr", 1, identity=sha("e1"))
        store.update_task_success(a, 0, output_hash=sha("o0"))
        store.update_task_success(b, 1, output_hash=sha("o1"))
        store.record_array_identity(RUN, "arr", identity, 2)
        listed = store.list_array_identities(RUN)
        if not listed:  # a store may ignore array identities (the default)
            assert store.copy_cached_array("arr", identity, RUN) is None
            return
        assert listed == [("arr", identity, 2)]
        store.insert_run("run-bob", "pipeline", "bob", {})
        store.insert_run("run-alice", "pipeline", "alice", {})
        assert store.list_array_identities("run-bob") == []
        assert store.copy_cached_array("arr", identity, "run-bob", user_id="bob") is None
        assert store.list_task_instance_records("run-bob") == []
        copied = store.copy_cached_array("arr", identity, "run-alice", user_id="alice")
        assert copied == (RUN, 2)
        outputs = [r.output for r in store.list_task_instance_records("run-alice")]
        assert outputs == [0, 1]

    @pytest.mark.parametrize("how", ["store", "default"])
    def test_taking_a_cached_array_returns_its_hashes_and_records_it(
        self, store: Store, how: str
    ) -> None:
        take = _own_or_default(store, how, "take_cached_array")
        identity = sha("array")
        ids = store.insert_task_instances(
            RUN, [NewTaskInstance("arr", i, identity=sha(f"e{i}")) for i in range(12)]
        )
        for i, iid in enumerate(ids):
            store.update_task_success(iid, {"i": i}, output_hash=sha(f"o{i}"))
        store.record_array_identity(RUN, "arr", identity, 12)
        if not store.list_array_identities(RUN):  # a store may ignore array identities
            return
        store.insert_run("run-bob", "pipeline", "bob", {})
        assert take("arr", identity, "run-bob", user_id="bob") is None
        assert take("arr", sha("other"), "run-bob") is None
        assert store.list_task_instance_records("run-bob") == []
        store.insert_run("run-2", "pipeline", "alice", {})
        taken = take("arr", identity, "run-2", user_id="alice")
        assert taken == (RUN, [sha(f"o{i}") for i in range(12)])
        assert store.get_all_output_hashes("run-2", "arr") == taken[1]
        assert store.get_array_outputs("run-2", "arr") == [{"i": i} for i in range(12)]
        assert store.list_array_identities("run-2") == [("arr", identity, 12)]
        with pytest.raises(DuplicateError):
            take("arr", identity, "run-2")

    def test_elements_of_an_array_are_copied_by_spans_all_or_none(self, store: Store) -> None:
        key = sha("element key")
        ids = store.insert_task_instances(
            RUN, [NewTaskInstance("arr", i, identity=sha(f"e{i}")) for i in range(10)]
        )
        for i, iid in enumerate(ids):
            store.update_task_success(iid, [i], output_hash=sha(f"o{i}"))
        store.record_array_identity(RUN, "arr", key, 10)
        found = store.find_cached_array("arr", key)
        if found is None:  # a store may not copy elements (the default)
            store.insert_run("run-2", "pipeline", "alice", {})
            assert store.copy_array_elements("arr", RUN, "run-2", [(0, 3)]) is None
            return
        assert found == (RUN, 10)
        assert store.find_cached_array("arr", sha("other")) is None
        assert store.find_cached_array("arr", key, user_id="bob") is None
        assert store.find_cached_array("arr", key, user_id="alice") == (RUN, 10)
        store.insert_run("run-2", "pipeline", "alice", {})
        copied = store.copy_array_elements("arr", RUN, "run-2", [(0, 1), (3, 3), (5, 8)])
        assert copied == {i: sha(f"o{i}") for i in (0, 1, 3, 5, 6, 7, 8)}
        records = {r.array_index or 0: r for r in store.list_task_instance_records("run-2")}
        assert sorted(records) == [0, 1, 3, 5, 6, 7, 8]
        for i, record in records.items():
            assert record.state is TaskState.SUCCESS
            assert (record.identity, record.output, record.output_hash) == (
                sha(f"e{i}"),
                [i],
                sha(f"o{i}"),
            )
            assert record.cache_info == {"status": "hit", "source": {"run_id": RUN}}
        # The copies answer for their sources: looking up an identity finds the source.
        cached = store.find_cached_record("arr", sha("e3"))
        assert cached is not None and cached.run_id == RUN
        with pytest.raises(DuplicateError):
            store.copy_array_elements("arr", RUN, "run-2", [(8, 9)])
        assert len(store.list_task_instance_records("run-2")) == 7
        # An index the source does not have (or not SUCCESS): nothing is copied.
        store.insert_run("run-3", "pipeline", "alice", {})
        assert store.copy_array_elements("arr", RUN, "run-3", [(8, 10)]) is None
        assert store.list_task_instance_records("run-3") == []
        assert store.copy_array_elements("arr", "no-such-run", "run-3", [(0, 1)]) is None
        assert store.copy_array_elements("missing", RUN, "run-3", [(0, 1)]) is None

    def test_an_array_missing_elements_is_not_found_for_its_elements(self, store: Store) -> None:
        key = sha("element key")
        ids = store.insert_task_instances(
            RUN, [NewTaskInstance("arr", i, identity=sha(f"e{i}")) for i in range(3)]
        )
        for i, iid in enumerate(ids[:2]):
            store.update_task_success(iid, i, output_hash=sha(f"o{i}"))
        store.update_task_failed(ids[2], "boom")
        store.record_array_identity(RUN, "arr", key, 3)  # one element failed
        assert store.find_cached_array("arr", key) is None
        store.insert_run("run-2", "pipeline", "alice", {})
        assert store.copy_array_elements("arr", RUN, "run-2", [(1, 2)]) is None
        assert store.list_task_instance_records("run-2") == []
        if store.copy_array_elements("arr", RUN, "run-2", [(0, 1)]) is not None:
            assert [r.array_index for r in store.list_task_instance_records("run-2")] == [0, 1]

    def test_cache_info(self, store: Store) -> None:
        a, b = self._instance(store, "task", 0), self._instance(store, "task", 1)
        store.set_cache_info(a, {"hit": False, "reason": "no match", "keys": ["x"]})
        store.set_cache_info_many({b: {"hit": True, "source": Path("/r")}, a: {"hit": True}})
        first = store.get_task_instance_record_by_id(a)
        second = store.get_task_instance_record_by_id(b)
        assert first is not None
        assert second is not None
        assert first.cache_info == {"hit": True}
        assert second.cache_info == {"hit": True, "source": Path("/r")}
        with pytest.raises(UnknownInstanceError):
            store.set_cache_info_many({a: {"hit": False}, 987654: {"hit": False}})
        again = store.get_task_instance_record_by_id(a)
        assert again is not None
        assert again.cache_info == {"hit": True}

    def test_set_identity_many_moves_a_result_to_the_identity_of_its_code(
        self, store: Store
    ) -> None:
        planned, ran = sha("planned"), sha("ran")
        a = self._instance(store, "task", 0, identity=planned)
        b = self._instance(store, "task", 1, identity=planned)
        store.set_identity_many({a: (ran, {"code": "y"}), b: ("", {"status": "disabled"})})
        store.update_task_success(a, "out", output_hash=sha("o"))
        store.update_task_success(b, "other", output_hash=sha("p"))
        assert store.find_cached("task", planned) is None
        found = store.find_cached_record("task", ran)
        assert found is not None
        assert (found.id, found.output, found.cache_info) == (a, "out", {"code": "y"})
        second = store.get_task_instance_record_by_id(b)
        assert second is not None
        assert (second.identity, second.cache_info) == ("", {"status": "disabled"})
        with pytest.raises(UnknownInstanceError):
            store.set_identity_many({a: (planned, {}), 987654: (planned, {})})
        again = store.get_task_instance_record_by_id(a)
        assert again is not None
        assert (again.identity, again.cache_info) == (ran, {"code": "y"})

    # -- sharing ---------------------------------------------------------------------

    def test_peer_sees_committed_writes(self, store: Store, tmp_path: Path) -> None:
        peer = self.open_peer(store, tmp_path)
        if peer is None:
            pytest.skip("this store has no second handle (open_peer returns None)")
        peer.init()
        try:
            assert peer.get_run("run-2") is None
            with store.transaction():
                store.insert_run("run-2", "pipeline", "alice", {})
                instance_id = self._instance(store, "task", 0, run="run-2")
                assert peer.get_run("run-2") is None
            assert peer.get_run("run-2") is not None
            store.update_task_success(instance_id, "out", output_hash=sha("o"))
            record = peer.get_task_instance_record_by_id(instance_id)
            assert record is not None
            assert record.state is TaskState.SUCCESS
            peer.update_task_submitted("run-2", "task", "1")  # no-op, but must not fail
            assert store.get_output_hash("run-2", "task", 0) == sha("o")
        finally:
            peer.close()

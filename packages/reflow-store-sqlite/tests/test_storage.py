"""How SqliteStore lays rows out on disk, and that its hot queries use indexes."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable

import pytest

from reflow.stores import NewTaskInstance, TaskState
from reflow_store_sqlite import SqliteStore


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _raw(store: SqliteStore) -> sqlite3.Connection:
    return sqlite3.connect(store.path)


def test_instances_are_stored_compactly(store: SqliteStore) -> None:
    before = time.time_ns() // 1_000_000
    single, element, odd = store.insert_task_instances(
        "run-1",
        [
            NewTaskInstance("prepare", None, identity=sha("a"), input_hash=sha("b")),
            NewTaskInstance("convert", 4, input={"x": 1}, identity=sha("c")),
            NewTaskInstance("convert", 5, identity="custom:key"),
        ],
    )
    store.update_task_success(single, {}, output_hash=sha("out"))
    row = (
        _raw(store)
        .execute(
            "SELECT typeof(identity), length(identity), length(input_hash), length(output_hash), "
            "idx, typeof(state), state, typeof(created_at), created_at, input, output, "
            "job_id, error_text, cache_info FROM task_instances WHERE id = ?",
            (single,),
        )
        .fetchone()
    )
    assert row[:4] == ("blob", 32, 32, 32)
    assert row[4] == -1  # singleton
    assert row[5:7] == ("integer", 3)
    assert row[7] == "integer"
    assert before <= row[8] <= time.time_ns() // 1_000_000
    assert row[9] is None  # empty input payload
    assert row[10] == "{}"  # an empty *output* is a value, kept
    assert row[11:] == (None, None, None)
    raw = _raw(store)
    assert (
        raw.execute("SELECT idx, input FROM task_instances WHERE id = ?", (element,)).fetchone()[0]
        == 4
    )
    assert raw.execute(
        "SELECT typeof(identity), identity FROM task_instances WHERE id = ?", (odd,)
    ).fetchone() == ("text", "custom:key")


def test_runs_and_task_names_are_stored_once(store: SqliteStore) -> None:
    store.insert_task_instances("run-1", [NewTaskInstance("convert", i) for i in range(50)])
    raw = _raw(store)
    assert raw.execute("SELECT count(*) FROM task_names").fetchone()[0] == 1
    run_key, task_key = raw.execute("SELECT DISTINCT run, task FROM task_instances").fetchone()
    assert isinstance(run_key, int)
    assert isinstance(task_key, int)
    params = raw.execute("SELECT parameters, typeof(created_at), status FROM runs").fetchone()
    assert params == (None, "integer", 1)


def test_a_task_name_is_read_once_and_forgotten_when_its_insert_is_rolled_back(
    store: SqliteStore,
) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.insert_task_instances("run-1", [NewTaskInstance("gone", None)])
        raise RuntimeError("abandon the block")
    # "other" takes the key "gone" had inside the abandoned block.
    [other] = store.insert_task_instances("run-1", [NewTaskInstance("other", None)])
    statements: list[str] = []
    store._connection().set_trace_callback(statements.append)
    [gone, again] = [
        store.insert_task_instances("run-1", [NewTaskInstance("gone", i)])[0] for i in (0, 1)
    ]
    store._connection().set_trace_callback(None)
    records = [store.get_task_instance_record_by_id(i) for i in (other, gone, again)]
    assert [(r.task_name, r.array_index) for r in records if r] == [
        ("other", None),
        ("gone", 0),
        ("gone", 1),
    ]
    assert sum("FROM task_names" in sql for sql in statements) == 1  # then remembered


def _plan(store: SqliteStore, call: Callable[[], object]) -> list[str]:
    """Return the query plans of the statements ``call`` runs."""
    statements: list[str] = []
    conn = store._connection()
    conn.set_trace_callback(statements.append)
    try:
        call()
    finally:
        conn.set_trace_callback(None)
    raw = _raw(store)
    plans: list[str] = []
    for sql in statements:
        if sql.lstrip().upper().startswith(("SELECT", "WITH")):
            plans.extend(row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}"))
    return plans


@pytest.fixture
def filled(store: SqliteStore) -> SqliteStore:
    ids = store.insert_task_instances(
        "run-1", [NewTaskInstance("convert", i, identity=sha(str(i))) for i in range(200)]
    )
    store.apply_state_updates([])
    for instance_id in ids[:100]:
        store.update_task_success(instance_id, instance_id)
    return store


def test_find_cached_reads_one_row_of_the_cache_index(filled: SqliteStore) -> None:
    plans = _plan(filled, lambda: filled.find_cached("convert", sha("7")))
    assert any("task_instances_newest" in step for step in plans), plans
    # Only the list of identities asked for is scanned, never a table.
    scans = [step for step in plans if step.startswith("SCAN")]
    assert set(scans) <= {"SCAN CONSTANT ROW", "SCAN w"}, plans


def test_summary_reads_only_the_status_index(filled: SqliteStore) -> None:
    plans = _plan(filled, lambda: filled.task_state_summary("run-1"))
    assert any("COVERING INDEX task_instances_status" in step for step in plans), plans
    assert filled.task_state_summary("run-1") == {"convert": {"PENDING": 100, "SUCCESS": 100}}


def test_instance_lookup_uses_the_unique_key(filled: SqliteStore) -> None:
    plans = _plan(filled, lambda: filled.get_task_instance("run-1", "convert", 3))
    assert any("task_instances_key" in step for step in plans), plans


def test_state_lists_do_not_scan_other_runs(filled: SqliteStore) -> None:
    plans = _plan(
        filled,
        lambda: filled.list_task_instance_records("run-1", "convert", [TaskState.PENDING]),
    )
    assert not any(step.startswith("SCAN i") for step in plans), plans


def test_finding_a_whole_array_counts_its_elements_in_the_status_index(
    store: SqliteStore,
) -> None:
    store.insert_run("run-2", "pipeline", "alice", {})
    for run in ("run-1", "run-2"):
        store.insert_task_instances(
            run,
            [NewTaskInstance("convert", i, TaskState.SUCCESS, {"i": i}) for i in range(50)],
        )
    store.record_array_identity("run-1", "convert", sha("whole"), 50)
    plans = _plan(store, lambda: store.find_cached_array("convert", sha("whole")))
    # The elements are counted without reading their rows (~4x faster on 10,000).
    assert any("COVERING INDEX task_instances_status" in step for step in plans), plans
    assert store.find_cached_array("convert", sha("whole")) == ("run-1", 50)
    # A successful singleton row of the same task (idx -1) is not an element of it.
    store.insert_task_instances("run-1", [NewTaskInstance("convert", None, TaskState.SUCCESS)])
    store.record_array_identity("run-1", "convert", sha("whole"), 51)
    assert store.find_cached_array("convert", sha("whole")) is None

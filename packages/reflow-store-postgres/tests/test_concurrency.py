"""Several processes writing and reading at once: nothing lost, nothing duplicated.

Each worker is a forked process with its own store (its own connection), as
dispatchers of several runs on several hosts are.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from reflow.stores import (
    DuplicateError,
    InvalidTransitionError,
    NewTaskInstance,
    RunState,
    StateUpdate,
    StoreBusyError,
    TaskState,
)
from reflow_store_postgres import PostgresStore
from reflow_store_postgres import store as store_module
from reflow_store_postgres.connection import backoff

WORKERS = 6


def _run_all(target: Callable[..., None], args: list[tuple[Any, ...]]) -> list[Any]:
    """Run ``target(queue, *a)`` in one forked process per ``a``; return what they put."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=target, args=(queue, *a)) for a in args]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(30)
    assert [w.exitcode for w in workers] == [0] * len(workers)
    return results


def _insert(queue: Any, url: str, count: int) -> None:
    with PostgresStore(url) as store:
        inserted = duplicates = 0
        for index in range(count):
            try:
                store.insert_task_instances("r1", [NewTaskInstance("t", index)])
                inserted += 1
            except DuplicateError:
                duplicates += 1
        queue.put((inserted, duplicates))


def test_racing_inserts_store_each_instance_once(schema_url: str) -> None:
    with PostgresStore(schema_url) as store:
        store.insert_run("r1", "wf", "alice", {})

    results = _run_all(_insert, [(schema_url, 40)] * WORKERS)

    assert sum(inserted for inserted, _ in results) == 40
    assert sum(duplicates for _, duplicates in results) == 40 * (WORKERS - 1)
    with PostgresStore(schema_url) as store:
        assert store.count_task_instances("r1", "t") == 40


def _retry_all(queue: Any, url: str, ids: list[int]) -> None:
    with PostgresStore(url) as store:
        won = []
        for instance_id in ids:
            try:
                store.mark_for_retry(instance_id)  # FAILED -> RETRYING: only once
                won.append(instance_id)
            except InvalidTransitionError:
                pass
        queue.put(won)


def test_racing_transitions_let_exactly_one_writer_win(schema_url: str) -> None:
    with PostgresStore(schema_url) as store:
        store.insert_run("r1", "wf", "alice", {})
        ids = store.insert_task_instances("r1", [NewTaskInstance("t", i) for i in range(60)])
        store.apply_state_updates(StateUpdate(i, TaskState.FAILED, error_text="x") for i in ids)

    results = _run_all(_retry_all, [(schema_url, ids)] * WORKERS)

    winners = [i for won in results for i in won]
    assert sorted(winners) == sorted(ids)  # each instance retried once, by one worker


def _dispatch(queue: Any, url: str, run_id: str, count: int) -> None:
    with PostgresStore(url) as store:
        store.insert_run(run_id, "wf", "alice", {})
        ids = store.insert_task_instances(run_id, [NewTaskInstance("t", i) for i in range(count)])
        for start in range(0, count, 25):
            chunk = ids[start : start + 25]
            store.apply_state_updates(
                StateUpdate(i, TaskState.SUBMITTED, job_id="j") for i in chunk
            )
            store.heartbeat_run(run_id)
            store.apply_state_updates(
                StateUpdate(i, TaskState.SUCCESS, output=i, output_hash=f"{i:064x}") for i in chunk
            )
        store.update_run_status(run_id, RunState.SUCCESS)
        queue.put(run_id)


def _read(queue: Any, url: str, run_ids: list[str], until: float) -> None:
    with PostgresStore(url) as store:
        reads = 0
        while time.monotonic() < until:
            for run_id in run_ids:
                summary = store.task_state_summary(run_id)
                assert sum(summary.get("t", {}).values()) in (0, 200)
                reads += 1
        queue.put(reads)


def test_dispatchers_and_readers_at_once_lose_nothing(schema_url: str) -> None:
    runs = [f"run-{n}" for n in range(4)]
    until = time.monotonic() + 3
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    processes = [
        context.Process(target=_dispatch, args=(queue, schema_url, run_id, 200)) for run_id in runs
    ]
    # Readers may start before the runs exist: they then read empty summaries.
    processes += [
        context.Process(target=_read, args=(queue, schema_url, runs, until)) for _ in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)

    assert [p.exitcode for p in processes] == [0] * len(processes)
    with PostgresStore(schema_url) as store:
        for run_id in runs:
            assert store.task_state_summary(run_id) == {"t": {"SUCCESS": 200}}
            outputs = store.get_array_outputs(run_id, "t")
            assert len(outputs) == 200
            record = store.get_run_record(run_id)
            assert record is not None and record.status is RunState.SUCCESS


def test_a_deadlock_victim_transaction_is_retried(
    schema_url: str, server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    retries: list[int] = []

    def counted_backoff(attempt: int) -> float:
        retries.append(attempt)
        return backoff(attempt)

    monkeypatch.setattr(store_module, "backoff", counted_backoff)
    schema = schema_url.rpartition("%3D")[2]
    with PostgresStore(schema_url) as store:
        store.insert_run("r1", "wf", "alice", {})
        store.insert_task_instances("r1", [NewTaskInstance("t", 0)])
        store.update_run_status("r1", RunState.SUCCESS)

        # The other session locks the instance, then (once the store's delete_run holds the
        # run row and waits for the instance) asks for the run row: a deadlock. Its own
        # deadlock_timeout is long, so the server picks the store's transaction as the victim.
        with psycopg.connect(server_url) as other:
            other.execute("SET deadlock_timeout = '20s'")
            other.execute(f"SELECT id FROM {schema}.task_instances FOR UPDATE")
            result: list[int] = []
            deleter = threading.Thread(target=lambda: result.append(store.delete_run("r1")))
            deleter.start()
            time.sleep(0.5)  # delete_run now holds the run row and waits for the instance
            other.execute(f"UPDATE {schema}.runs SET heartbeat_at = 1 WHERE run_id = 'r1'")
            other.commit()
            deleter.join(30)

        assert result == [1]  # the retry deleted the run and its one instance
        assert retries  # ... after losing the deadlock at least once
        assert store.get_run_record("r1") is None


def test_conflicts_that_never_clear_end_in_a_bounded_busy_error(schema_url: str) -> None:
    import psycopg

    attempts = []

    def conflicting(conn: Any) -> None:
        attempts.append(1)
        raise psycopg.errors.SerializationFailure("could not serialize access")

    store = PostgresStore(schema_url, retries=3)
    with store:
        with pytest.raises(StoreBusyError, match="3 attempts"):
            store._write(conflicting)

        assert len(attempts) == 3
        store.insert_run("r1", "wf", "alice", {})  # the store is usable afterwards


def test_a_unit_of_work_that_loses_a_deadlock_runs_again_whole(
    schema_url: str, server_url: str
) -> None:
    """Core's transaction blocks go through ``retrying``: a deadlock victim is not an error."""
    import psycopg

    schema = schema_url.rpartition("%3D")[2]
    attempts: list[int] = []
    with PostgresStore(schema_url) as store:
        store.insert_run("r1", "wf", "alice", {})
        store.insert_run("r2", "wf", "alice", {})
        locked_r1 = threading.Event()

        def unit() -> str:
            attempts.append(1)
            store.heartbeat_run("r1")  # holds r1's row from here on
            locked_r1.set()
            store.heartbeat_run("r2")  # the other session holds r2 (first attempt)
            return "done"

        with psycopg.connect(server_url) as other:
            # Its deadlock_timeout is long: the server picks the store's unit as the victim.
            other.execute("SET deadlock_timeout = '20s'")
            other.execute(f"UPDATE {schema}.runs SET heartbeat_at = 1 WHERE run_id = 'r2'")
            result: list[str] = []
            worker = threading.Thread(target=lambda: result.append(store.retrying(unit)))
            worker.start()
            assert locked_r1.wait(30)
            time.sleep(0.3)  # the unit now waits for r2
            other.execute(f"UPDATE {schema}.runs SET heartbeat_at = 2 WHERE run_id = 'r1'")
            other.commit()
            worker.join(30)

        assert result == ["done"]
        assert len(attempts) == 2  # lost once, then ran again from its start
        heartbeats = store.get_run_record("r1"), store.get_run_record("r2")
        assert all(r is not None and r.heartbeat_at is not None for r in heartbeats)
        assert all(r.heartbeat_at.year > 1970 for r in heartbeats if r and r.heartbeat_at)


def test_a_unit_of_work_whose_connection_breaks_runs_again_once(
    schema_url: str, server_url: str
) -> None:
    import psycopg

    attempts: list[int] = []
    store = PostgresStore(schema_url)
    with store:
        store.insert_run("r1", "wf", "alice", {})

        def unit() -> list[int]:
            attempts.append(1)
            ids = store.insert_task_instances("r1", [NewTaskInstance("t", 0)])
            if len(attempts) == 1:  # the server ends this session in the middle of the unit
                with psycopg.connect(server_url, autocommit=True) as admin:
                    pid = store._conn.info.backend_pid if store._conn else 0
                    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            store.update_task_submitted("r1", "t", "42")
            return ids

        [iid] = store.retrying(unit)
        assert len(attempts) == 2
        records = store.list_task_instance_records("r1")
        assert [(r.id, r.state, r.job_id) for r in records] == [(iid, TaskState.SUBMITTED, "42")]

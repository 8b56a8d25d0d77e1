"""Several processes writing one database at once lose nothing and never fail on locks."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from reflow.stores import NewTaskInstance, StoreBusyError, TaskState
from reflow_store_sqlite import SqliteStore
from reflow_store_sqlite.connection import is_busy

WORKERS = 8
PER_WORKER = 2000
BATCH = 100

WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from reflow.stores import TaskState
    from reflow.stores import NewTaskInstance, StateUpdate
    from reflow_store_sqlite import SqliteStore

    path, go = sys.argv[1], sys.argv[5]
    worker, count, batch = map(int, sys.argv[2:5])
    busy_timeout, retries = float(sys.argv[6]), int(sys.argv[7])
    while not Path(go).exists():
        time.sleep(0.005)
    store = SqliteStore(path, busy_timeout=busy_timeout, retries=retries)
    run = f"run-{worker}"
    store.insert_run(run, "stress", f"user{worker}", {"worker": worker})
    store.insert_task_spec(run, "work", True, {"cpus": 1}, [])
    ids = []
    for start in range(0, count, batch):
        ids += store.insert_task_instances(
            run,
            [
                NewTaskInstance("work", i, identity=f"{worker:08x}{i:056x}")
                for i in range(start, start + batch)
            ],
        )
    for start in range(0, count, batch):
        chunk = ids[start:start + batch]
        with store.transaction():
            store.apply_state_updates(
                StateUpdate(i, TaskState.SUBMITTED, job_id=str(worker)) for i in chunk
            )
            store.set_cache_info_many({i: {"hit": False} for i in chunk})
        store.apply_state_updates(StateUpdate(i, TaskState.RUNNING) for i in chunk)
        store.apply_state_updates(
            StateUpdate(i, TaskState.SUCCESS, output=i, output_hash=f"{i:064x}") for i in chunk
        )
    # Some single-row steps, interleaved with the other workers' batches.
    for i in ids[:20]:
        store.find_cached("work", f"{worker:08x}{0:056x}")
        store.get_task_instance_record_by_id(i)
    print("done", len(ids))
    """
)


@pytest.mark.parametrize(
    ("busy_timeout", "retries"),
    [(10.0, 6), (0.001, 200)],
    ids=["sqlite-waits", "store-retries-with-jitter"],
)
def test_many_processes_write_at_once(tmp_path: Path, busy_timeout: float, retries: int) -> None:
    """8 processes insert and update 2,000 instances each, all at the same time.

    With the defaults SQLite's busy timeout absorbs the contention; with an
    almost-zero timeout, the store's own retries with jitter must.
    """
    path = tmp_path / "manifest.db"
    SqliteStore(path).init()
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [
                *(sys.executable, str(script), str(path), str(w)),
                *(str(PER_WORKER), str(BATCH), str(go), str(busy_timeout), str(retries)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(WORKERS)
    ]
    time.sleep(0.5)  # let every worker start and wait at the gate
    go.touch()
    results = [proc.communicate(timeout=240) for proc in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert out.strip() == f"done {PER_WORKER}"
        assert "Traceback" not in err
        assert "locked" not in err

    store = SqliteStore(path)
    assert len(store.list_run_records(graph_name="stress")) == WORKERS
    for worker in range(WORKERS):
        run = f"run-{worker}"
        assert store.task_state_summary(run) == {"work": {"SUCCESS": PER_WORKER}}
        records = store.list_task_instance_records(run)
        assert [r.array_index for r in records] == list(range(PER_WORKER))
        assert all(r.job_id == str(worker) for r in records)
        assert all(r.output == r.id and r.output_hash == f"{r.id:064x}" for r in records)
        assert all(r.cache_info == {"hit": False} for r in records)
        hit = store.find_cached_record("work", f"{worker:08x}{7:056x}")
        assert hit is not None
        assert (hit.run_id, hit.array_index) == (run, 7)
    raw = sqlite3.connect(path)
    total, distinct = raw.execute(
        "SELECT count(*), count(DISTINCT id) FROM task_instances"
    ).fetchone()
    assert total == distinct == WORKERS * PER_WORKER
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _hold_write_lock(path: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_busy_database_is_retried_until_free(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "manifest.db"
    store = SqliteStore(path, busy_timeout=0.05, retries=10)
    store.init()
    holder = _hold_write_lock(path)
    release = threading.Timer(0.4, holder.rollback)
    release.start()
    caplog.set_level(logging.WARNING, logger="reflow_store_sqlite")
    try:
        store.insert_run("run-1", "pipeline", "alice", {})
    finally:
        release.join()
        holder.close()
    assert store.get_run("run-1") is not None
    retries = [r for r in caplog.records if "busy" in r.getMessage()]
    assert retries, "the lock should have been waited out with retries"


def test_database_that_stays_busy_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "manifest.db"
    store = SqliteStore(path, busy_timeout=0.02, retries=3)
    store.init()
    holder = _hold_write_lock(path)
    try:
        started = time.monotonic()
        with pytest.raises(StoreBusyError) as caught:
            store.insert_run("run-1", "pipeline", "alice", {})
        assert time.monotonic() - started < 5
    finally:
        holder.rollback()
        holder.close()
    message = str(caught.value)
    assert str(path) in message
    assert "3 attempts" in message
    assert "REFLOW_STORE_PATH" in message
    assert store.get_run("run-1") is None
    store.insert_run("run-1", "pipeline", "alice", {})  # free again: works


def test_readers_are_not_blocked_by_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "manifest.db"
    store = SqliteStore(path, busy_timeout=0.05, retries=1)
    store.insert_run("run-1", "pipeline", "alice", {})
    holder = _hold_write_lock(path)
    try:
        holder.execute("UPDATE runs SET graph_name = 'uncommitted'")
        record = store.get_run_record("run-1")
        assert record is not None
        assert record.graph_name == "pipeline"
    finally:
        holder.rollback()
        holder.close()


def test_is_busy_recognises_lock_errors() -> None:
    assert is_busy(sqlite3.OperationalError("database is locked"))
    assert not is_busy(sqlite3.OperationalError("no such table: runs"))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "manifest.db")
    store.insert_run("parent", "pipeline", "alice", {})
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            store.insert_run("child", "pipeline", "alice", {})
            store.insert_task_instances("child", [NewTaskInstance("t", 0)])
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store.get_run("child") is not None
    assert store.count_task_instances("child", "t") == 1
    store.update_run_status("parent", "SUCCESS")  # type: ignore[arg-type]
    assert store.task_state_summary("child") == {"t": {TaskState.PENDING.value: 1}}


def test_a_second_handle_in_this_process_does_not_blind_the_first(tmp_path: Path) -> None:
    """Opening the database again here must not drop the first handle's file locks:
    another process, believing itself alone, would delete the WAL the first handle
    reads, and the first would never see a later write."""
    from reflow.stores import RunState

    path = tmp_path / "manifest.db"
    first = SqliteStore(path)
    first.init()
    first.insert_run("r", "wf", "me", {})
    second = SqliteStore(path)
    second.init()
    code = (
        "import sys\n"
        "from reflow._types import RunState\n"
        "from reflow_store_sqlite import SqliteStore\n"
        "s = SqliteStore(sys.argv[1])\n"
        "s.update_run_status('r', RunState[sys.argv[2]])\n"
        "s.close()\n"
    )
    for state in (RunState.CANCELLED, RunState.SUCCESS):  # one process after another
        subprocess.run(
            [sys.executable, "-c", code, str(path), state.value], check=True, timeout=60
        )
        record = first.get_run_record("r")
        assert record is not None and record.status is state
    first.close()
    second.close()

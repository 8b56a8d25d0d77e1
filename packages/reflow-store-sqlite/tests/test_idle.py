"""SqliteStore.idle: the write-ahead log is copied into the database while the caller waits."""

from __future__ import annotations

import sqlite3
import time

from reflow.stores import NewTaskInstance, TaskState
from reflow_store_sqlite import SqliteStore


def _write(store: SqliteStore, count: int, start: int = 0) -> None:
    """~0.5 kB of log per instance: 3,000 fill the log past 1 MiB and stay below
    the 1,000 pages at which SQLite checkpoints inside a commit on its own."""
    store.insert_task_instances(
        "run-1",
        [
            NewTaskInstance("work", i, TaskState.SUCCESS, {"text": f"{i:0300d}"})
            for i in range(start, start + count)
        ],
    )


def _sizes(store: SqliteStore) -> tuple[int, int]:
    wal = store.path.with_name(store.path.name + "-wal")
    return store.path.stat().st_size, wal.stat().st_size


def test_idle_copies_a_large_log_into_the_database_file(store: SqliteStore) -> None:
    _write(store, 3000)
    database, wal = _sizes(store)
    assert wal >= 1 << 20 and database < wal  # the rows are in the log only
    store.idle()
    assert _sizes(store)[0] > database + (1 << 19)  # now in the database file itself
    # Nothing lost, and a reader that ignores the log sees the rows (immutable=1).
    reader = sqlite3.connect(f"{store.path.as_uri()}?immutable=1", uri=True)
    assert reader.execute("SELECT count(*) FROM task_instances").fetchone() == (3000,)
    reader.close()
    assert store.count_task_instances("run-1", "work") == 3000


def test_idle_leaves_a_small_log_for_later(store: SqliteStore) -> None:
    _write(store, 10)
    database, _ = _sizes(store)
    store.idle()  # a checkpoint now would cost a disk flush for a few pages
    assert _sizes(store)[0] == database


def test_idle_inside_a_transaction_does_nothing(store: SqliteStore) -> None:
    _write(store, 3000)
    database, _ = _sizes(store)
    with store.transaction():
        store.idle()
        assert _sizes(store)[0] == database
    store.idle()
    assert _sizes(store)[0] > database


def test_idle_does_not_wait_for_another_process_reading(store: SqliteStore) -> None:
    _write(store, 3000)
    reader = sqlite3.connect(store.path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM task_instances").fetchone()  # holds its snapshot
    _write(store, 3000, start=3000)  # past what the reader may see: not copied yet
    begun = time.monotonic()
    store.idle()
    assert time.monotonic() - begun < 1.0  # busy_timeout is 10 s: it did not wait
    reader.execute("COMMIT")
    reader.close()
    assert store.count_task_instances("run-1", "work") == 6000


def test_idle_in_a_read_only_or_unopened_store_does_nothing(store: SqliteStore) -> None:
    _write(store, 3000)  # the store stays open: its log stays
    database, _ = _sizes(store)
    SqliteStore(store.path).idle()  # never opened: nothing to do, nothing opened
    reader = SqliteStore(store.path, readonly=True)
    assert reader.count_task_instances("run-1", "work") == 3000
    reader.idle()
    reader.close()
    assert _sizes(store)[0] == database


def test_idle_copies_nothing_when_the_log_was_copied_already(store: SqliteStore) -> None:
    _write(store, 3000)
    store.idle()
    _write(store, 10, start=3000)  # a few pages more: the log file keeps its 1 MiB+ size
    database = store.path.stat()
    store.idle()  # the WAL index says ~10 pages wait: not worth a disk flush now
    after = store.path.stat()
    assert (after.st_size, after.st_mtime_ns) == (database.st_size, database.st_mtime_ns)
    assert store.count_task_instances("run-1", "work") == 3010


def test_the_wal_index_tells_how_much_of_the_log_waits(store: SqliteStore) -> None:
    from reflow_store_sqlite.store import _unchecked_log_bytes

    shm = store.path.with_name(store.path.name + "-shm")
    _write(store, 3000)
    waiting = _unchecked_log_bytes(shm)
    wal = store.path.with_name(store.path.name + "-wal").stat().st_size
    assert waiting is not None and (1 << 20) <= waiting <= wal
    store.idle()
    assert _unchecked_log_bytes(shm) == 0
    assert _unchecked_log_bytes(store.path.with_name("missing-shm")) is None

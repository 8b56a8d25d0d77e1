"""The SQLite manifest store."""

# SQL here is assembled only from module constants (state codes, column lists);
# every value from callers is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from reflow.stores import (
    TRANSITIONS,
    ActiveRunError,
    CacheCandidate,
    DuplicateError,
    InvalidTransitionError,
    NewTaskInstance,
    NewTaskSpec,
    ReadOnlyStoreError,
    ReusedHit,
    RunContext,
    RunOwner,
    RunRecord,
    RunState,
    SchemaVersionError,
    StateUpdate,
    Store,
    StoreCorruptError,
    StoreError,
    StoreMissingError,
    TaskInstanceRecord,
    TaskSpecRecord,
    TaskState,
    UnknownInstanceError,
    UnknownRunError,
    ended_states,
    sqlite_url,
    sqlstore,
)
from reflow_store_sqlite import migrations, safety
from reflow_store_sqlite._version import __version__
from reflow_store_sqlite.connection import (
    DEFAULT_BUSY_TIMEOUT,
    DEFAULT_RETRIES,
    connect,
    is_busy,
    retry_busy,
    set_journal_mode,
)
from reflow_store_sqlite.failures import store_error, unwritable_error
from reflow_store_sqlite.paths import DATABASE_NAME, default_path
from reflow_store_sqlite.schema import (
    RUN_STATE_CODES,
    RUN_STATES,
    SCHEMA_VERSION,
    SINGLETON_INDEX,
    TASK_STATE_CODES,
    TASK_STATES,
    hash_from_db,
    hash_to_db,
    task_state_code,
)

if TYPE_CHECKING:
    from reflow.stores import Config

__all__ = ["SqliteStore"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_OPEN_HERE: Counter[tuple[int, Path]] = Counter()
"""Live connections of this process, by (pid, database path).

POSIX drops every lock a process holds on a file when it closes any
descriptor of that file.  Reading a database's header with Python while
another handle of this process has it open would drop that handle's locks:
a writing process then believes it is alone, and its last connection
deletes the WAL and shared-memory files, leaving that handle reading an old
snapshot for ever.  So the header is checked only by a process's first
connection to a database.
"""

_SUCCESS = TASK_STATE_CODES[TaskState.SUCCESS]

_INSTANCE_SELECT = (
    "SELECT i.id, r.run_id, t.name, i.idx, i.state, i.job_id, i.input, i.output, "
    "i.error_text, i.identity, i.input_hash, i.output_hash, i.created_at, i.updated_at, "
    "i.cache_info FROM task_instances i JOIN runs r ON r.id = i.run "
    "JOIN task_names t ON t.id = i.task"
)
_INSERT_INSTANCE = (
    "INSERT INTO task_instances (run, task, idx, state, created_at, updated_at, "
    "identity, input_hash, input, cache_info, output, output_hash, error_text) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

_REUSE_SELECT = _INSTANCE_SELECT.replace("i.input,", "NULL,").replace("i.cache_info", "NULL")
"""Like :data:`_INSTANCE_SELECT` without the input and cache_info (find_cached_outputs)."""


def _newest(user_id: str | None, task: str = "?") -> tuple[str, tuple[str, ...]]:
    """The id of the newest successful instance of task ``task`` and identity ``w.identity``.

    One descent of the index ``task_instances_newest`` per identity, whatever
    the history; of one user's runs, the newest of that user's (older ones of
    other users are stepped over, never the user's own).  Cache hits are not in
    the index (``source`` not NULL): the instance they reuse answers for them.
    """
    mine, users = _of_user(user_id)
    join = " JOIN runs r ON r.id = n.run" if user_id is not None else ""
    return (
        f"(SELECT n.id FROM task_instances n{join} WHERE n.task = {task} "
        f"AND n.identity = w.identity AND n.state = {_SUCCESS} AND n.source IS NULL{mine} "
        "ORDER BY n.updated_at DESC, n.id DESC LIMIT 1)",
        users,
    )


def _codes(states: Iterable[TaskState]) -> str:
    return ", ".join(str(code) for code in sorted(TASK_STATE_CODES[s] for s in states))


def _run_codes(states: Iterable[RunState]) -> frozenset[int]:
    return frozenset(RUN_STATE_CODES[s] for s in states)


def _allowed_from(target: TaskState) -> str:
    return _codes(state for state, targets in TRANSITIONS.items() if target in targets)


# What each target state writes besides ``state`` and ``updated_at``, and how
# an update's fields become the statement's leading parameters.
_JOB = ("job_id = COALESCE(?, job_id), ", lambda u: (u.job_id,))
_ERROR = ("error_text = COALESCE(?, error_text), ", lambda u: (u.error_text,))
_SET: dict[TaskState, tuple[str, Callable[[StateUpdate], tuple[Any, ...]]]] = {
    TaskState.PENDING: ("", lambda u: ()),
    TaskState.SUBMITTED: _JOB,
    TaskState.RUNNING: _JOB,
    TaskState.SUCCESS: (
        "output = ?, output_hash = ?, error_text = NULL, ",
        lambda u: (sqlstore.output_to_db(u), hash_to_db(u.output_hash)),
    ),
    TaskState.FAILED: _ERROR,
    TaskState.CANCELLED: _ERROR,
    TaskState.SKIPPED: _ERROR,
    TaskState.RETRYING: (
        "output = NULL, output_hash = NULL, job_id = NULL, error_text = NULL, ",
        lambda u: (),
    ),
}
_UPDATE_SQL: dict[TaskState, str] = {
    state: (
        f"UPDATE task_instances SET state = {TASK_STATE_CODES[state]}, {clause}updated_at = ? "
        f"WHERE id = ? AND state IN ({_allowed_from(state)})"
    )
    for state, (clause, _) in _SET.items()
}


_COPY_SUCCESSES = (
    "INSERT INTO task_instances (run, task, idx, state, created_at, updated_at, identity, "
    "input_hash, output_hash, input, output, cache_info, source) "
    f"SELECT ?, s.task, s.idx, {_SUCCESS}, ?, ?, s.identity, s.input_hash, s.output_hash, "
    "s.input, s.output, ?, coalesce(s.source, s.id) "
)
"""Copies of successful instances ``s`` (named by the ``FROM`` that follows) into a run.

Parameters: the run's key, the time twice, the copies' ``cache_info``
(:func:`~reflow.stores.sqlstore.copy_info`).  Each copy keeps its source's
index, identity, inputs, output and hashes, and names the computed instance
as its ``source``.
"""


_IDLE_CHECKPOINT_BYTES = 1 << 20
"""Log bytes waiting to be copied from which :meth:`SqliteStore.idle` checkpoints."""


def _unchecked_log_bytes(shm: Path) -> int | None:
    """Bytes of the write-ahead log not yet copied into the database; ``None``: unknown.

    Read from the header of the WAL index (the ``-shm`` file), as SQLite's
    file-format documentation lays it out (host byte order): the page size
    (2 bytes at 14, 1 meaning 65,536), the last valid frame ``mxFrame`` (4
    bytes at 16) and the frames already checkpointed ``nBackfill`` (4 bytes
    at 96).  The log file itself keeps its size after a checkpoint, so its
    size alone would call for a checkpoint with nothing to copy.
    """
    try:
        with shm.open("rb") as index:
            head = index.read(100)
    except OSError:
        return None
    if len(head) < 100 or not head[12]:  # isInit
        return None
    page = int.from_bytes(head[14:16], sys.byteorder)
    frames = int.from_bytes(head[16:20], sys.byteorder)
    backfilled = int.from_bytes(head[96:100], sys.byteorder)
    return max(0, frames - backfilled) * (65536 if page == 1 else page)


class _IncompleteError(Exception):
    """Rolls back a copy of array elements that found fewer than it was asked for."""


def _complete_arrays(
    conn: sqlite3.Connection, task: int, key: Any, user_id: str | None
) -> Iterator[tuple[int, int, str]]:
    """The runs that recorded an array of ``task`` under ``key``, newest first, still whole.

    ``(run key, number of elements, run id)``; a run whose elements were
    pruned since is passed over.
    """
    mine, users = _of_user(user_id)
    candidates = conn.execute(
        "SELECT a.run, a.count, r.run_id FROM array_cache a JOIN runs r ON r.id = a.run "
        f"WHERE a.task = ? AND a.identity = ?{mine} ORDER BY a.created_at DESC",
        (task, key, *users),
    ).fetchall()
    for source, count, source_id in candidates:
        # Successes counted in the status index alone (no row read: ~0.4 ms for
        # 10,000 where idx >= 0 read each row, ~1.5 ms), less a singleton's.
        done = conn.execute(
            "SELECT (SELECT COUNT(*) FROM task_instances WHERE run = ?1 AND task = ?2 "
            f"AND state = {_SUCCESS}) - (SELECT COUNT(*) FROM task_instances WHERE run = ?1 "
            f"AND task = ?2 AND idx = -1 AND state = {_SUCCESS})",
            (source, task),
        ).fetchone()[0]
        if done == count:
            yield int(source), int(count), str(source_id)


def _of_user(user_id: str | None) -> tuple[str, tuple[str, ...]]:
    """The condition (on the run ``r``) and its value that keep one user's runs; none for any."""
    return ("", ()) if user_id is None else (" AND r.user_id = ?", (user_id,))


def _run_record(row: Sequence[Any], url: str) -> RunRecord:
    return sqlstore.run_record(row, url, RUN_STATES[row[4]])


def _instance_record(row: Sequence[Any]) -> TaskInstanceRecord:
    return sqlstore.instance_record(row, TASK_STATES[row[4]], SINGLETON_INDEX, hash_from_db)


def _writable(path: Path) -> bool:
    """Whether this user can write ``path`` and create SQLite's companion files beside it."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


class SqliteStore(Store):
    """SQLite-backed manifest store.

    One database file can serve every run of a user: processes on the same
    host may read and write it at the same time (WAL mode, a busy timeout and
    bounded retries).  On a network filesystem it uses the rollback journal
    instead, which SQLite documents for that case, and warns: several hosts
    need a server store (``reflow-store-postgres``).  The file and the
    directories the store creates are private to the owner.  An older
    database is migrated in place on first use (after a copy is saved next
    to it); a newer one is refused.

    Parameters
    ----------
    path : Path or str
        Path to the SQLite database file; created if missing (unless
        ``readonly``).
    readonly : bool
        Open without write access: writes raise :class:`ReadOnlyStoreError`.
        Readers still see what others commit.
    busy_timeout : float
        Seconds SQLite waits for another process's lock before a step is retried.
    retries : int
        Attempts of a step in all before :class:`StoreBusyError` is raised.
    create : bool
        Create the database (and its directory) when it is missing.  With
        ``False``, as commands that only read use it, a missing database
        raises :class:`StoreMissingError`, and one that this user cannot
        write (the file, or the directory SQLite keeps its ``-wal`` and
        ``-shm`` files in) is opened read-only instead of failing.

    Examples
    --------
    >>> store = SqliteStore("/tmp/reflow-doc/manifest.db")  # doctest: +SKIP
    >>> with store:  # doctest: +SKIP
    ...     store.insert_run("r1", "pipeline", "alice", {"n": 3})
    """

    def __init__(
        self,
        path: Path | str,
        readonly: bool = False,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        create: bool = True,
    ) -> None:
        self.path = Path(path).expanduser().absolute()
        self.readonly = readonly
        self.create = create
        self._readonly_reason = "it was opened with readonly=True"
        self.busy_timeout = busy_timeout
        self.retries = retries
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._lock = threading.RLock()
        self._depth = 0
        self._network = False  # on a network filesystem: no WAL there (set when opened)
        self._wal = self.path.with_name(self.path.name + "-wal")
        self._shm = self.path.with_name(self.path.name + "-shm")
        # Task name -> key, as read or inserted through this connection.  Names are
        # never deleted, so a key stays right until a rollback undoes the insert
        # that made it, or another connection is opened: both empty the map.
        self._names: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r}, readonly={self.readonly})"

    # -- construction ------------------------------------------------------------

    @classmethod
    def for_run_dir(cls, run_dir: Path | str, readonly: bool = False) -> SqliteStore:
        """Create a store at ``<run_dir>/manifest.db``.

        For callers that want a database per run directory; reflow itself
        uses :meth:`default`, one database for all runs, so results are
        reused across run directories.
        """
        return cls(Path(run_dir).expanduser() / DATABASE_NAME, readonly=readonly)

    @property
    def url(self) -> str:
        """``sqlite:///`` and the database file's absolute path: the URL that opens it again."""
        return sqlite_url(self.path)

    @classmethod
    def from_url(
        cls, url: str, config: Config | None = None, *, create: bool = True
    ) -> SqliteStore:
        """Open ``sqlite:///abs/path.db`` (an absolute path after the scheme's three slashes).

        Raises
        ------
        StoreError
            When the URL is not of that form.
        """
        prefix = "sqlite://"
        rest = url[len(prefix) :] if url.lower().startswith(prefix) else ""
        if not rest.startswith("/") or rest.startswith("//"):
            raise StoreError(
                f"The store URL {url!r} is not an SQLite URL; write sqlite:///absolute/path.db "
                "(three slashes, then the file's absolute path)."
            )
        return cls(Path(rest), create=create)

    @classmethod
    def default_path(cls, config: Config | None = None) -> Path:
        """Return the shared manifest path (see :func:`reflow_store_sqlite.default_path`).

        ``REFLOW_STORE_PATH``, else ``[store] path`` from the configuration,
        else ``manifest.db`` in the user cache directory (typically
        ``~/.cache/reflow/manifest.db`` on Linux).
        """
        return default_path(config)

    @classmethod
    def default(cls, config: Config | None = None, readonly: bool = False) -> SqliteStore:
        """Create a store at the shared default manifest path."""
        return cls(default_path(config), readonly=readonly)

    # -- connection, transactions, retries ---------------------------------------

    def init(self) -> None:
        """Open the database, creating or migrating its schema if needed."""
        self._connection()

    def close(self) -> None:
        """Close the connection; the next call opens a new one."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
                _OPEN_HERE[(self._pid, self.path)] -= 1
            self._conn = None
            self._depth = 0
            self._names.clear()

    def _connection(self) -> sqlite3.Connection:
        conn = self._conn
        if conn is not None and self._pid == os.getpid():
            return conn
        with self._lock:
            if self._conn is None or self._pid != os.getpid():
                # After fork the parent's connection must not be touched, not even closed.
                self._conn = None
                self._depth = 0
                self._names.clear()
                self._conn = self._open()
                self._pid = os.getpid()
                _OPEN_HERE[(self._pid, self.path)] += 1
            return self._conn

    def _retry(self, step: Callable[[], T]) -> T:
        try:
            return retry_busy(
                step, path=self.path, attempts=self.retries, busy_timeout=self.busy_timeout
            )
        except sqlite3.Error as exc:
            error = store_error(exc, self.path)
            if error is None:
                raise
            raise error from exc

    def _open(self) -> sqlite3.Connection:
        path = self.path
        if self.readonly or not self.create:
            if not path.exists():
                raise StoreMissingError(
                    f"There is no manifest database at {path}; reflow has not created one "
                    "(this command only reads). Check --store-path, REFLOW_STORE_PATH and "
                    "[store] path, or submit a run to create it."
                )
            if not self.readonly and path.is_file() and not _writable(path):
                # Root's access() ignores mode bits, but not read-only mounts or chattr +i.
                self.readonly = True
                self._readonly_reason = "you cannot write the file or its directory"
                logger.info(
                    "Opening the manifest database %s read-only: %s", path, self._readonly_reason
                )
        else:
            safety.prepare_location(path)
            if not _writable(path):
                # SQLite would open it read-only and fail at the first write, or not at all.
                raise unwritable_error(path, "no write access")
        if _OPEN_HERE[(os.getpid(), path)] <= 0:
            safety.check_database_file(path)
        if not self.readonly:
            self._network = safety.warn_if_network_filesystem(path)
        conn = self._retry(
            lambda: connect(path, readonly=self.readonly, busy_timeout=self.busy_timeout)
        )
        try:
            self._retry(lambda: self._prepare_schema(conn))
        except BaseException:
            conn.close()
            raise
        return conn

    def _read_version(self, conn: sqlite3.Connection) -> int:
        try:
            version = migrations.read_version(conn)
        except migrations.ForeignDatabaseError as exc:
            raise StoreCorruptError(safety.foreign_message(self.path, str(exc))) from exc
        if version > SCHEMA_VERSION:
            raise SchemaVersionError(
                sqlstore.schema_too_new(
                    f"The manifest database {self.path}",
                    version,
                    f"reflow-store-sqlite {__version__}",
                    SCHEMA_VERSION,
                    also=", or set REFLOW_STORE_PATH to another database",
                    unchanged="file",
                )
            )
        return version

    def _prepare_schema(self, conn: sqlite3.Connection) -> None:
        version = self._read_version(conn)
        if self.readonly:
            if version < SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"The manifest database {self.path} has schema version {version} and "
                    f"needs migrating to version {SCHEMA_VERSION}, which a read-only store "
                    "cannot do. Open it once without readonly (for example by submitting a "
                    "run) to migrate it."
                )
            return
        set_journal_mode(conn, self.path, network=self._network)
        if version == SCHEMA_VERSION:
            return
        backup = self._backup(conn, version) if version > 0 else None
        current = version
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = self._read_version(conn)  # another process may have migrated it
            applied = []
            if current < SCHEMA_VERSION:
                applied = migrations.apply_migrations(conn, current)
            conn.execute("COMMIT")
        except BaseException as exc:
            self._names.clear()
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            busy = isinstance(exc, sqlite3.OperationalError) and is_busy(exc)
            if busy or isinstance(exc, StoreError) or not isinstance(exc, Exception):
                raise
            raise StoreError(
                f"Migrating the manifest database {self.path} from schema version {current} "
                f"to {SCHEMA_VERSION} failed: {exc}. The database was not changed"
                + (f"; a copy is at {backup}" if backup else "")
                + ". Report this with the message above, or set REFLOW_STORE_PATH to a new "
                "database to carry on without its history."
            ) from exc
        if applied and current > 0:
            logger.info(
                "Migrated the manifest database %s from schema version %d to %d",
                self.path,
                current,
                SCHEMA_VERSION,
            )

    def _backup(self, conn: sqlite3.Connection, version: int) -> Path | None:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        names = (f"schema-v{version}", f"schema-v{version}-{stamp}-{os.getpid()}")
        try:
            for name in names:
                target = self.path.with_name(f"{self.path.name}.{name}.bak")
                try:
                    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    break
                except FileExistsError:
                    continue
            else:
                return None
        except OSError as exc:
            logger.warning("Cannot save a copy of %s before migrating it: %s", self.path, exc)
            return None
        os.close(fd)
        try:
            conn.execute("VACUUM INTO ?", (str(target),))
        except sqlite3.Error as exc:
            target.unlink(missing_ok=True)
            logger.warning("Cannot save a copy of %s before migrating it: %s", self.path, exc)
            return None
        logger.info("Saved a copy of %s (schema version %d) at %s", self.path, version, target)
        return target

    def _check_writable(self) -> None:
        if not self.create:
            self._connection()  # opening finds out whether this user can write the file
        if self.readonly:
            raise ReadOnlyStoreError(
                f"The manifest database {self.path} is open read-only ({self._readonly_reason}), "
                "and this command changes it: run it as a user who can write the file and its "
                "directory, or set REFLOW_STORE_PATH (or --store-path) to a store you can write."
            )

    def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in a write transaction: its own, or a savepoint of the open one."""
        self._check_writable()
        with self._lock:
            conn = self._connection()
            if self._depth:
                return self._in_savepoint(conn, work)

            def attempt() -> T:
                conn.execute("BEGIN IMMEDIATE")
                self._depth = 1
                try:
                    result = work(conn)
                    conn.execute("COMMIT")
                    return result
                except BaseException:
                    self._names.clear()  # SQLite may have rolled back by itself
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                finally:
                    self._depth = 0

            return self._retry(attempt)

    def _in_savepoint(
        self, conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]
    ) -> T:
        self._depth += 1
        name = f"reflow_{self._depth}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            result = work(conn)
        except BaseException:
            self._names.clear()
            if conn.in_transaction:  # SQLite may have rolled everything back already
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
            raise
        finally:
            self._depth -= 1
        conn.execute(f"RELEASE {name}")
        return result

    def _read(self, work: Callable[[sqlite3.Connection], T], *, snapshot: bool = False) -> T:
        """Run ``work`` for reading; ``snapshot`` runs it in one read transaction."""
        with self._lock:
            conn = self._connection()
            if not snapshot or self._depth:
                return self._retry(lambda: work(conn))

            def attempt() -> T:
                conn.execute("BEGIN")
                try:
                    return work(conn)
                finally:
                    if conn.in_transaction:
                        conn.execute("COMMIT")

            return self._retry(attempt)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one transaction (``with store.transaction(): ...``).

        The block holds the database's write lock until it ends, so keep it
        short: do slow work (scheduler calls, file I/O) before or after it.
        """
        self._check_writable()
        with self._lock:
            conn = self._connection()
            if self._depth:
                self._depth += 1
                name = f"reflow_{self._depth}"
                conn.execute(f"SAVEPOINT {name}")
                try:
                    yield
                except BaseException:
                    self._names.clear()
                    if conn.in_transaction:
                        conn.execute(f"ROLLBACK TO {name}")
                        conn.execute(f"RELEASE {name}")
                    raise
                else:
                    conn.execute(f"RELEASE {name}")
                finally:
                    self._depth -= 1
                return
            self._retry(lambda: conn.execute("BEGIN IMMEDIATE"))
            self._depth = 1
            try:
                yield
                self._retry(lambda: conn.execute("COMMIT"))
            except BaseException:
                self._names.clear()
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                self._depth = 0

    # -- key lookups ----------------------------------------------------------------

    def _unknown_run(self, run_id: str) -> UnknownRunError:
        return UnknownRunError(
            f"No run {run_id!r} in the manifest store {self.path}. Check the run id, and that "
            "REFLOW_STORE_PATH points at the store the run was submitted with."
        )

    def _run_key(self, conn: sqlite3.Connection, run_id: str) -> int:
        row = conn.execute("SELECT id FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise self._unknown_run(run_id)
        return int(row[0])

    def _task_key(self, conn: sqlite3.Connection, task_name: str) -> int | None:
        """The key of ``task_name`` (``None``: no such task yet), read once per connection."""
        key = self._names.get(task_name)
        if key is None:
            row = conn.execute("SELECT id FROM task_names WHERE name = ?", (task_name,)).fetchone()
            if row is None:
                return None  # not remembered: another process may add it
            key = self._names[task_name] = int(row[0])
        return key

    def _ensure_task_keys(self, conn: sqlite3.Connection, names: Iterable[str]) -> dict[str, int]:
        keys: dict[str, int] = {}
        for name in names:
            if name in keys:
                continue
            key = self._task_key(conn, name)
            if key is None:
                cursor = conn.execute("INSERT INTO task_names (name) VALUES (?)", (name,))
                key = self._names[name] = int(cursor.lastrowid or 0)
            keys[name] = key
        return keys

    # -- runs -----------------------------------------------------------------------

    def insert_run(
        self,
        run_id: str,
        graph_name: str,
        user_id: str,
        parameters: dict[str, Any],
        *,
        executor: str = "",
        executor_options: dict[str, Any] | None = None,
        context: RunContext | None = None,
    ) -> None:
        """Insert a new run with status ``RUNNING``; see :meth:`Store.insert_run`."""
        encoded = (sqlstore.dict_to_db(parameters), sqlstore.dict_to_db(executor_options))
        values = (
            run_id,
            graph_name,
            user_id,
            sqlstore.now_ms(),
            RUN_STATE_CODES[RunState.RUNNING],
            encoded[0],
            executor,
            encoded[1],
            *sqlstore.context_to_db(context),
        )
        marks = ", ".join("?" * len(values))

        def work(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(f"INSERT INTO runs ({sqlstore.RUN_COLUMNS}) VALUES ({marks})", values)
            except sqlite3.IntegrityError as exc:
                raise DuplicateError(
                    f"A run {run_id!r} already exists in the manifest store {self.path}; "
                    "run ids are unique. Submit with a new run id."
                ) from exc

        self._write(work)

    def get_run_record(self, run_id: str) -> RunRecord | None:
        """Return one run, or ``None``."""
        row = self._read(
            lambda c: c.execute(
                f"SELECT {sqlstore.RUN_SELECT} FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
        )
        return None if row is None else _run_record(row, self.url)

    def list_run_records(
        self, graph_name: str | None = None, user_id: str | None = None
    ) -> list[RunRecord]:
        """Return runs, newest first, optionally filtered by workflow and user."""
        return self._run_records(graph_name, user_id)

    def list_active_run_records(self, graph_name: str, user_id: str) -> list[RunRecord]:
        """The active runs of a workflow and user; see :meth:`Store.list_active_run_records`."""
        return self._run_records(graph_name, user_id, RunState.active())

    def _run_records(
        self,
        graph_name: str | None,
        user_id: str | None,
        states: Iterable[RunState] | None = None,
    ) -> list[RunRecord]:
        clauses: list[str] = []
        params: list[Any] = []
        if graph_name is not None:
            clauses.append("graph_name = ?")
            params.append(graph_name)
        if user_id is not None:
            clauses.append("user_id = ?")
            params.append(user_id)
        if states is not None:  # in the query: only these runs' parameters are decoded
            codes = sorted(RUN_STATE_CODES[s] for s in states)
            clauses.append(f"status IN ({', '.join(['?'] * len(codes))})")
            params.extend(codes)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._read(
            lambda c: c.execute(
                f"SELECT {sqlstore.RUN_SELECT} FROM runs{where} ORDER BY created_at DESC, id DESC",
                params,
            ).fetchall()
        )
        url = self.url
        return [_run_record(row, url) for row in rows]

    def update_run_status(self, run_id: str, status: RunState) -> None:
        """Set the status of a run."""
        self._update_run(run_id, "status = ?", (RUN_STATE_CODES[RunState(status)],))

    def set_run_owner(self, run_id: str, owner: RunOwner) -> None:
        """Record who advances a run and stamp its heartbeat; see :meth:`Store.set_run_owner`."""
        self._update_run(
            run_id,
            "owner = ?, heartbeat_at = ?",
            (sqlstore.dict_to_db(owner.to_public_dict()), sqlstore.now_ms()),
        )

    def heartbeat_run(self, run_id: str) -> None:
        """Stamp a run's heartbeat now; see :meth:`Store.heartbeat_run`."""
        self._update_run(run_id, "heartbeat_at = ?", (sqlstore.now_ms(),))

    def _update_run(self, run_id: str, assignments: str, values: tuple[Any, ...]) -> None:
        def work(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                f"UPDATE runs SET {assignments} WHERE run_id = ?", (*values, run_id)
            )
            if cursor.rowcount == 0:
                raise self._unknown_run(run_id)

        self._write(work)

    def delete_run(self, run_id: str) -> int:
        """Delete an ended run and everything recorded with it; see :meth:`Store.delete_run`."""
        active = _run_codes(RunState.active())

        def work(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT id, status FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is None:
                raise self._unknown_run(run_id)
            run, status = int(row[0]), int(row[1])
            if status in active:
                raise ActiveRunError(
                    f"Run {run_id} is {RUN_STATES[status].value}, so it is not deleted. "
                    "Wait for it to end, or cancel it first."
                )
            # The hits of this run's results become results of their own (they
            # hold the same outputs): the cache keeps them.  A hit is newer than
            # its source, so only later rows are read.
            conn.execute(
                "UPDATE task_instances SET source = NULL WHERE id > "
                "(SELECT coalesce(min(id), 0) FROM task_instances WHERE run = ?1) "
                "AND source IN "
                f"(SELECT id FROM task_instances WHERE run = ?1 AND state = {_SUCCESS})",
                (run,),
            )
            deleted = conn.execute("DELETE FROM task_instances WHERE run = ?", (run,)).rowcount
            for table in ("task_dependencies", "task_specs", "array_cache"):
                conn.execute(f"DELETE FROM {table} WHERE run = ?", (run,))
            conn.execute("DELETE FROM runs WHERE id = ?", (run,))
            return int(deleted)

        return self._write(work)

    def describe(self) -> dict[str, Any]:
        """The schema version, the counts, the file and its size on disk (with its ``-wal``)."""

        def work(conn: sqlite3.Connection) -> tuple[int, int, int]:
            version = migrations.read_version(conn)
            runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
            instances = conn.execute("SELECT COUNT(*) FROM task_instances").fetchone()[0]
            return version, int(runs), int(instances)

        version, runs, instances = self._read(work, snapshot=True)
        files = [self.path, self.path.with_name(self.path.name + "-wal")]
        size = sum(f.stat().st_size for f in files if f.exists())
        return {
            "schema_version": version,
            "runs": runs,
            "instances": instances,
            "size_bytes": size,
            "location": str(self.path),
        }

    def compact(self) -> None:
        """Rebuild the database file without the space of deleted rows (``VACUUM``).

        Then checkpoint and truncate the write-ahead log, so the file sizes
        on disk drop.  Waits (with retries) while other processes write.
        """
        self._check_writable()
        with self._lock:
            if self._depth:
                raise StoreError(
                    f"Cannot compact the manifest store {self.path} inside a transaction; "
                    "call compact() after the transaction has ended."
                )
            conn = self._connection()
            self._retry(lambda: conn.execute("VACUUM"))
            self._retry(lambda: conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())

    def idle(self) -> None:
        """Copy the write-ahead log into the database file now, while the caller waits.

        SQLite does it itself inside the commit that finds the log past 1,000
        pages (~4 MB): ~10 ms of a run that copies 10,000 results, on that
        run's path.  Done here once 1 MiB of the log waits to be copied (the
        WAL index says how much: :func:`_unchecked_log_bytes`), it costs the
        run nothing when the caller would wait longer anyway.  ``PASSIVE``: never
        waits for readers or writers of other processes (what they hold stays
        for a later checkpoint); nothing in a read-only store, on a network
        filesystem (no log there) or inside a transaction.
        """
        conn = self._conn
        if (
            conn is None
            or self._pid != os.getpid()
            or self.readonly
            or self._network
            or self._depth
            or conn.in_transaction
        ):
            return
        waiting = _unchecked_log_bytes(self._shm)
        if waiting is None:  # no readable index: the log's size, an upper bound
            try:
                waiting = self._wal.stat().st_size
            except OSError:
                return
        if waiting < _IDLE_CHECKPOINT_BYTES:
            return
        with self._lock:
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as exc:  # left for SQLite's own checkpoint at a commit
                logger.debug("No checkpoint of %s now: %s", self.path, exc)

    # -- task specifications --------------------------------------------------------

    def insert_task_spec(
        self,
        run_id: str,
        task_name: str,
        is_array: bool,
        config_json: dict[str, Any],
        dependencies: Sequence[str],
    ) -> None:
        """Persist one task specification and its dependencies (replacing earlier ones)."""
        config = sqlstore.dict_to_db(config_json)
        deps = sorted(set(dependencies))

        def work(conn: sqlite3.Connection) -> None:
            run = self._run_key(conn, run_id)
            keys = self._ensure_task_keys(conn, [task_name, *deps])
            task = keys[task_name]
            conn.execute(
                "INSERT OR REPLACE INTO task_specs (run, task, is_array, config) "
                "VALUES (?, ?, ?, ?)",
                (run, task, int(bool(is_array)), config),
            )
            conn.execute("DELETE FROM task_dependencies WHERE run = ? AND task = ?", (run, task))
            conn.executemany(
                "INSERT INTO task_dependencies (run, task, depends_on) VALUES (?, ?, ?)",
                [(run, task, keys[dep]) for dep in deps],
            )

        self._write(work)

    def insert_task_specs(self, run_id: str, specs: Sequence[NewTaskSpec]) -> None:
        """Persist many task specifications at once; see :meth:`Store.insert_task_specs`.

        Three statements for the whole run (a run of 200 tasks made ~1,000 before).
        """
        last = {spec.task_name: spec for spec in specs}  # a task given twice keeps the last
        rows = [
            (spec.task_name, int(bool(spec.is_array)), sqlstore.dict_to_db(spec.config))
            for spec in last.values()
        ]
        deps = {name: sorted(set(spec.dependencies)) for name, spec in last.items()}

        def work(conn: sqlite3.Connection) -> None:
            run = self._run_key(conn, run_id)
            keys = self._ensure_task_keys(conn, [*last, *(d for ds in deps.values() for d in ds)])
            conn.executemany(
                "INSERT OR REPLACE INTO task_specs (run, task, is_array, config) "
                "VALUES (?, ?, ?, ?)",
                [(run, keys[name], is_array, config) for name, is_array, config in rows],
            )
            conn.executemany(
                "DELETE FROM task_dependencies WHERE run = ? AND task = ?",
                [(run, keys[name]) for name in last],
            )
            conn.executemany(
                "INSERT INTO task_dependencies (run, task, depends_on) VALUES (?, ?, ?)",
                [(run, keys[name], keys[dep]) for name, ds in deps.items() for dep in ds],
            )

        self._write(work)

    def _spec_records(
        self, conn: sqlite3.Connection, run_id: str, task_name: str | None
    ) -> list[TaskSpecRecord]:
        where = "r.run_id = ?" + (" AND t.name = ?" if task_name is not None else "")
        params = (run_id,) if task_name is None else (run_id, task_name)
        specs = conn.execute(
            "SELECT t.name, s.is_array, s.config FROM task_specs s "
            "JOIN runs r ON r.id = s.run JOIN task_names t ON t.id = s.task "
            f"WHERE {where} ORDER BY t.name",
            params,
        ).fetchall()
        deps: dict[str, list[str]] = {}
        for name, dep in conn.execute(
            "SELECT t.name, d.name FROM task_dependencies x JOIN runs r ON r.id = x.run "
            "JOIN task_names t ON t.id = x.task JOIN task_names d ON d.id = x.depends_on "
            f"WHERE {where} ORDER BY t.name, d.name",
            params,
        ):
            deps.setdefault(name, []).append(dep)
        return [
            TaskSpecRecord(
                run_id=run_id,
                task_name=name,
                is_array=bool(is_array),
                config=sqlstore.dict_from_db(config),
                dependencies=deps.get(name, []),
            )
            for name, is_array, config in specs
        ]

    def get_task_spec_record(self, run_id: str, task_name: str) -> TaskSpecRecord | None:
        """Return one task specification, or ``None``."""
        records = self._read(lambda c: self._spec_records(c, run_id, task_name), snapshot=True)
        return records[0] if records else None

    def list_task_spec_records(self, run_id: str) -> list[TaskSpecRecord]:
        """Return the task specifications of a run, sorted by task name."""
        return self._read(lambda c: self._spec_records(c, run_id, None), snapshot=True)

    def list_task_dependencies(self, run_id: str, task_name: str) -> list[str]:
        """Return the names of the tasks ``task_name`` depends on, sorted."""
        rows = self._read(
            lambda c: c.execute(
                "SELECT d.name FROM task_dependencies x JOIN runs r ON r.id = x.run "
                "JOIN task_names t ON t.id = x.task JOIN task_names d ON d.id = x.depends_on "
                "WHERE r.run_id = ? AND t.name = ? ORDER BY d.name",
                (run_id, task_name),
            ).fetchall()
        )
        return [row[0] for row in rows]

    # -- task instances -------------------------------------------------------------

    def insert_task_instances(
        self, run_id: str, instances: Iterable[NewTaskInstance]
    ) -> list[int]:
        """Insert many instances of one run in one transaction; return their ids in order."""
        items = list(instances)
        return self._insert_instances(run_id, items, [(None, None, None)] * len(items), None)

    def insert_ended_instances(
        self, run_id: str, instances: Sequence[NewTaskInstance], ends: Sequence[StateUpdate]
    ) -> list[int]:
        """Insert instances in the state their update ends them in (see the Store method).

        One row each, written once: no UPDATE after the INSERT.
        """
        states = ended_states(instances, ends)
        cells = [
            (sqlstore.output_to_db(update), hash_to_db(update.output_hash), None)
            if state is TaskState.SUCCESS
            else (None, None, update.error_text)
            for state, update in zip(states, ends, strict=True)
        ]
        codes = [TASK_STATE_CODES[state] for state in states]
        return self._insert_instances(run_id, instances, cells, codes)

    def _insert_instances(
        self,
        run_id: str,
        items: Sequence[NewTaskInstance],
        ended: Sequence[tuple[Any, Any, Any]],
        states: Sequence[int] | None,
    ) -> list[int]:
        """Insert ``items`` with their (output, output hash, error text); their ids in order.

        ``states`` are the rows' state codes, when not the items' own states.
        """
        codes = [task_state_code(item.state) for item in items] if states is None else states
        if any(item.array_index is not None and item.array_index < 0 for item in items):
            for item in items:  # raises the error that names the negative index
                sqlstore.stored_index(item.array_index, SINGLETON_INDEX)
        names = list(dict.fromkeys(item.task_name for item in items))
        dict_to_db = sqlstore.dict_to_db

        def work(conn: sqlite3.Connection) -> list[int]:
            run = self._run_key(conn, run_id)
            keys = self._ensure_task_keys(conn, names)
            now = sqlstore.now_ms()
            created = sqlstore.CreatedMs(now)
            # One pass per row (10,000 rows of an array in one batch): the same
            # encodings as sqlstore.info_to_db and stored_index, inlined.
            rows = [
                (
                    run,
                    keys[item.task_name],
                    SINGLETON_INDEX if item.array_index is None else item.array_index,
                    code,
                    created(item),
                    now,
                    hash_to_db(item.identity),
                    hash_to_db(item.input_hash),
                    dict_to_db(item.input),
                    item.cache_info_text
                    if item.cache_info_text is not None
                    else dict_to_db(item.cache_info),
                    *cells,
                )
                for item, cells, code in zip(items, ended, codes, strict=True)
            ]
            if len(rows) == 1:  # one task of a chain: its id without reading the sequence
                try:
                    cursor = conn.execute(_INSERT_INSTANCE, rows[0])
                except sqlite3.IntegrityError as exc:
                    raise self._insert_error(conn, run_id, run, keys, items, exc) from exc
                return [int(cursor.lastrowid or 0)]
            row = conn.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'task_instances'"
            ).fetchone()
            first = (int(row[0]) if row else 0) + 1
            try:
                conn.executemany(_INSERT_INSTANCE, rows)
            except sqlite3.IntegrityError as exc:
                raise self._insert_error(conn, run_id, run, keys, items, exc) from exc
            ids = self._new_ids(conn, run, first, [(r[1], r[2]) for r in rows], len(rows))
            return [iid for iid in ids if iid is not None]  # every row was inserted

        return self._write(work)

    @staticmethod
    def _new_ids(
        conn: sqlite3.Connection,
        run: int,
        first: int,
        rows: Sequence[tuple[int, int]],
        inserted: int,
    ) -> list[int | None]:
        """Ids of rows ``(task key, idx)`` a batch just inserted from id ``first`` on.

        ``inserted`` is how many rows the batch inserted: when all of them, the
        ids are usually consecutive and nothing is looked up.  A row the batch
        did not insert has ``None`` (the key is unique: a row found is the
        batch's own).
        """
        if not rows:
            return []
        last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
        if inserted == len(rows) and last == first + len(rows) - 1:
            return list(range(first, last + 1))
        ids: list[int | None] = []
        for task, idx in rows:
            row = conn.execute(
                "SELECT id FROM task_instances WHERE run = ? AND task = ? AND idx = ?",
                (run, task, idx),
            ).fetchone()
            ids.append(None if row is None else int(row[0]))
        return ids

    def insert_reused_instances(
        self, run_id: str, instances: Sequence[NewTaskInstance], sources: Sequence[int]
    ) -> list[int | None]:
        """Insert cache hits SUCCESS with their sources' outputs (see the Store method).

        One ``executemany`` whose rows read their source's output by id: the
        output is copied inside SQLite, never decoded, and there is no UPDATE
        afterwards.
        """
        if len(instances) != len(sources):
            raise ValueError(f"{len(instances)} instances but {len(sources)} sources")
        if not instances:
            return []
        encoded = [
            (
                item.task_name,
                sqlstore.stored_index(item.array_index, SINGLETON_INDEX),
                hash_to_db(item.identity),
                hash_to_db(item.input_hash),
                sqlstore.dict_to_db(item.input),
                sqlstore.info_to_db(item),
                source,
            )
            for item, source in zip(instances, sources, strict=True)
        ]

        def work(conn: sqlite3.Connection) -> list[int | None]:
            run = self._run_key(conn, run_id)
            keys = self._ensure_task_keys(conn, (row[0] for row in encoded))
            # The sources still SUCCESS (a deleted run's are gone): read in this
            # write transaction, so none can go before the insert below.
            alive: set[int] = set()
            wanted = list({row[-1] for row in encoded})
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                alive.update(
                    int(found)
                    for (found,) in conn.execute(
                        f"SELECT id FROM task_instances WHERE state = {_SUCCESS} "
                        f"AND id IN ({', '.join('?' * len(chunk))})",
                        chunk,
                    )
                )
            row = conn.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'task_instances'"
            ).fetchone()
            first = (int(row[0]) if row else 0) + 1
            now = sqlstore.now_ms()
            kept = [
                (run, keys[name], idx, now, now, *rest)
                for name, idx, *rest in encoded
                if rest[-1] in alive
            ]
            try:
                # VALUES with a look-up of the source by id: an INSERT ... SELECT
                # from the same table copies through a temporary table and
                # was several times slower here.
                conn.executemany(
                    "INSERT INTO task_instances (run, task, idx, state, created_at, updated_at, "
                    "identity, input_hash, input, cache_info, output, output_hash, source) "
                    f"VALUES (?1, ?2, ?3, {_SUCCESS}, ?4, ?5, ?6, ?7, ?8, ?9, "
                    "(SELECT output FROM task_instances WHERE id = ?10), "
                    "(SELECT output_hash FROM task_instances WHERE id = ?10), "
                    "(SELECT coalesce(source, id) FROM task_instances WHERE id = ?10))",
                    kept,
                )
            except sqlite3.IntegrityError as exc:
                raise self._insert_error(conn, run_id, run, keys, instances, exc) from exc
            rows = [(keys[name], idx) for name, idx, *_ in encoded]
            if len(kept) == len(rows):
                return self._new_ids(conn, run, first, rows, len(kept))
            return [
                self._new_ids(conn, run, first, [key], 0)[0] if row[-1] in alive else None
                for key, row in zip(rows, encoded, strict=True)
            ]

        return self._write(work)

    def _insert_error(
        self,
        conn: sqlite3.Connection,
        run_id: str,
        run: int,
        keys: Mapping[str, int],
        items: Sequence[NewTaskInstance],
        exc: sqlite3.IntegrityError,
    ) -> StoreError:
        seen: set[tuple[str, int | None]] = set()
        for item in items:
            key = (item.task_name, item.array_index)
            exists = conn.execute(
                "SELECT 1 FROM task_instances WHERE run = ? AND task = ? AND idx = ?",
                (
                    run,
                    keys[item.task_name],
                    sqlstore.stored_index(item.array_index, SINGLETON_INDEX),
                ),
            ).fetchone()
            if key in seen or exists is not None:
                return DuplicateError(
                    f"Task instance {sqlstore.instance_label(*key)} of run {run_id!r} already "
                    f"exists in the manifest store {self.path} (each run, task and array index "
                    "is stored once); nothing of this batch was inserted. Insert only new "
                    "instances, or update the existing one."
                )
            seen.add(key)
        return StoreError(
            f"Inserting task instances of run {run_id!r} into the manifest store {self.path} "
            f"failed: {exc}. Nothing of this batch was inserted."
        )

    def get_task_instance_record(
        self, run_id: str, task_name: str, array_index: int | None
    ) -> TaskInstanceRecord | None:
        """Return one instance by run, task and array index, or ``None``."""
        idx = sqlstore.stored_index(array_index, SINGLETON_INDEX)
        row = self._read(
            lambda c: c.execute(
                f"{_INSTANCE_SELECT} WHERE r.run_id = ? AND t.name = ? AND i.idx = ?",
                (run_id, task_name, idx),
            ).fetchone()
        )
        return None if row is None else _instance_record(row)

    def get_task_instance_record_by_id(self, instance_id: int) -> TaskInstanceRecord | None:
        """Return one instance by id, or ``None``."""
        row = self._read(
            lambda c: c.execute(f"{_INSTANCE_SELECT} WHERE i.id = ?", (instance_id,)).fetchone()
        )
        return None if row is None else _instance_record(row)

    def list_task_instance_records(
        self,
        run_id: str,
        task_name: str | None = None,
        states: Iterable[TaskState] | None = None,
    ) -> list[TaskInstanceRecord]:
        """Return the instances of a run, sorted by task name and array index."""
        return self._instance_records(run_id, task_name, states, None)

    def first_task_instance_records(
        self,
        run_id: str,
        task_name: str | None = None,
        states: Iterable[TaskState] | None = None,
        *,
        limit: int,
    ) -> list[TaskInstanceRecord]:
        """Return at most ``limit`` instances of a run, in one query that stops early."""
        return self._instance_records(run_id, task_name, states, max(int(limit), 0))

    def _instance_records(
        self,
        run_id: str,
        task_name: str | None,
        states: Iterable[TaskState] | None,
        limit: int | None,
    ) -> list[TaskInstanceRecord]:
        where = "r.run_id = ?"
        params: list[Any] = [run_id]
        if task_name is not None:
            where += " AND t.name = ?"
            params.append(task_name)
        if states is not None:
            where += f" AND i.state IN ({_codes({TaskState(s) for s in states})})"
        tail = ""
        if limit is not None:
            tail = " LIMIT ?"
            params.append(limit)
        rows = self._read(
            lambda c: c.execute(
                f"{_INSTANCE_SELECT} WHERE {where} ORDER BY t.name, i.idx{tail}", params
            ).fetchall()
        )
        return [_instance_record(row) for row in rows]

    def count_task_instances(self, run_id: str, task_name: str) -> int:
        """Return how many instances a task has in a run."""
        row = self._read(
            lambda c: c.execute(
                "SELECT count(*) FROM task_instances WHERE "
                "run = (SELECT id FROM runs WHERE run_id = ?) AND "
                "task = (SELECT id FROM task_names WHERE name = ?)",
                (run_id, task_name),
            ).fetchone()
        )
        return int(row[0])

    def task_state_summary(self, run_id: str) -> dict[str, dict[str, int]]:
        """Count the instances of a run per task and state."""
        rows = self._read(
            lambda c: c.execute(
                "SELECT t.name, g.state, g.n FROM ("
                "  SELECT task, state, count(*) AS n FROM task_instances"
                "  WHERE run = (SELECT id FROM runs WHERE run_id = ?) GROUP BY task, state"
                ") g JOIN task_names t ON t.id = g.task",
                (run_id,),
            ).fetchall()
        )
        summary: dict[str, dict[str, int]] = {}
        for name, state, count in rows:
            summary.setdefault(name, {})[TASK_STATES[state].value] = int(count)
        return summary

    # -- outputs --------------------------------------------------------------------

    def _task_rows(self, run_id: str, task_name: str, sql: str) -> list[Any]:
        def work(conn: sqlite3.Connection) -> list[Any]:
            row = conn.execute("SELECT id FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            task = self._task_key(conn, task_name)
            if row is None or task is None:
                return []
            return conn.execute(sql, (row[0], task)).fetchall()

        return self._read(work)

    def get_singleton_output(self, run_id: str, task_name: str) -> Any:
        """Return the output of a successful singleton task, or ``None``."""
        rows = self._task_rows(
            run_id,
            task_name,
            "SELECT output FROM task_instances WHERE run = ? AND task = ? "
            f"AND idx = {SINGLETON_INDEX} AND state = {_SUCCESS}",
        )
        return sqlstore.value_from_db(rows[0][0]) if rows else None

    def get_array_outputs(self, run_id: str, task_name: str) -> list[Any]:
        """Return the outputs of the successful elements of an array task, by index."""
        rows = self._task_rows(
            run_id,
            task_name,
            "SELECT output FROM task_instances WHERE run = ? AND task = ? "
            f"AND idx >= 0 AND state = {_SUCCESS} ORDER BY idx",
        )
        return sqlstore.values_from_db([row[0] for row in rows])

    def get_output_hash(self, run_id: str, task_name: str, array_index: int | None = None) -> str:
        """Return the output hash of one successful instance, ``""`` if there is none."""
        rows = self._task_rows(
            run_id,
            task_name,
            "SELECT output_hash FROM task_instances WHERE run = ? AND task = ? "
            f"AND idx = {sqlstore.stored_index(array_index, SINGLETON_INDEX)} "
            f"AND state = {_SUCCESS}",
        )
        return hash_from_db(rows[0][0]) if rows else ""

    def get_all_output_hashes(self, run_id: str, task_name: str) -> list[str]:
        """Return the output hashes of all successful instances of a task, by index."""
        rows = self._task_rows(
            run_id,
            task_name,
            "SELECT output_hash FROM task_instances WHERE run = ? AND task = ? "
            f"AND state = {_SUCCESS} ORDER BY idx",
        )
        return [hash_from_db(row[0]) for row in rows]

    def dependency_is_satisfied(self, run_id: str, task_name: str) -> bool:
        """Return whether a task has instances and all of them succeeded."""
        rows = self._task_rows(
            run_id,
            task_name,
            f"SELECT count(*), total(state = {_SUCCESS}) FROM task_instances "
            "WHERE run = ? AND task = ?",
        )
        if not rows:
            return False
        total, ok = rows[0]
        return bool(total) and int(ok) == int(total)

    # -- state transitions ----------------------------------------------------------

    def _transition_error(
        self, conn: sqlite3.Connection, update: StateUpdate
    ) -> InvalidTransitionError | UnknownInstanceError:
        row = conn.execute(
            "SELECT state FROM task_instances WHERE id = ?", (update.instance_id,)
        ).fetchone()
        if row is None:
            return UnknownInstanceError(
                f"No task instance with id {update.instance_id} in the manifest store "
                f"{self.path}; it may belong to another store (check REFLOW_STORE_PATH)."
            )
        return InvalidTransitionError(update.instance_id, TASK_STATES[row[0]], update.state)

    def apply_state_updates(self, updates: Iterable[StateUpdate]) -> None:
        """Apply many state transitions, in order, in one transaction (all or none)."""
        encoded: list[tuple[str, StateUpdate, tuple[Any, ...]]] = []
        for update in updates:
            state = TaskState(update.state)
            encoded.append((_UPDATE_SQL[state], update, _SET[state][1](update)))
        # Updates of different instances are independent, so they can be grouped
        # by statement; an instance's own updates keep their order ("rounds").
        rounds: list[dict[str, list[tuple[StateUpdate, tuple[Any, ...]]]]] = []
        seen: dict[int, int] = {}
        for sql, update, extra in encoded:
            number = seen.get(update.instance_id, 0)
            seen[update.instance_id] = number + 1
            if number == len(rounds):
                rounds.append({})
            rounds[number].setdefault(sql, []).append((update, extra))

        def work(conn: sqlite3.Connection) -> None:
            now = sqlstore.now_ms()
            conn.execute("SAVEPOINT reflow_batch")
            for groups in rounds:
                for sql, group in groups.items():
                    params = [(*extra, now, update.instance_id) for update, extra in group]
                    if conn.executemany(sql, params).rowcount != len(params):
                        # Replay in the given order to report the first offending update.
                        conn.execute("ROLLBACK TO reflow_batch")
                        for one_sql, update, extra in encoded:
                            one = (*extra, now, update.instance_id)
                            if conn.execute(one_sql, one).rowcount != 1:
                                raise self._transition_error(conn, update)
                        break
                else:
                    continue
                break
            conn.execute("RELEASE reflow_batch")

        self._write(work)

    def update_task_submitted(self, run_id: str, task_name: str, job_id: str) -> int:
        """Mark the ``PENDING`` and ``RETRYING`` instances of a task as submitted."""

        def work(conn: sqlite3.Connection) -> int:
            run = self._run_key(conn, run_id)
            task = self._task_key(conn, task_name)
            if task is None:
                return 0
            waiting = _codes({TaskState.PENDING, TaskState.RETRYING})
            cursor = conn.execute(
                f"UPDATE task_instances SET state = {TASK_STATE_CODES[TaskState.SUBMITTED]}, "
                f"job_id = ?, updated_at = ? WHERE run = ? AND task = ? AND state IN ({waiting})",
                (job_id, sqlstore.now_ms(), run, task),
            )
            return int(cursor.rowcount)

        return self._write(work)

    # -- cache ----------------------------------------------------------------------

    def set_cache_info_many(self, infos: Mapping[int, dict[str, Any]]) -> None:
        """Record, for many instances in one transaction, why each was or was not a cache hit."""
        params = [(sqlstore.dict_to_db(info), instance_id) for instance_id, info in infos.items()]

        def work(conn: sqlite3.Connection) -> None:
            changed = conn.executemany(
                "UPDATE task_instances SET cache_info = ? WHERE id = ?", params
            ).rowcount
            if changed != len(params):
                for _, instance_id in params:
                    if (
                        conn.execute(
                            "SELECT 1 FROM task_instances WHERE id = ?", (instance_id,)
                        ).fetchone()
                        is None
                    ):
                        raise UnknownInstanceError(
                            f"No task instance with id {instance_id} in the manifest store "
                            f"{self.path}; no cache information was recorded."
                        )

        self._write(work)

    def set_identity_many(self, items: Mapping[int, tuple[str, dict[str, Any]]]) -> None:
        """Move instances to another identity, with the cache_info saying why."""
        params = [
            (hash_to_db(identity), sqlstore.dict_to_db(info), instance_id)
            for instance_id, (identity, info) in items.items()
        ]

        def work(conn: sqlite3.Connection) -> None:
            changed = conn.executemany(
                "UPDATE task_instances SET identity = ?, cache_info = ? WHERE id = ?", params
            ).rowcount
            if changed != len(params):  # _write rolls the whole batch back
                for *_, instance_id in params:
                    if (
                        conn.execute(
                            "SELECT 1 FROM task_instances WHERE id = ?", (instance_id,)
                        ).fetchone()
                        is None
                    ):
                        raise UnknownInstanceError(
                            f"No task instance with id {instance_id} in the manifest store "
                            f"{self.path}; no identity was changed."
                        )

        self._write(work)

    def find_cached_many(
        self, task_name: str, identities: Iterable[str], *, user_id: str | None = None
    ) -> dict[str, TaskInstanceRecord]:
        """Find, for many identities at once, the most recent successful instance of each."""
        return self._find_newest(_INSTANCE_SELECT, task_name, identities, user_id)

    def find_cached_outputs(
        self, task_name: str, identities: Iterable[str], *, user_id: str | None = None
    ) -> dict[str, TaskInstanceRecord]:
        """:meth:`find_cached_many` without decoding each hit's input and cache_info."""
        return self._find_newest(_REUSE_SELECT, task_name, identities, user_id)

    def newest_outputs(
        self, task_name: str, *, user_id: str | None = None
    ) -> dict[str, TaskInstanceRecord]:
        """Every identity's newest success (:meth:`Store.newest_outputs`), from the cache index."""
        newest, users = _newest(user_id)

        def work(conn: sqlite3.Connection) -> dict[str, TaskInstanceRecord]:
            task = self._task_key(conn, task_name)
            if task is None:
                return {}
            # The task's identities from the index task_instances_newest, then one
            # descent each for the newest, as find_cached_outputs does.
            rows = conn.execute(
                "WITH w(identity) AS (SELECT DISTINCT identity FROM task_instances "
                f"WHERE task = ? AND state = {_SUCCESS} AND source IS NULL "
                "AND identity IS NOT NULL) "
                f"{_REUSE_SELECT} JOIN w ON i.id = {newest}",
                (task, task, *users),
            ).fetchall()
            return {record.identity: record for record in map(_instance_record, rows)}

        return self._read(work)

    def _find_newest(
        self, select: str, task_name: str, identities: Iterable[str], user_id: str | None
    ) -> dict[str, TaskInstanceRecord]:
        keys = {k: ident for ident in set(identities) if (k := hash_to_db(ident)) is not None}
        if not keys:
            return {}
        newest, users = _newest(user_id)

        def work(conn: sqlite3.Connection) -> dict[str, TaskInstanceRecord]:
            task = self._task_key(conn, task_name)
            if task is None:
                return {}
            found: dict[str, TaskInstanceRecord] = {}
            blobs = list(keys)
            for start in range(0, len(blobs), 500):
                chunk = blobs[start : start + 500]
                marks = ", ".join("(?)" for _ in chunk)
                rows = conn.execute(
                    f"WITH w(identity) AS (VALUES {marks}) {select} JOIN w ON i.id = {newest}",
                    (*chunk, task, *users),
                ).fetchall()
                for row in rows:
                    record = _instance_record(row)
                    found[record.identity] = record
            return found

        return self._read(work)

    def restore_times(
        self,
        run_id: str,
        created_at: datetime,
        heartbeat_at: datetime | None,
        instances: Mapping[int, tuple[datetime, datetime]],
    ) -> None:
        """Set a copied run's and its instances' original times (:meth:`Store.restore_times`)."""
        beat = None if heartbeat_at is None else sqlstore.datetime_to_ms(heartbeat_at)
        params = [
            (sqlstore.datetime_to_ms(created), sqlstore.datetime_to_ms(updated), instance_id)
            for instance_id, (created, updated) in instances.items()
        ]

        def work(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                "UPDATE runs SET created_at = ?, heartbeat_at = ? WHERE run_id = ?",
                (sqlstore.datetime_to_ms(created_at), beat, run_id),
            )
            if cursor.rowcount == 0:
                raise self._unknown_run(run_id)
            conn.executemany(
                "UPDATE task_instances SET created_at = ?, updated_at = ? WHERE id = ?", params
            )

        self._write(work)

    def insert_cache_hits(
        self,
        run_id: str,
        task_name: str,
        candidates: Sequence[CacheCandidate],
        *,
        user_id: str | None = None,
    ) -> tuple[dict[int | None, ReusedHit], dict[str, TaskInstanceRecord]]:
        """Insert the candidates that are cache hits SUCCESS (see the Store method).

        First each identity's newest success is found, outside any write
        transaction (one descent of ``task_instances_newest`` each, 500
        identities a statement): a first run, all misses, stops there, with
        no transaction of its own (a chain's task pays one statement).  Then,
        in one write transaction, the hits whose output holds no tagged value
        go to a temporary table with their ``cache_info`` and source, and one
        ``INSERT ... SELECT`` copies those whose source is still ``SUCCESS``
        (a source deleted meanwhile is skipped: that candidate runs), their
        ``cache_info`` completed by SQLite's JSON functions.  No reused output
        is decoded or encoded; only hits holding a tagged value (maybe a
        ``Path``) are read back, decoded, for the caller.
        """
        keyed = [
            (sqlstore.stored_index(c.array_index, SINGLETON_INDEX), key, c)
            for c in candidates
            if (key := hash_to_db(c.identity)) is not None
        ]
        if not keyed:
            return {}, {}
        newest, users = _newest(user_id)

        def look(conn: sqlite3.Connection) -> dict[Any, tuple[int, int]]:
            task = self._task_key(conn, task_name)
            found: dict[Any, tuple[int, int]] = {}  # identity: source id, holds a tag
            if task is None:  # a task never recorded has no results
                return found
            if not self._computed(conn, task):  # a first run: one index probe, no lookups
                return found
            wanted = list({key for _, key, _ in keyed})
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ", ".join("(?)" for _ in chunk)
                for key, source, tagged in conn.execute(
                    f"WITH w(identity) AS (VALUES {marks}) SELECT w.identity, s.id, "
                    "coalesce(instr(s.output, ?), 0) FROM w "
                    f"JOIN task_instances s ON s.id = {newest}",
                    (*chunk, sqlstore.TAGGED, task, *users),
                ):
                    found[key] = (int(source), int(tagged))
            return found

        found = self._read(look)
        if not found:
            return {}, {}
        hits = [
            (idx, key, sqlstore.info_to_db(c), hit[0])
            for idx, key, c in keyed
            if (hit := found.get(key)) is not None and not hit[1]
        ]

        def work(conn: sqlite3.Connection) -> tuple[dict[int | None, ReusedHit], list[Any]]:
            inserted: list[Any] = []
            if hits:
                run = self._run_key(conn, run_id)
                task = self._ensure_task_keys(conn, [task_name])[task_name]
                conn.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS reflow_hits "
                    "(idx INTEGER PRIMARY KEY, identity BLOB, info TEXT, source INTEGER)"
                )
                conn.execute("DELETE FROM temp.reflow_hits")
                conn.executemany("INSERT INTO temp.reflow_hits VALUES (?, ?, ?, ?)", hits)
                now = sqlstore.now_ms()
                try:
                    inserted = conn.execute(
                        "INSERT INTO task_instances (run, task, idx, state, created_at, "
                        "updated_at, identity, cache_info, output, output_hash, source) "
                        f"SELECT ?, ?, w.idx, {_SUCCESS}, ?, ?, w.identity, "
                        "json_set(coalesce(w.info, '{}'), '$.status', 'hit', '$.source', "
                        "json_object('array_index', CASE WHEN s.idx >= 0 THEN s.idx END, "
                        "'instance_id', s.id, 'run_id', r.run_id)), s.output, s.output_hash, "
                        "coalesce(s.source, s.id) "
                        "FROM temp.reflow_hits w JOIN task_instances s ON s.id = w.source "
                        f"AND s.state = {_SUCCESS} JOIN runs r ON r.id = s.run ORDER BY w.idx "
                        "RETURNING idx, id, output_hash",
                        (run, task, now, now),
                    ).fetchall()
                except sqlite3.IntegrityError as exc:
                    items = [NewTaskInstance(task_name, c.array_index) for c in candidates]
                    keys = {task_name: task}
                    raise self._insert_error(conn, run_id, run, keys, items, exc) from exc
                conn.execute("DELETE FROM temp.reflow_hits")
            tagged = [source for source, tag in found.values() if tag]
            held: list[Any] = []
            for start in range(0, len(tagged), 500):
                chunk = tagged[start : start + 500]
                held += conn.execute(
                    f"{_REUSE_SELECT} WHERE i.id IN ({', '.join('?' * len(chunk))}) "
                    f"AND i.state = {_SUCCESS}",
                    chunk,
                ).fetchall()
            return (
                {
                    (None if idx == SINGLETON_INDEX else idx): sqlstore.reused_hit(
                        iid, hash_from_db(digest)
                    )
                    for idx, iid, digest in inserted
                },
                held,
            )

        reused, held = self._write(work) if hits else self._read(work)
        records = map(_instance_record, held)
        return reused, {record.identity: record for record in records}

    def may_have_cached_results(self, task_name: str) -> bool:
        """Whether a computed success of ``task_name`` exists: one probe of the cache index."""

        def probe(conn: sqlite3.Connection) -> bool:
            task = self._task_key(conn, task_name)
            return task is not None and self._computed(conn, task)

        return self._read(probe)

    @staticmethod
    def _computed(conn: sqlite3.Connection, task: int) -> bool:
        """Whether task ``task`` has a computed (not reused) success: one index probe."""
        row = conn.execute(
            f"SELECT 1 FROM task_instances WHERE task = ? AND state = {_SUCCESS} "
            "AND source IS NULL LIMIT 1",
            (task,),
        ).fetchone()
        return row is not None

    def record_array_identity(
        self, run_id: str, task_name: str, identity: str, count: int
    ) -> None:
        """Remember that ``task_name`` completed in ``run_id`` with this whole-array identity."""
        key = hash_to_db(identity)
        if key is None:
            return

        def work(conn: sqlite3.Connection) -> None:
            run = self._run_key(conn, run_id)
            task = self._ensure_task_keys(conn, [task_name])[task_name]
            conn.execute(
                "INSERT OR REPLACE INTO array_cache (task, identity, run, count, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (task, key, run, count, sqlstore.now_ms()),
            )

        self._write(work)

    def list_array_identities(self, run_id: str) -> list[tuple[str, str, int]]:
        """The whole-array identities of a run; see :meth:`Store.list_array_identities`."""

        def work(conn: sqlite3.Connection) -> list[tuple[str, str, int]]:
            rows = conn.execute(
                "SELECT t.name, a.identity, a.count FROM array_cache a "
                "JOIN task_names t ON t.id = a.task WHERE a.run = ? ORDER BY t.name",
                (self._run_key(conn, run_id),),
            ).fetchall()
            return [(str(name), hash_from_db(ident), int(count)) for name, ident, count in rows]

        return self._read(work)

    def copy_cached_array(
        self, task_name: str, identity: str, run_id: str, *, user_id: str | None = None
    ) -> tuple[str, int] | None:
        """Copy a whole cached array into ``run_id``; see :meth:`Store.copy_cached_array`."""
        taken = self._take_array(task_name, identity, run_id, user_id, record=False)
        return None if taken is None else (taken[0], len(taken[1]))

    def take_cached_array(
        self, task_name: str, identity: str, run_id: str, *, user_id: str | None = None
    ) -> tuple[str, list[str]] | None:
        """Copy a cached array, hand back its hashes, record it (``Store.take_cached_array``)."""
        return self._take_array(task_name, identity, run_id, user_id, record=True)

    def _take_array(
        self, task_name: str, identity: str, run_id: str, user_id: str | None, *, record: bool
    ) -> tuple[str, list[str]] | None:
        """The copy of a cached array, in one write transaction: source run and hashes."""
        key = hash_to_db(identity)
        if key is None:
            return None

        def work(conn: sqlite3.Connection) -> tuple[str, list[str]] | None:
            task = self._task_key(conn, task_name)
            if task is None:
                return None
            target = self._run_key(conn, run_id)
            now = sqlstore.now_ms()
            for source, _, source_id in _complete_arrays(conn, task, key, user_id):
                rows = conn.execute(
                    f"{_COPY_SUCCESSES}FROM task_instances s WHERE s.run = ? AND s.task = ? "
                    f"AND s.state = {_SUCCESS} AND s.idx >= 0 ORDER BY s.idx "
                    "RETURNING idx, output_hash",
                    (target, now, now, sqlstore.copy_info(source_id), source, task),
                ).fetchall()
                rows.sort()  # RETURNING gives no order
                if record:
                    conn.execute(
                        "INSERT OR REPLACE INTO array_cache (task, identity, run, count, "
                        "created_at) VALUES (?, ?, ?, ?, ?)",
                        (task, key, target, len(rows), now),
                    )
                return str(source_id), [hash_from_db(digest) for _, digest in rows]
            return None

        try:
            return self._write(work)
        except sqlite3.IntegrityError as exc:
            raise DuplicateError(
                f"Task {task_name!r} already has instances in run {run_id}; a cached array "
                "can only be copied into a task with none."
            ) from exc

    def find_cached_array(
        self, task_name: str, identity: str, *, user_id: str | None = None
    ) -> tuple[str, int] | None:
        """The newest complete array recorded under this identity (``Store.find_cached_array``)."""
        key = hash_to_db(identity)
        if key is None:
            return None

        def work(conn: sqlite3.Connection) -> tuple[str, int] | None:
            task = self._task_key(conn, task_name)
            if task is None:
                return None
            for _, count, source_id in _complete_arrays(conn, task, key, user_id):
                return str(source_id), int(count)
            return None

        return self._read(work)

    def copy_array_elements(
        self,
        task_name: str,
        source_run_id: str,
        run_id: str,
        spans: Sequence[tuple[int, int]],
    ) -> dict[int, str] | None:
        """Copy some elements of another run's array, all or none (``Store.copy_array_elements``).

        One ``INSERT ... SELECT`` that descends the ``(run, task, idx)`` index
        once per span (``CROSS JOIN`` keeps the spans outside: SQLite would
        otherwise scan every span for each element); the spans go in as one
        JSON text.
        """
        wanted = sum(last - first + 1 for first, last in spans)
        if not wanted:
            return None

        def work(conn: sqlite3.Connection) -> dict[int, str] | None:
            task = self._task_key(conn, task_name)
            row = conn.execute("SELECT id FROM runs WHERE run_id = ?", (source_run_id,)).fetchone()
            if task is None or row is None:
                return None
            target = self._run_key(conn, run_id)
            now = sqlstore.now_ms()
            rows = conn.execute(
                f"{_COPY_SUCCESSES}FROM json_each(?) r CROSS JOIN task_instances s ON s.run = ? "
                "AND s.task = ? AND s.idx BETWEEN json_extract(r.value, '$[0]') "
                "AND json_extract(r.value, '$[1]') "
                f"AND s.state = {_SUCCESS} RETURNING idx, output_hash",
                (
                    target,
                    now,
                    now,
                    sqlstore.copy_info(source_run_id),
                    json.dumps(list(spans)),
                    row[0],
                    task,
                ),
            ).fetchall()
            if len(rows) != wanted:  # the source lost elements: copy none
                raise _IncompleteError
            # Output hashes are packed hex, but for one given as other text (kept as is).
            return {
                idx: digest.hex() if type(digest) is bytes else hash_from_db(digest)
                for idx, digest in rows
            }

        try:
            return self._write(work)
        except _IncompleteError:
            return None
        except sqlite3.IntegrityError as exc:
            raise DuplicateError(
                f"Task {task_name!r} already has instances in run {run_id} at indices the "
                "copy would take; elements can only be copied into free indices."
            ) from exc

    def find_cached_record(
        self, task_name: str, identity: str, *, user_id: str | None = None
    ) -> TaskInstanceRecord | None:
        """Find the most recent successful instance with this identity, across all runs."""
        key = hash_to_db(identity)
        if key is None:
            return None
        newest, users = _newest(user_id, "(SELECT id FROM task_names WHERE name = ?)")
        row = self._read(
            lambda c: c.execute(
                f"WITH w(identity) AS (VALUES (?)) {_INSTANCE_SELECT} JOIN w ON i.id = {newest}",
                (key, task_name, *users),
            ).fetchone()
        )
        return None if row is None else _instance_record(row)

"""The PostgreSQL manifest store."""

# SQL here is assembled only from module constants (state codes, column lists);
# every value from callers is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from reflow.stores import (
    TRANSITIONS,
    ActiveRunError,
    CacheCandidate,
    DuplicateError,
    InvalidTransitionError,
    NewTaskInstance,
    NewTaskSpec,
    ReusedHit,
    RunContext,
    RunOwner,
    RunRecord,
    RunState,
    SchemaVersionError,
    StateUpdate,
    Store,
    StoreBusyError,
    StoreError,
    StoreMissingError,
    TaskInstanceRecord,
    TaskSpecRecord,
    TaskState,
    UnknownInstanceError,
    UnknownRunError,
    ended_states,
    sqlstore,
)
from reflow_store_postgres._version import __version__
from reflow_store_postgres.connection import backoff, connect, connect_timeout, is_retriable
from reflow_store_postgres.schema import (
    MIGRATION_LOCK,
    MIGRATIONS,
    RUN_STATE_CODES,
    RUN_STATES,
    SCHEMA_VERSION,
    SINGLETON_INDEX,
    TASK_STATE_CODES,
    TASK_STATES,
)
from reflow_store_postgres.urls import check_url, server_name

if TYPE_CHECKING:
    import psycopg

    from reflow.stores import Config

    Connection = psycopg.Connection[tuple[Any, ...]]

__all__ = ["PostgresStore"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_RETRIES = 8
"""Attempts of a transaction that loses a serialization conflict or a deadlock."""

_SUCCESS = TASK_STATE_CODES[TaskState.SUCCESS]
_CODES_BY_NAME: dict[str, int] = {state.value: code for state, code in TASK_STATE_CODES.items()}
_WAITING = (TASK_STATE_CODES[TaskState.PENDING], TASK_STATE_CODES[TaskState.RETRYING])

_INSTANCE_COLUMNS = (
    "SELECT i.id, r.run_id, i.task, i.idx, i.state, i.job_id, i.input, i.output, "
    "i.error_text, i.identity, i.input_hash, i.output_hash, i.created_at, i.updated_at, "
    "i.cache_info"
)
_INSTANCE_SELECT = f"{_INSTANCE_COLUMNS} FROM task_instances i JOIN runs r ON r.id = i.run"
_REUSE_COLUMNS = _INSTANCE_COLUMNS.replace("i.input,", "NULL,").replace("i.cache_info", "NULL")
"""Like :data:`_INSTANCE_COLUMNS` without the input and cache_info (find_cached_outputs)."""


def _run_record(row: Sequence[Any], url: str) -> RunRecord:
    return sqlstore.run_record(row, url, RUN_STATES[row[4]])


def _instance_record(row: Sequence[Any]) -> TaskInstanceRecord:
    return sqlstore.instance_record(row, TASK_STATES[row[4]], SINGLETON_INDEX)


def _of_user(user_id: str | None) -> tuple[str, tuple[str, ...]]:
    """The condition (on the run ``r``) and its value that keep one user's runs; none for any."""
    return ("", ()) if user_id is None else (" AND r.user_id = %s", (user_id,))


def _complete_arrays(
    conn: Connection, task_name: str, identity: str, user_id: str | None
) -> Iterator[tuple[int, int, str]]:
    """The runs that recorded an array of the task under ``identity``, newest first, still whole.

    ``(run key, number of elements, run id)``; a run whose elements were
    pruned since is passed over.
    """
    mine, values = _of_user(user_id)
    candidates = conn.execute(
        "SELECT a.run, a.count, r.run_id FROM array_cache a JOIN runs r ON r.id = a.run "
        f"WHERE a.task = %s AND a.identity = %s{mine} ORDER BY a.created_at DESC",
        (task_name, identity, *values),
    ).fetchall()
    for source, count, source_id in candidates:
        row = conn.execute(
            "SELECT count(*) FROM task_instances WHERE run = %s AND task = %s "
            f"AND state = {_SUCCESS} AND idx >= 0",
            (source, task_name),
        ).fetchone()
        if row is not None and int(row[0]) == count:
            yield int(source), int(count), str(source_id)


_COPY_SUCCESSES = (
    "INSERT INTO task_instances (run, task, idx, state, created_at, updated_at, identity, "
    "input_hash, output_hash, input, output, cache_info, source) "
    f"SELECT %s, s.task, s.idx, {_SUCCESS}, %s, %s, s.identity, s.input_hash, "
    "s.output_hash, s.input, s.output, %s, coalesce(s.source, s.id) "
)
"""Copies of successful instances ``s`` (named by the ``FROM`` that follows) into a run.

Parameters: the run's key, the time twice, the copies' ``cache_info``
(:func:`~reflow.stores.sqlstore.copy_info`).  Each copy keeps its source's
index, identity, inputs, output and hashes, and names the computed instance
as its ``source``.
"""


class _IncompleteError(Exception):
    """Rolls back a copy of array elements that found fewer than it was asked for."""


def _text(value: str) -> str | None:
    """A hash or other optional string: ``""`` is stored as NULL."""
    return value or None


def _cause(exc: BaseException) -> str:
    """The first line of an error's message, for one-line errors."""
    return (str(exc).strip() or type(exc).__name__).splitlines()[0].rstrip(".")


def _lost_connection(exc: StoreError) -> bool:
    """Whether ``exc`` came from a connection that broke (not from a refused statement)."""
    import psycopg

    return isinstance(exc.__cause__, psycopg.OperationalError)


def _state_code(state: TaskState | str) -> int:
    """The stored code of a state given as member or name (``TaskState`` is a ``str`` enum)."""
    code = _CODES_BY_NAME.get(state)  # a member hashes and compares as its name
    return TASK_STATE_CODES[TaskState(state)] if code is None else code


def _codes(states: Iterable[TaskState]) -> list[int]:
    return sorted(TASK_STATE_CODES[TaskState(s)] for s in states)


class _Fold:
    """The effect of an instance's state updates, folded in order (see ``apply_state_updates``).

    ``None`` in a ``*_set`` flag's value keeps the stored column; the flags say
    which columns the single UPDATE writes.
    """

    __slots__ = ("err", "err_set", "job", "job_set", "out", "out_hash", "out_set", "state")

    def __init__(self, state: TaskState) -> None:
        self.state = state
        self.job: str | None = None
        self.job_set = False
        self.err: str | None = None
        self.err_set = False
        self.out: str | None = None
        self.out_hash: str | None = None
        self.out_set = False

    def apply(self, update: StateUpdate) -> None:
        target = TaskState(update.state)
        if target in (TaskState.SUBMITTED, TaskState.RUNNING) and update.job_id is not None:
            self.job, self.job_set = update.job_id, True
        elif target is TaskState.SUCCESS:
            self.out, self.out_hash, self.out_set = (
                sqlstore.output_to_db(update),
                _text(update.output_hash),
                True,
            )
            self.err, self.err_set = None, True
        elif target in (TaskState.FAILED, TaskState.CANCELLED, TaskState.SKIPPED):
            if update.error_text is not None:
                self.err, self.err_set = update.error_text, True
        elif target is TaskState.RETRYING:
            self.out, self.out_hash, self.out_set = None, None, True
            self.job, self.job_set = None, True
            self.err, self.err_set = None, True
        self.state = target


_COPY_INSTANCES = (
    "COPY task_instances (id, run, task, idx, state, created_at, updated_at, identity, "
    "input_hash, input, cache_info, output, output_hash, error_text) FROM STDIN (FORMAT BINARY)"
)
# Binary COPY: the server parses no text (the columns' types, in the statement's order).
_COPY_TYPES = (
    "int8",
    "int8",
    "text",
    "int4",
    "int2",
    "int8",
    "int8",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
)

_APPLY_SQL = (
    "UPDATE task_instances t SET state = u.state, updated_at = %s, "
    "job_id = CASE WHEN u.job_set THEN u.job ELSE t.job_id END, "
    "error_text = CASE WHEN u.err_set THEN u.err ELSE t.error_text END, "
    "output = CASE WHEN u.out_set THEN u.out ELSE t.output END, "
    "output_hash = CASE WHEN u.out_set THEN u.out_hash ELSE t.output_hash END "
    "FROM unnest(%s::bigint[], %s::smallint[], %s::boolean[], %s::text[], %s::boolean[], "
    "%s::text[], %s::boolean[], %s::text[], %s::text[]) "
    "AS u(id, state, job_set, job, err_set, err, out_set, out, out_hash) WHERE t.id = u.id"
)


class PostgresStore(Store):
    """PostgreSQL-backed manifest store, for dispatchers and users on many hosts.

    One database (or one schema of it: the first of the connection's
    ``search_path``) serves every run of a user or a lab.  Writes run in READ
    COMMITTED transactions whose updates are conditional on the rows' current
    state, and which lock the rows they read first (``SELECT ... FOR UPDATE``,
    in id order), so concurrent dispatchers neither lose an update nor
    duplicate an instance (the UNIQUE keys refuse the second).  A transaction
    that still loses a serialization conflict or a deadlock is run again whole,
    with backoff, up to ``retries`` times; one the caller groups with
    :meth:`transaction` is the caller's to retry.

    Parameters
    ----------
    url : str
        ``postgresql://user@host:port/database?param=value`` (or
        ``postgres://...``): a libpq URL, every parameter passing through.  It
        must not hold a password (see :func:`reflow_store_postgres.urls.check_url`).
    create : bool
        Create the schema when the database has none.  With ``False`` (commands
        that only read), an empty database raises :class:`StoreMissingError`.
    connect_timeout : float or None
        Seconds to keep retrying to reach the server; ``None`` reads
        ``REFLOW_STORE_CONNECT_TIMEOUT`` (default 60).
    retries : int
        Attempts of a transaction in all on serialization failures and deadlocks.
    """

    def __init__(
        self,
        url: str,
        *,
        create: bool = True,
        connect_timeout: float | None = None,
        retries: int = DEFAULT_RETRIES,
    ) -> None:
        self._url = check_url(url)
        self.create = create
        self.connect_timeout = connect_timeout
        self.retries = max(1, retries)
        self._conn: Connection | None = None
        self._pid = 0
        self._lock = threading.RLock()
        self._depth = 0

    def __repr__(self) -> str:
        return f"PostgresStore({self._url!r})"

    @property
    def url(self) -> str:
        """The URL the store was opened with (it never holds a password)."""
        return self._url

    @property
    def server(self) -> str:
        """The server and database, ``host:port/db``, as messages name it."""
        return server_name(self._url)

    @classmethod
    def from_url(
        cls, url: str, config: Config | None = None, *, create: bool = True
    ) -> PostgresStore:
        """Open ``postgresql://user@host:port/db?...`` (see :class:`PostgresStore`).

        Raises
        ------
        StoreError
            When the URL is not a PostgreSQL URL, or holds a password.
        """
        return cls(url, create=create)

    # -- connection, transactions, retries ---------------------------------------

    def init(self) -> None:
        """Connect, creating or migrating the schema when needed.

        A connection lost while the schema is checked is opened again, as for
        any operation (a dispatcher whose session the server ends while it
        opens the store goes on instead of leaving its run LOST).
        """
        with self._lock:
            self._attempt(lambda _conn: None)

    def close(self) -> None:
        """Close the connection; the next call opens a new one."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None
            self._depth = 0

    def _connection(self) -> Connection:
        conn = self._conn
        if conn is not None and self._pid == os.getpid() and not conn.closed:
            return conn
        # After fork the parent's connection must not be used, not even closed.
        self._conn = None
        self._depth = 0
        timeout = connect_timeout() if self.connect_timeout is None else self.connect_timeout
        conn = connect(self._url, timeout=timeout)
        try:
            self._prepare_schema(conn)
        except BaseException as exc:
            conn.close()
            if isinstance(exc, StoreError) or not isinstance(exc, Exception):
                raise
            raise StoreError(
                f"Opening the PostgreSQL store at {self.server} failed: {_cause(exc)}."
            ) from exc
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _read_version(self, conn: Connection) -> int:
        # The store is the one in the current schema (the first of the search_path that
        # exists), never a store that the search_path would find further on (in public).
        row = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
            "AND c.relname = 'reflow_meta')"
        ).fetchone()
        if row is None or not row[0]:
            return 0
        row = conn.execute("SELECT value FROM reflow_meta WHERE key = 'schema_version'").fetchone()
        version = 0 if row is None else int(row[0])
        if version > SCHEMA_VERSION:
            raise SchemaVersionError(
                sqlstore.schema_too_new(
                    f"The PostgreSQL store at {self.server}",
                    version,
                    f"reflow-store-postgres {__version__}",
                    SCHEMA_VERSION,
                    unchanged="database",
                )
            )
        return version

    def _prepare_schema(self, conn: Connection) -> None:
        if self._read_version(conn) == SCHEMA_VERSION:
            return
        # Another process may be creating or migrating the same schema right now: wait for
        # it.  The lock is taken before the transaction begins, because a transaction sees
        # tables committed by others only from its start (its catalog cache is refreshed
        # then), not from the moment a lock was granted inside it.
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            with conn.transaction():
                current = self._migrate(conn)
        finally:
            if not conn.closed:
                conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        if current:
            logger.info(
                "Migrated the PostgreSQL store at %s from schema version %d to %d",
                self.server,
                current,
                SCHEMA_VERSION,
            )

    def _migrate(self, conn: Connection) -> int:
        """Bring the schema to :data:`SCHEMA_VERSION`; return the version it had."""
        current = self._read_version(conn)
        if current == SCHEMA_VERSION:
            return 0
        if current == 0 and not self.create:
            raise StoreMissingError(
                f"There is no reflow store in the PostgreSQL database {self.server}; "
                "reflow has not created one (this command only reads). Check REFLOW_STORE "
                "and [store] url, or submit a run to create it."
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version - 1]:
                conn.execute(statement)
        conn.execute(
            "INSERT INTO reflow_meta (key, value) VALUES ('schema_version', %s), "
            "('written_by', %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (str(SCHEMA_VERSION), f"reflow-store-postgres {__version__}"),
        )
        return current

    def _error(self, exc: BaseException, attempts: int = 1) -> StoreError:
        """The one-line :class:`StoreError` for a database error (busy when a retry may pass)."""
        if is_retriable(exc):
            return StoreBusyError(
                f"The PostgreSQL store at {self.server} kept failing a transaction on "
                f"conflicts with other writers ({attempts} attempt{'s' * (attempts > 1)}): "
                f"{_cause(exc)}. Try again."
            )
        return StoreError(f"The PostgreSQL store at {self.server} failed: {_cause(exc)}.")

    def _attempt(self, step: Callable[[Connection], T]) -> T:
        """Run ``step`` on the connection, again on a lost connection or a lost conflict."""
        import psycopg

        for attempt in range(self.retries):
            try:
                conn = self._connection()
            except StoreError as exc:
                # Connected, then lost while checking the schema: connect again.
                if attempt == self.retries - 1 or not _lost_connection(exc):
                    raise
                logger.warning("Lost the connection to %s opening it; reconnecting", self.server)
                continue
            try:
                return step(conn)
            except psycopg.Error as exc:
                last = attempt == self.retries - 1
                if is_retriable(exc) and not last:
                    time.sleep(backoff(attempt))
                    continue
                if conn.closed and not last:
                    # The server went away (restart, network): reconnect, with the
                    # connect budget, and run the whole step again.
                    logger.warning("Lost the connection to %s; reconnecting", self.server)
                    self._conn = None
                    continue
                raise self._error(exc, self.retries) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Database errors inside a caller's transaction, as one-line :class:`StoreError`."""
        import psycopg

        try:
            yield
        except psycopg.Error as exc:
            raise self._error(exc) from exc

    def _write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a transaction: its own (retried), or a savepoint of the open one."""
        with self._lock:
            if self._depth:
                conn = self._connection()
                self._depth += 1
                try:
                    with self._translated(), conn.transaction():
                        return work(conn)
                finally:
                    self._depth -= 1

            def step(conn: Connection) -> T:
                self._depth = 1
                try:
                    with conn.transaction():
                        return work(conn)
                finally:
                    self._depth = 0

            return self._attempt(step)

    def _read(self, work: Callable[[Connection], T], *, snapshot: bool = False) -> T:
        """Run ``work`` for reading; ``snapshot`` runs it in one REPEATABLE READ transaction."""
        with self._lock:
            if self._depth:
                with self._translated():
                    return work(self._connection())
            if not snapshot:
                return self._attempt(work)

            def step(conn: Connection) -> T:
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                try:
                    return work(conn)
                finally:
                    if not conn.closed:
                        conn.execute("COMMIT")

            return self._attempt(step)

    def retrying(self, work: Callable[[], T]) -> T:
        """Run ``work`` in one transaction, again whole on a conflict or a lost connection.

        See :meth:`Store.retrying`.  Up to ``retries`` attempts, with backoff
        after a conflict; a lost connection is opened again within the connect
        budget.  Inside an open :meth:`transaction` the unit is part of it and is
        left to the outermost unit to run again.
        """
        import psycopg

        with self._lock:
            if self._depth:
                with self.transaction():
                    return work()
            for attempt in range(self.retries):
                try:
                    with self.transaction():
                        return work()
                except StoreError as exc:
                    cause = exc.__cause__
                    if attempt == self.retries - 1 or not isinstance(cause, psycopg.Error):
                        raise
                    if is_retriable(cause):
                        time.sleep(backoff(attempt))
                    elif self._conn is None or self._conn.closed:
                        logger.warning("Lost the connection to %s; reconnecting", self.server)
                        self._conn = None
                    else:
                        raise
            raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one transaction (``with store.transaction(): ...``).

        Blocks nest (savepoints).  A conflict with another writer inside the
        block (a deadlock, which the row locks taken in id order make rare)
        ends it with :class:`StoreBusyError`, nothing of it written: the caller
        may run the block again.
        """
        with self._lock:
            conn = self._connection()
            outer = self._depth == 0
            self._depth += 1
            try:
                with self._translated(), conn.transaction():
                    yield
            finally:
                self._depth = 0 if outer else self._depth - 1

    # -- runs -----------------------------------------------------------------------

    def _unknown_run(self, run_id: str) -> UnknownRunError:
        return UnknownRunError(
            f"No run {run_id!r} in the PostgreSQL store at {self.server}. Check the run id, "
            "and that REFLOW_STORE names the store the run was submitted with."
        )

    def _run_key(self, conn: Connection, run_id: str, *, lock: bool = False) -> int:
        sql = "SELECT id FROM runs WHERE run_id = %s" + (" FOR UPDATE" if lock else "")
        row = conn.execute(sql, (run_id,)).fetchone()
        if row is None:
            raise self._unknown_run(run_id)
        return int(row[0])

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
        import psycopg

        values = (
            run_id,
            graph_name,
            user_id,
            sqlstore.now_ms(),
            RUN_STATE_CODES[RunState.RUNNING],
            sqlstore.dict_to_db(parameters),
            executor,
            sqlstore.dict_to_db(executor_options),
            *sqlstore.context_to_db(context),
        )
        marks = ", ".join(["%s"] * len(values))

        def work(conn: Connection) -> None:
            try:
                with conn.transaction():
                    conn.execute(
                        f"INSERT INTO runs ({sqlstore.RUN_COLUMNS}) VALUES ({marks})", values
                    )
            except psycopg.errors.UniqueViolation as exc:
                raise DuplicateError(
                    f"A run {run_id!r} already exists in the PostgreSQL store at {self.server}; "
                    "run ids are unique. Submit with a new run id."
                ) from exc

        self._write(work)

    def get_run_record(self, run_id: str) -> RunRecord | None:
        """Return one run, or ``None``."""
        row = self._read(
            lambda c: c.execute(
                f"SELECT {sqlstore.RUN_SELECT} FROM runs WHERE run_id = %s", (run_id,)
            ).fetchone()
        )
        return None if row is None else _run_record(row, self._url)

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
            clauses.append("graph_name = %s")
            params.append(graph_name)
        if user_id is not None:
            clauses.append("user_id = %s")
            params.append(user_id)
        if states is not None:  # in the query: only these runs' parameters are decoded
            codes = sorted(RUN_STATE_CODES[s] for s in states)
            clauses.append(f"status IN ({', '.join(['%s'] * len(codes))})")
            params.extend(codes)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._read(
            lambda c: c.execute(
                f"SELECT {sqlstore.RUN_SELECT} FROM runs{where} ORDER BY created_at DESC, id DESC",
                params,
            ).fetchall()
        )
        return [_run_record(row, self._url) for row in rows]

    def update_run_status(self, run_id: str, status: RunState) -> None:
        """Set the status of a run."""
        self._update_run(run_id, "status = %s", (RUN_STATE_CODES[RunState(status)],))

    def set_run_owner(self, run_id: str, owner: RunOwner) -> None:
        """Record who advances a run and stamp its heartbeat; see :meth:`Store.set_run_owner`."""
        self._update_run(
            run_id,
            "owner = %s, heartbeat_at = %s",
            (sqlstore.dict_to_db(owner.to_public_dict()), sqlstore.now_ms()),
        )

    def heartbeat_run(self, run_id: str) -> None:
        """Stamp a run's heartbeat now; see :meth:`Store.heartbeat_run`."""
        self._update_run(run_id, "heartbeat_at = %s", (sqlstore.now_ms(),))

    def _update_run(self, run_id: str, assignments: str, values: tuple[Any, ...]) -> None:
        def work(conn: Connection) -> None:
            cursor = conn.execute(
                f"UPDATE runs SET {assignments} WHERE run_id = %s",
                (*values, run_id),
            )
            if cursor.rowcount == 0:
                raise self._unknown_run(run_id)

        self._write(work)

    def delete_run(self, run_id: str) -> int:
        """Delete an ended run and everything recorded with it; see :meth:`Store.delete_run`."""
        active = {RUN_STATE_CODES[s] for s in RunState.active()}

        def work(conn: Connection) -> int:
            # The row lock keeps a concurrent retry from reactivating the run meanwhile.
            row = conn.execute(
                "SELECT id, status FROM runs WHERE run_id = %s FOR UPDATE", (run_id,)
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
                "(SELECT coalesce(min(id), 0) FROM task_instances WHERE run = %s) "
                "AND source IN "
                f"(SELECT id FROM task_instances WHERE run = %s AND state = {_SUCCESS})",
                (run, run),
            )
            deleted = conn.execute("DELETE FROM task_instances WHERE run = %s", (run,)).rowcount
            conn.execute("DELETE FROM runs WHERE id = %s", (run,))  # the rest cascades
            return int(deleted)

        return self._write(work)

    def describe(self) -> dict[str, Any]:
        """The schema version, the counts, the server and the space its tables take."""

        def work(conn: Connection) -> dict[str, Any]:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM task_instances), "
                "(SELECT sum(pg_total_relation_size(t::regclass)) FROM unnest(ARRAY["
                "'runs', 'task_specs', 'task_dependencies', 'task_instances', 'array_cache'"
                "]) AS t)"
            ).fetchone()
            runs, instances, size = row if row is not None else (0, 0, 0)
            return {
                "schema_version": self._read_version(conn),
                "runs": int(runs),
                "instances": int(instances),
                "size_bytes": int(size or 0),
                "location": self.server,
            }

        return self._read(work)

    def compact(self) -> None:
        """``VACUUM`` the store's tables: the space of deleted rows is reused.

        PostgreSQL's autovacuum does this on its own as well; the space goes
        back to the filesystem only with ``VACUUM FULL``, which locks the
        tables and is a database administrator's decision.
        """
        with self._lock:
            if self._depth:
                raise StoreError(
                    f"Cannot compact the PostgreSQL store at {self.server} inside a "
                    "transaction; call compact() after the transaction has ended."
                )
            self._attempt(
                lambda c: c.execute(
                    "VACUUM (ANALYZE) runs, task_specs, task_dependencies, task_instances, "
                    "array_cache"
                )
            )

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

        def work(conn: Connection) -> None:
            run = self._run_key(conn, run_id)
            conn.execute(
                "INSERT INTO task_specs (run, task, is_array, config) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (run, task) DO UPDATE SET is_array = EXCLUDED.is_array, "
                "config = EXCLUDED.config",
                (run, task_name, bool(is_array), config),
            )
            conn.execute(
                "DELETE FROM task_dependencies WHERE run = %s AND task = %s", (run, task_name)
            )
            if deps:
                conn.execute(
                    "INSERT INTO task_dependencies (run, task, depends_on) "
                    "SELECT %s, %s, d FROM unnest(%s::text[]) AS d",
                    (run, task_name, deps),
                )

        self._write(work)

    def insert_task_specs(self, run_id: str, specs: Sequence[NewTaskSpec]) -> None:
        """Persist many task specifications at once; see :meth:`Store.insert_task_specs`.

        Three statements over arrays (``unnest``) for the whole run, not three per task.
        """
        last = {spec.task_name: spec for spec in specs}  # a task given twice keeps the last
        names = list(last)
        pairs = [(n, d) for n, spec in last.items() for d in sorted(set(spec.dependencies))]

        def work(conn: Connection) -> None:
            run = self._run_key(conn, run_id)
            conn.execute(
                "INSERT INTO task_specs (run, task, is_array, config) "
                "SELECT %s, u.task, u.is_array, u.config "
                "FROM unnest(%s::text[], %s::boolean[], %s::text[]) AS u(task, is_array, config) "
                "ON CONFLICT (run, task) DO UPDATE SET is_array = EXCLUDED.is_array, "
                "config = EXCLUDED.config",
                (
                    run,
                    names,
                    [bool(spec.is_array) for spec in last.values()],
                    [sqlstore.dict_to_db(spec.config) for spec in last.values()],
                ),
            )
            conn.execute(
                "DELETE FROM task_dependencies WHERE run = %s AND task = ANY(%s::text[])",
                (run, names),
            )
            if pairs:
                conn.execute(
                    "INSERT INTO task_dependencies (run, task, depends_on) "
                    "SELECT %s, u.task, u.dep FROM unnest(%s::text[], %s::text[]) AS u(task, dep)",
                    (run, [t for t, _ in pairs], [d for _, d in pairs]),
                )

        self._write(work)

    def _spec_records(
        self, conn: Connection, run_id: str, task_name: str | None
    ) -> list[TaskSpecRecord]:
        where = "r.run_id = %s" + (" AND s.task = %s" if task_name is not None else "")
        params = (run_id,) if task_name is None else (run_id, task_name)
        specs = conn.execute(
            "SELECT s.task, s.is_array, s.config FROM task_specs s "
            f"JOIN runs r ON r.id = s.run WHERE {where} ORDER BY s.task",
            params,
        ).fetchall()
        deps: dict[str, list[str]] = {}
        for name, dep in conn.execute(
            "SELECT s.task, s.depends_on FROM task_dependencies s JOIN runs r ON r.id = s.run "
            f"WHERE {where} ORDER BY s.task, s.depends_on",
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
                "SELECT d.depends_on FROM task_dependencies d JOIN runs r ON r.id = d.run "
                "WHERE r.run_id = %s AND d.task = %s ORDER BY d.depends_on",
                (run_id, task_name),
            ).fetchall()
        )
        return [row[0] for row in rows]

    # -- task instances -------------------------------------------------------------

    def insert_task_instances(
        self, run_id: str, instances: Iterable[NewTaskInstance]
    ) -> list[int]:
        """Insert many instances of one run in one transaction; return their ids in order.

        The batch takes its ids from the table's sequence in one query, then is
        streamed with ``COPY``, PostgreSQL's bulk load: two round trips whatever
        its size.  The UNIQUE key ``(run, task, idx)`` refuses a duplicate, also
        one inserted by another process meanwhile; nothing of the batch is then
        inserted.
        """
        items = list(instances)
        return self._insert_instances(run_id, items, [(None, None, None)] * len(items))

    def insert_ended_instances(
        self, run_id: str, instances: Sequence[NewTaskInstance], ends: Sequence[StateUpdate]
    ) -> list[int]:
        """Insert instances in the state their update ends them in (see the Store method).

        The same ``COPY`` as :meth:`insert_task_instances`, each row written once.
        """
        states = ended_states(instances, ends)
        items = []
        cells: list[tuple[str | None, str | None, str | None]] = []
        for item, update, state in zip(instances, ends, states, strict=True):
            items.append(replace(item, state=state))
            if state is TaskState.SUCCESS:
                cells.append((sqlstore.output_to_db(update), _text(update.output_hash), None))
            else:
                cells.append((None, None, update.error_text))
        return self._insert_instances(run_id, items, cells)

    def _insert_instances(
        self,
        run_id: str,
        items: Sequence[NewTaskInstance],
        ended: Sequence[tuple[str | None, str | None, str | None]],
    ) -> list[int]:
        """Insert ``items`` with their (output, output hash, error text); their ids in order."""
        import psycopg

        rows = [
            (
                item.task_name,
                sqlstore.stored_index(item.array_index, SINGLETON_INDEX),
                _state_code(item.state),
                item.identity or None,
                item.input_hash or None,
                sqlstore.dict_to_db(item.input),
                sqlstore.info_to_db(item),
                *cells,
            )
            for item, cells in zip(items, ended, strict=True)
        ]

        def work(conn: Connection) -> list[int]:
            run = self._run_key(conn, run_id)
            if not rows:
                return []
            now = sqlstore.now_ms()
            ids = [
                int(row[0])
                for row in conn.execute(
                    "SELECT nextval(pg_get_serial_sequence('task_instances', 'id')) "
                    "FROM generate_series(1, %s)",
                    (len(rows),),
                )
            ]
            created = sqlstore.CreatedMs(now)
            try:
                with conn.transaction(), conn.cursor().copy(_COPY_INSTANCES) as copy:
                    copy.set_types(_COPY_TYPES)
                    for id_, item, (task, idx, state, *rest) in zip(ids, items, rows, strict=True):
                        copy.write_row((id_, run, task, idx, state, created(item), now, *rest))
            except psycopg.errors.UniqueViolation as exc:
                raise self._duplicate(conn, run_id, run, items) from exc
            return ids

        return self._write(work)

    def insert_reused_instances(
        self, run_id: str, instances: Sequence[NewTaskInstance], sources: Sequence[int]
    ) -> list[int | None]:
        """Insert cache hits SUCCESS with their sources' outputs (see the Store method).

        One ``INSERT ... SELECT`` over the rows sent as arrays (``unnest``): one
        round trip whatever the batch's size, the outputs copied inside the server.
        """
        import psycopg

        if len(instances) != len(sources):
            raise ValueError(f"{len(instances)} instances but {len(sources)} sources")
        columns: list[list[Any]] = [[], [], [], [], [], [], []]
        for item, source in zip(instances, sources, strict=True):
            for column, value in zip(
                columns,
                (
                    item.task_name,
                    sqlstore.stored_index(item.array_index, SINGLETON_INDEX),
                    item.identity or None,
                    item.input_hash or None,
                    sqlstore.dict_to_db(item.input),
                    sqlstore.info_to_db(item),
                    source,
                ),
                strict=True,
            ):
                column.append(value)

        def work(conn: Connection) -> list[int | None]:
            run = self._run_key(conn, run_id)
            if not instances:
                return []
            now = sqlstore.now_ms()
            try:
                with conn.transaction():
                    rows = conn.execute(
                        "INSERT INTO task_instances (run, task, idx, state, created_at, "
                        "updated_at, identity, input_hash, input, cache_info, output, "
                        "output_hash, source) "
                        f"SELECT %s, u.task, u.idx, {_SUCCESS}, %s, %s, u.identity, "
                        "u.input_hash, u.input, u.cache_info, s.output, s.output_hash, "
                        "coalesce(s.source, s.id) "
                        "FROM unnest(%s::text[], %s::int4[], %s::text[], %s::text[], "
                        "%s::text[], %s::text[], %s::int8[]) "
                        "AS u(task, idx, identity, input_hash, input, cache_info, source) "
                        f"JOIN task_instances s ON s.id = u.source AND s.state = {_SUCCESS} "
                        "RETURNING task, idx, id",
                        (run, now, now, *columns),
                    ).fetchall()
            except psycopg.errors.UniqueViolation as exc:
                raise self._duplicate(conn, run_id, run, instances) from exc
            ids = {(task, idx): int(iid) for task, idx, iid in rows}
            return [ids.get(key) for key in zip(columns[0], columns[1], strict=True)]

        return self._write(work)

    def insert_cache_hits(
        self,
        run_id: str,
        task_name: str,
        candidates: Sequence[CacheCandidate],
        *,
        user_id: str | None = None,
    ) -> tuple[dict[int | None, ReusedHit], dict[str, TaskInstanceRecord]]:
        """Insert the candidates that are cache hits SUCCESS (see the Store method).

        Two statements: the identities sent as an array, each one's newest
        success found by one descent of the cache index (``LATERAL ... LIMIT
        1``), outside any transaction, which ends a first run (all misses);
        then, in one transaction, the hits whose output
        holds no tagged value, with their ``cache_info`` (encoded only now)
        and source, inserted by one ``INSERT ... SELECT`` over arrays, their
        ``cache_info`` completed as ``jsonb``.  Only hits holding a tagged
        value are read and decoded.
        """
        import psycopg

        keyed = [
            (sqlstore.stored_index(c.array_index, SINGLETON_INDEX), c)
            for c in candidates
            if c.identity
        ]
        if not keyed:
            return {}, {}
        mine, values = _of_user(user_id)

        def look(conn: Connection) -> dict[str, tuple[int, bool]]:
            return {
                identity: (int(source), bool(tagged))
                for identity, source, tagged in conn.execute(
                    "SELECT u.identity, s.id, coalesce(strpos(s.output, %s), 0) > 0 "
                    "FROM unnest(%s::text[]) AS u(identity) CROSS JOIN LATERAL ("
                    "SELECT n.id FROM task_instances n JOIN runs r ON r.id = n.run "
                    f"WHERE n.task = %s AND n.identity = u.identity AND n.state = {_SUCCESS} "
                    f"AND n.source IS NULL{mine} "
                    "ORDER BY n.updated_at DESC, n.id DESC LIMIT 1) newest "
                    "JOIN task_instances s ON s.id = newest.id",
                    (
                        sqlstore.TAGGED,
                        sorted({c.identity for _, c in keyed}),
                        task_name,
                        *values,
                    ),
                ).fetchall()
            }

        # The look-up outside any transaction: a first run (all misses) stops here.
        found = self._read(look)
        if not found:
            return {}, {}

        def work(conn: Connection) -> tuple[dict[int | None, ReusedHit], list[Any]]:
            run = self._run_key(conn, run_id)
            columns: list[list[Any]] = [[], [], [], []]
            for idx, c in keyed:
                hit = found.get(c.identity)
                if hit is not None and not hit[1]:
                    columns[0].append(idx)
                    columns[1].append(c.identity)
                    columns[2].append(sqlstore.info_to_db(c))
                    columns[3].append(hit[0])
            rows: list[Any] = []
            if columns[0]:
                now = sqlstore.now_ms()
                try:
                    with conn.transaction():
                        rows = conn.execute(
                            "INSERT INTO task_instances (run, task, idx, state, created_at, "
                            "updated_at, identity, cache_info, output, output_hash, source) "
                            f"SELECT %s, %s, w.idx, {_SUCCESS}, %s, %s, w.identity, "
                            "(coalesce(w.info, '{}')::jsonb || jsonb_build_object('status', "
                            "'hit', 'source', jsonb_build_object('array_index', "
                            "CASE WHEN s.idx >= 0 THEN s.idx END, 'instance_id', s.id, "
                            "'run_id', r.run_id)))::text, s.output, s.output_hash, "
                            "coalesce(s.source, s.id) FROM unnest(%s::int4[], %s::text[], "
                            "%s::text[], %s::int8[]) AS w(idx, identity, info, source) "
                            f"JOIN task_instances s ON s.id = w.source AND s.state = {_SUCCESS} "
                            "JOIN runs r ON r.id = s.run RETURNING idx, id, output_hash",
                            (run, task_name, now, now, *columns),
                        ).fetchall()
                except psycopg.errors.UniqueViolation as exc:
                    items = [NewTaskInstance(task_name, c.array_index) for c in candidates]
                    raise self._duplicate(conn, run_id, run, items) from exc
            reused = {
                (None if idx == SINGLETON_INDEX else idx): sqlstore.reused_hit(
                    int(iid), digest or ""
                )
                for idx, iid, digest in rows
            }
            held = [source for source, tagged in found.values() if tagged]
            if not held:
                return reused, []
            return reused, conn.execute(
                f"{_REUSE_COLUMNS} FROM task_instances i JOIN runs r ON r.id = i.run "
                f"WHERE i.id = ANY(%s) AND i.state = {_SUCCESS}",
                (held,),
            ).fetchall()

        reused, held = self._write(work)
        return reused, {record.identity: record for record in map(_instance_record, held)}

    def _duplicate(
        self, conn: Connection, run_id: str, run: int, items: Sequence[NewTaskInstance]
    ) -> DuplicateError:
        seen: set[tuple[str, int | None]] = set()
        key = (items[0].task_name, items[0].array_index)
        for item in items:
            key = (item.task_name, item.array_index)
            if key in seen:
                break
            seen.add(key)
        else:
            rows = conn.execute(
                "SELECT u.task, u.idx FROM unnest(%s::text[], %s::integer[]) "
                "WITH ORDINALITY AS u(task, idx, n) JOIN task_instances i ON i.run = %s "
                "AND i.task = u.task AND i.idx = u.idx ORDER BY u.n LIMIT 1",
                (
                    [i.task_name for i in items],
                    [sqlstore.stored_index(i.array_index, SINGLETON_INDEX) for i in items],
                    run,
                ),
            ).fetchall()
            if rows:
                key = (rows[0][0], None if rows[0][1] == SINGLETON_INDEX else rows[0][1])
        return DuplicateError(
            f"Task instance {sqlstore.instance_label(*key)} of run {run_id!r} already exists "
            f"in the PostgreSQL store at {self.server} (each run, task and array index is stored "
            "once); nothing of this batch was inserted. Insert only new instances, "
            "or update the existing one."
        )

    def get_task_instance_record(
        self, run_id: str, task_name: str, array_index: int | None
    ) -> TaskInstanceRecord | None:
        """Return one instance by run, task and array index, or ``None``."""
        idx = sqlstore.stored_index(array_index, SINGLETON_INDEX)
        row = self._read(
            lambda c: c.execute(
                f"{_INSTANCE_SELECT} WHERE r.run_id = %s AND i.task = %s AND i.idx = %s",
                (run_id, task_name, idx),
            ).fetchone()
        )
        return None if row is None else _instance_record(row)

    def get_task_instance_record_by_id(self, instance_id: int) -> TaskInstanceRecord | None:
        """Return one instance by id, or ``None``."""
        row = self._read(
            lambda c: c.execute(
                f"{_INSTANCE_SELECT} WHERE i.id = %s", (int(instance_id),)
            ).fetchone()
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
        where = "r.run_id = %s"
        params: list[Any] = [run_id]
        if task_name is not None:
            where += " AND i.task = %s"
            params.append(task_name)
        if states is not None:
            where += " AND i.state = ANY(%s::smallint[])"
            params.append(_codes(states))
        tail = ""
        if limit is not None:
            tail = " LIMIT %s"
            params.append(limit)
        rows = self._read(
            lambda c: c.execute(
                f"{_INSTANCE_SELECT} WHERE {where} ORDER BY i.task, i.idx{tail}",
                params,
            ).fetchall()
        )
        return [_instance_record(row) for row in rows]

    def count_task_instances(self, run_id: str, task_name: str) -> int:
        """Return how many instances a task has in a run."""
        row = self._read(
            lambda c: c.execute(
                "SELECT count(*) FROM task_instances i JOIN runs r ON r.id = i.run "
                "WHERE r.run_id = %s AND i.task = %s",
                (run_id, task_name),
            ).fetchone()
        )
        return 0 if row is None else int(row[0])

    def task_state_summary(self, run_id: str) -> dict[str, dict[str, int]]:
        """Count the instances of a run per task and state."""
        rows = self._read(
            lambda c: c.execute(
                "SELECT task, state, count(*) FROM task_instances "
                "WHERE run = (SELECT id FROM runs WHERE run_id = %s) GROUP BY task, state",
                (run_id,),
            ).fetchall()
        )
        summary: dict[str, dict[str, int]] = {}
        for name, state, count in rows:
            summary.setdefault(name, {})[TASK_STATES[state].value] = int(count)
        return summary

    def get_array_outputs(self, run_id: str, task_name: str) -> list[Any]:
        """Return the outputs of the successful elements of an array task, by index."""
        rows = self._read(
            lambda c: c.execute(
                "SELECT i.output FROM task_instances i JOIN runs r ON r.id = i.run "
                f"WHERE r.run_id = %s AND i.task = %s AND i.idx >= 0 AND i.state = {_SUCCESS} "
                "ORDER BY i.idx",
                (run_id, task_name),
            ).fetchall()
        )
        return sqlstore.values_from_db([row[0] for row in rows])

    def dependency_is_satisfied(self, run_id: str, task_name: str) -> bool:
        """Return whether a task has instances and all of them succeeded."""
        row = self._read(
            lambda c: c.execute(
                f"SELECT count(*), count(*) FILTER (WHERE i.state = {_SUCCESS}) "
                "FROM task_instances i JOIN runs r ON r.id = i.run "
                "WHERE r.run_id = %s AND i.task = %s",
                (run_id, task_name),
            ).fetchone()
        )
        return row is not None and int(row[0]) > 0 and int(row[0]) == int(row[1])

    # -- state transitions ----------------------------------------------------------

    def apply_state_updates(self, updates: Iterable[StateUpdate]) -> None:
        """Apply many state transitions, in order, in one transaction (all or none).

        The instances' rows are locked first, in id order (so two dispatchers
        updating overlapping instances wait for each other instead of
        deadlocking), every update is checked against :data:`TRANSITIONS` on
        the locked states, and the result is written by one UPDATE.
        """
        batch = list(updates)
        if not batch:
            return
        ids = sorted({int(u.instance_id) for u in batch})

        def work(conn: Connection) -> None:
            rows = conn.execute(
                "SELECT id, state FROM task_instances WHERE id = ANY(%s::bigint[]) "
                "ORDER BY id FOR UPDATE",
                (ids,),
            ).fetchall()
            folds = {int(id_): _Fold(TASK_STATES[state]) for id_, state in rows}
            for update in batch:
                fold = folds.get(int(update.instance_id))
                if fold is None:
                    raise UnknownInstanceError(
                        f"No task instance with id {update.instance_id} in the PostgreSQL "
                        f"store at {self.server}; it may belong to another store "
                        "(check REFLOW_STORE)."
                    )
                requested = TaskState(update.state)
                if requested not in TRANSITIONS[fold.state]:
                    raise InvalidTransitionError(update.instance_id, fold.state, requested)
                fold.apply(update)
            order = list(folds.items())
            conn.execute(
                _APPLY_SQL,
                (
                    sqlstore.now_ms(),
                    [id_ for id_, _ in order],
                    [TASK_STATE_CODES[f.state] for _, f in order],
                    [f.job_set for _, f in order],
                    [f.job for _, f in order],
                    [f.err_set for _, f in order],
                    [f.err for _, f in order],
                    [f.out_set for _, f in order],
                    [f.out for _, f in order],
                    [f.out_hash for _, f in order],
                ),
            )

        self._write(work)

    def update_task_submitted(self, run_id: str, task_name: str, job_id: str) -> int:
        """Mark the ``PENDING`` and ``RETRYING`` instances of a task as submitted."""

        def work(conn: Connection) -> int:
            run = self._run_key(conn, run_id)
            cursor = conn.execute(
                f"UPDATE task_instances SET state = {TASK_STATE_CODES[TaskState.SUBMITTED]}, "
                "job_id = %s, updated_at = %s WHERE run = %s AND task = %s "
                "AND state = ANY(%s::smallint[])",
                (job_id, sqlstore.now_ms(), run, task_name, list(_WAITING)),
            )
            return int(cursor.rowcount)

        return self._write(work)

    # -- cache ----------------------------------------------------------------------

    def _update_many(
        self, sql: str, ids: list[int], columns: Sequence[list[Any]], what: str
    ) -> None:
        """Run an ``UPDATE ... FROM unnest`` over ``ids``; refuse (rolled back) an unknown id."""

        def work(conn: Connection) -> None:
            rows = conn.execute(sql, (ids, *columns)).fetchall()
            if len(rows) != len(set(ids)):
                found = {int(r[0]) for r in rows}
                missing = next(i for i in ids if i not in found)
                raise UnknownInstanceError(
                    f"No task instance with id {missing} in the PostgreSQL store at "
                    f"{self.server}; {what}."
                )

        if ids:
            self._write(work)

    def set_cache_info_many(self, infos: Mapping[int, dict[str, Any]]) -> None:
        """Record, for many instances in one statement, why each was or was not a cache hit."""
        self._update_many(
            "UPDATE task_instances t SET cache_info = u.info "
            "FROM unnest(%s::bigint[], %s::text[]) AS u(id, info) WHERE t.id = u.id "
            "RETURNING t.id",
            [int(i) for i in infos],
            [[sqlstore.dict_to_db(info) for info in infos.values()]],
            "no cache information was recorded",
        )

    def set_identity_many(self, items: Mapping[int, tuple[str, dict[str, Any]]]) -> None:
        """Move instances to another identity, with the cache_info saying why."""
        self._update_many(
            "UPDATE task_instances t SET identity = u.identity, cache_info = u.info "
            "FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS u(id, identity, info) "
            "WHERE t.id = u.id RETURNING t.id",
            [int(i) for i in items],
            [
                [_text(identity) for identity, _ in items.values()],
                [sqlstore.dict_to_db(info) for _, info in items.values()],
            ],
            "no identity was changed",
        )

    def find_cached_record(
        self, task_name: str, identity: str, *, user_id: str | None = None
    ) -> TaskInstanceRecord | None:
        """Find the most recent successful instance with this identity (of one user's runs)."""
        if not identity:
            return None
        mine, values = _of_user(user_id)
        row = self._read(
            lambda c: c.execute(
                f"{_INSTANCE_SELECT} WHERE i.task = %s AND i.identity = %s "
                f"AND i.state = {_SUCCESS} AND i.source IS NULL{mine} "
                "ORDER BY i.updated_at DESC, i.id DESC LIMIT 1",
                (task_name, identity, *values),
            ).fetchone()
        )
        return None if row is None else _instance_record(row)

    def find_cached_many(
        self, task_name: str, identities: Iterable[str], *, user_id: str | None = None
    ) -> dict[str, TaskInstanceRecord]:
        """Find, for many identities in one query, the most recent successful instance of each."""
        return self._find_newest(_INSTANCE_COLUMNS, task_name, identities, user_id)

    def find_cached_outputs(
        self, task_name: str, identities: Iterable[str], *, user_id: str | None = None
    ) -> dict[str, TaskInstanceRecord]:
        """:meth:`find_cached_many` without decoding each hit's input and cache_info."""
        return self._find_newest(_REUSE_COLUMNS, task_name, identities, user_id)

    def newest_outputs(
        self, task_name: str, *, user_id: str | None = None
    ) -> dict[str, TaskInstanceRecord]:
        """Every identity's newest success (:meth:`Store.newest_outputs`), from the cache index."""
        every = (
            "(SELECT DISTINCT identity FROM task_instances WHERE task = %s "
            f"AND state = {_SUCCESS} AND source IS NULL AND identity IS NOT NULL "
            "AND identity <> '')"
        )
        return self._newest_of(_REUSE_COLUMNS, every, (task_name,), task_name, user_id)

    def _find_newest(
        self, columns: str, task_name: str, identities: Iterable[str], user_id: str | None
    ) -> dict[str, TaskInstanceRecord]:
        wanted = sorted({i for i in identities if i})
        if not wanted:
            return {}
        return self._newest_of(columns, "unnest(%s::text[])", (wanted,), task_name, user_id)

    def _newest_of(
        self,
        columns: str,
        source: str,
        params: tuple[Any, ...],
        task_name: str,
        user_id: str | None,
    ) -> dict[str, TaskInstanceRecord]:
        """The newest success of each identity ``source`` (SQL, with ``params``) yields."""
        mine, values = _of_user(user_id)
        # Per identity, the first entry of the index task_instances_cache (newest
        # first): one index descent each, however many earlier runs succeeded
        # with it.  (DISTINCT ON read every one of them.)
        rows = self._read(
            lambda c: c.execute(
                f"{columns} FROM {source} w(identity) CROSS JOIN LATERAL ("
                "SELECT n.id FROM task_instances n JOIN runs r ON r.id = n.run "
                f"WHERE n.task = %s AND n.identity = w.identity AND n.state = {_SUCCESS} "
                f"AND n.source IS NULL{mine} "
                "ORDER BY n.updated_at DESC, n.id DESC LIMIT 1"
                ") newest JOIN task_instances i ON i.id = newest.id JOIN runs r ON r.id = i.run",
                (*params, task_name, *values),
            ).fetchall()
        )
        return {record.identity: record for record in map(_instance_record, rows)}

    def restore_times(
        self,
        run_id: str,
        created_at: datetime,
        heartbeat_at: datetime | None,
        instances: Mapping[int, tuple[datetime, datetime]],
    ) -> None:
        """Set a copied run's and its instances' original times (:meth:`Store.restore_times`)."""
        beat = None if heartbeat_at is None else sqlstore.datetime_to_ms(heartbeat_at)

        def work(conn: Connection) -> None:
            row = conn.execute(
                "UPDATE runs SET created_at = %s, heartbeat_at = %s WHERE run_id = %s "
                "RETURNING id",
                (sqlstore.datetime_to_ms(created_at), beat, run_id),
            ).fetchone()
            if row is None:
                raise self._unknown_run(run_id)
            conn.execute(
                "UPDATE task_instances t SET created_at = u.created, updated_at = u.updated "
                "FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS u(id, created, updated) "
                "WHERE t.id = u.id AND t.run = %s",
                (
                    [int(i) for i in instances],
                    [sqlstore.datetime_to_ms(c) for c, _ in instances.values()],
                    [sqlstore.datetime_to_ms(u) for _, u in instances.values()],
                    int(row[0]),
                ),
            )

        self._write(work)

    def may_have_cached_results(self, task_name: str) -> bool:
        """Whether a computed success of ``task_name`` exists: one probe of the cache index."""
        row = self._read(
            lambda conn: conn.execute(
                f"SELECT 1 FROM task_instances WHERE task = %s AND state = {_SUCCESS} "
                "AND source IS NULL LIMIT 1",
                (task_name,),
            ).fetchone()
        )
        return row is not None

    def record_array_identity(
        self, run_id: str, task_name: str, identity: str, count: int
    ) -> None:
        """Remember that ``task_name`` completed in ``run_id`` with this whole-array identity."""
        if not identity:
            return

        def work(conn: Connection) -> None:
            run = self._run_key(conn, run_id)
            conn.execute(
                "INSERT INTO array_cache (task, identity, run, count, created_at) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (task, identity, run) "
                "DO UPDATE SET count = EXCLUDED.count, created_at = EXCLUDED.created_at",
                (task_name, identity, run, int(count), sqlstore.now_ms()),
            )

        self._write(work)

    def list_array_identities(self, run_id: str) -> list[tuple[str, str, int]]:
        """The whole-array identities recorded for a run, by task (for ``reflow store copy``)."""
        rows = self._read(
            lambda c: c.execute(
                "SELECT a.task, a.identity, a.count FROM array_cache a "
                "JOIN runs r ON r.id = a.run "
                "WHERE r.run_id = %s ORDER BY a.task, a.identity",
                (run_id,),
            ).fetchall()
        )
        return [(str(task), str(identity), int(count)) for task, identity, count in rows]

    def find_cached_array(
        self, task_name: str, identity: str, *, user_id: str | None = None
    ) -> tuple[str, int] | None:
        """The newest complete array recorded under this identity (``Store.find_cached_array``)."""
        if not identity:
            return None

        def work(conn: Connection) -> tuple[str, int] | None:
            for _, count, source_id in _complete_arrays(conn, task_name, identity, user_id):
                return source_id, count
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

        One ``INSERT ... SELECT`` joining the spans (two arrays, unnested) to
        the source's rows by the ``(run, task, idx)`` index.
        """
        import psycopg

        wanted = sum(last - first + 1 for first, last in spans)
        if not wanted:
            return None
        firsts = [first for first, _ in spans]
        lasts = [last for _, last in spans]

        def work(conn: Connection) -> dict[int, str] | None:
            row = conn.execute(
                "SELECT id FROM runs WHERE run_id = %s", (source_run_id,)
            ).fetchone()
            if row is None:
                return None
            target = self._run_key(conn, run_id)
            now = sqlstore.now_ms()
            info = sqlstore.copy_info(source_run_id)
            try:
                with conn.transaction():
                    rows = conn.execute(
                        f"{_COPY_SUCCESSES}"
                        "FROM unnest(%s::integer[], %s::integer[]) AS r(first, last) "
                        "JOIN task_instances s ON s.run = %s AND s.task = %s "
                        f"AND s.idx BETWEEN r.first AND r.last AND s.state = {_SUCCESS} "
                        "RETURNING idx, output_hash",
                        (target, now, now, info, firsts, lasts, row[0], task_name),
                    ).fetchall()
                    if len(rows) != wanted:  # the source lost elements: copy none
                        raise _IncompleteError
            except psycopg.errors.UniqueViolation as exc:
                raise DuplicateError(
                    f"Task {task_name!r} already has instances in run {run_id} at indices the "
                    "copy would take; elements can only be copied into free indices."
                ) from exc
            return {int(idx): digest or "" for idx, digest in rows}

        try:
            return self._write(work)
        except _IncompleteError:
            return None

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
        """The copy of a cached array, in one transaction: source run and hashes."""
        import psycopg

        if not identity:
            return None

        def work(conn: Connection) -> tuple[str, list[str]] | None:
            target = self._run_key(conn, run_id)
            now = sqlstore.now_ms()
            for source, _, source_id in _complete_arrays(conn, task_name, identity, user_id):
                info = sqlstore.copy_info(source_id)
                try:
                    with conn.transaction():
                        rows = conn.execute(
                            f"{_COPY_SUCCESSES}FROM task_instances s WHERE s.run = %s "
                            f"AND s.task = %s AND s.state = {_SUCCESS} AND s.idx >= 0 "
                            "ORDER BY s.idx RETURNING idx, output_hash",
                            (target, now, now, info, source, task_name),
                        ).fetchall()
                except psycopg.errors.UniqueViolation as exc:
                    raise DuplicateError(
                        f"Task {task_name!r} already has instances in run {run_id}; a cached "
                        "array can only be copied into a task with none."
                    ) from exc
                rows.sort()  # RETURNING gives no order
                if record:
                    conn.execute(
                        "INSERT INTO array_cache (task, identity, run, count, created_at) "
                        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (task, identity, run) "
                        "DO UPDATE SET count = excluded.count, created_at = excluded.created_at",
                        (task_name, identity, target, len(rows), now),
                    )
                return str(source_id), [digest or "" for _, digest in rows]
            return None

        return self._write(work)

"""Schema versions of the manifest database and the forward migrations between them.

The ``schema_version`` table holds one row per applied version; the highest
is the database's version.  A new database is built by running every
migration from the first, so a fresh database and a migrated one always end
with the same schema.  Versions:

1. The original layout: text keys, text states, ISO-8601 timestamps, hex
   hashes as text.  Databases written before reflow kept a version table
   have exactly these tables and no ``schema_version``; they count as
   version 1.
2. The compact layout described in :mod:`reflow_store_sqlite.schema`.
3. Whole-array cache records.
4. Run ownership: who advances each run, and its last heartbeat.
5. The run context (:class:`reflow.runs.context.RunContext`) as typed columns
   of the run, filled for older runs from the parameter keys they kept it in.
6. The cache index ordered by time within each identity, so a cache lookup
   reads one entry per identity whatever the history.

Every migration runs inside the caller's write transaction: it applies
completely or not at all.  The statements of a released version are frozen:
change the schema only by appending a migration.
"""

# SQL here is assembled only from module constants (state codes, column lists);
# every value from callers is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from reflow.stores import RunState, TaskState, sqlstore
from reflow_store_sqlite.schema import (
    APPLICATION_ID,
    RUN_STATE_CODES,
    SCHEMA_VERSION,
    TASK_STATE_CODES,
    hash_to_db,
)

__all__ = [
    "LEGACY_TABLES",
    "MIGRATIONS",
    "V1_SCHEMA",
    "V2_SCHEMA",
    "VERSION_TABLE",
    "ForeignDatabaseError",
    "Migration",
    "apply_migrations",
    "read_version",
]

VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version     INTEGER PRIMARY KEY,
    applied_at  TEXT NOT NULL,
    description TEXT NOT NULL
)
"""

LEGACY_TABLES = frozenset({"runs", "task_specs", "task_dependencies", "task_instances"})
"""The tables of a version-1 database."""

V1_SCHEMA: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        run_id      TEXT PRIMARY KEY,
        graph_name  TEXT NOT NULL,
        user_id     TEXT NOT NULL DEFAULT '',
        created_at  TEXT NOT NULL,
        status      TEXT NOT NULL,
        parameters  TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE task_specs (
        run_id      TEXT NOT NULL,
        task_name   TEXT NOT NULL,
        is_array    INTEGER NOT NULL,
        config      TEXT NOT NULL,
        PRIMARY KEY (run_id, task_name)
    )
    """,
    """
    CREATE TABLE task_dependencies (
        run_id      TEXT NOT NULL,
        task_name   TEXT NOT NULL,
        depends_on  TEXT NOT NULL,
        PRIMARY KEY (run_id, task_name, depends_on)
    )
    """,
    """
    CREATE TABLE task_instances (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id      TEXT NOT NULL,
        task_name   TEXT NOT NULL,
        array_index INTEGER,
        state       TEXT NOT NULL,
        job_id      TEXT,
        input       TEXT NOT NULL DEFAULT '{}',
        output      TEXT,
        error_text  TEXT,
        identity    TEXT NOT NULL DEFAULT '',
        input_hash  TEXT NOT NULL DEFAULT '',
        output_hash TEXT NOT NULL DEFAULT '',
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    )
    """,
    "CREATE INDEX idx_instances_run ON task_instances(run_id, task_name)",
    "CREATE INDEX idx_instances_identity ON task_instances(task_name, identity, state)",
)
"""Version 1: the original text layout."""

V2_SCHEMA: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        id               INTEGER PRIMARY KEY,
        run_id           TEXT NOT NULL UNIQUE,
        graph_name       TEXT NOT NULL,
        user_id          TEXT NOT NULL,
        created_at       INTEGER NOT NULL,
        status           INTEGER NOT NULL,
        parameters       TEXT,
        executor         TEXT NOT NULL DEFAULT '',
        executor_options TEXT
    )
    """,
    "CREATE INDEX runs_by_graph ON runs(graph_name)",
    "CREATE INDEX runs_by_user ON runs(user_id)",
    """
    CREATE TABLE task_names (
        id    INTEGER PRIMARY KEY,
        name  TEXT NOT NULL UNIQUE
    )
    """,
    """
    CREATE TABLE task_specs (
        run       INTEGER NOT NULL,
        task      INTEGER NOT NULL,
        is_array  INTEGER NOT NULL,
        config    TEXT,
        PRIMARY KEY (run, task)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE task_dependencies (
        run         INTEGER NOT NULL,
        task        INTEGER NOT NULL,
        depends_on  INTEGER NOT NULL,
        PRIMARY KEY (run, task, depends_on)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE task_instances (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        run          INTEGER NOT NULL,
        task         INTEGER NOT NULL,
        idx          INTEGER NOT NULL CHECK (idx >= -1),
        state        INTEGER NOT NULL CHECK (state BETWEEN 0 AND 7),
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL,
        identity     BLOB,
        input_hash   BLOB,
        output_hash  BLOB,
        job_id       TEXT,
        input        TEXT,
        output       TEXT,
        error_text   TEXT,
        cache_info   TEXT
    )
    """,
    "CREATE UNIQUE INDEX task_instances_key ON task_instances(run, task, idx)",
    "CREATE INDEX task_instances_status ON task_instances(run, task, state)",
    # find_cached: successful instances by (task, identity); state 3 is SUCCESS.
    "CREATE INDEX task_instances_cache ON task_instances(task, identity) WHERE state = 3",
)
"""Version 2: the compact layout (see :mod:`reflow_store_sqlite.schema`)."""

V3_SCHEMA: tuple[str, ...] = (
    """
    CREATE TABLE array_cache (
        task        INTEGER NOT NULL,
        identity    BLOB NOT NULL,
        run         INTEGER NOT NULL,
        count       INTEGER NOT NULL,
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (task, identity, run)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX array_cache_by_run ON array_cache(run)",
)
"""Version 3: whole-array cache records, so a fully cached array is one lookup."""

V4_SCHEMA: tuple[str, ...] = (
    # The owner as manifest-codec JSON (host, pid, process start time, or the
    # dispatcher's job id and executor); NULL for runs made before version 4.
    "ALTER TABLE runs ADD COLUMN owner TEXT",
    # Milliseconds since the epoch, like every other timestamp.
    "ALTER TABLE runs ADD COLUMN heartbeat_at INTEGER",
)
"""Version 4: who advances each run and when it last said so, to tell a lost run."""

V5_SCHEMA: tuple[str, ...] = (
    # The run's facts, typed (reflow.runs.context.RunContext).  NULL run_dir:
    # a run recorded without one, whose record then has no context.
    "ALTER TABLE runs ADD COLUMN run_dir TEXT",
    # NULL for runs advanced in-process (run_local), which no job loads.
    "ALTER TABLE runs ADD COLUMN script TEXT",
    # JSON lists of strings; NULL when empty.
    "ALTER TABLE runs ADD COLUMN argv TEXT",
    "ALTER TABLE runs ADD COLUMN store_url TEXT",
    "ALTER TABLE runs ADD COLUMN force INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE runs ADD COLUMN force_tasks TEXT",
    "ALTER TABLE runs ADD COLUMN verify INTEGER NOT NULL DEFAULT 0",
)
"""Version 5: the run context as typed columns (older runs filled by :func:`_v4_to_v5`)."""

V6_SCHEMA: tuple[str, ...] = (
    # find_cached: the newest successful instance of an identity is the last
    # entry of (task, identity) in this index, found by one descent whatever the
    # history (version 2's index held (task, identity) only, so a lookup read
    # every earlier success of the identity to find the newest).  An index
    # costs a successful instance nothing more than version 2's did.
    "DROP INDEX task_instances_cache",
    "CREATE INDEX task_instances_newest ON task_instances(task, identity, updated_at, id) "
    "WHERE state = 3",
)
"""Version 6: the cache index, whose last entry per identity is the newest success."""

V7_SCHEMA: tuple[str, ...] = (
    # The instance a cache hit reuses (the first computed one: a hit of a hit
    # names its source's source); NULL for an instance computed in its own run.
    "ALTER TABLE task_instances ADD COLUMN source INTEGER",
    # Hits are left out of the cache index: a rerun reusing 10,000 results adds
    # nothing to it, so lookups and writes do not grow with reruns.  A hit's
    # output is its source's, so the source answers for it; delete_run turns
    # the hits of a deleted run's instances into computed ones first.
    "DROP INDEX task_instances_newest",
    "CREATE INDEX task_instances_newest ON task_instances(task, identity, updated_at, id) "
    "WHERE state = 3 AND source IS NULL",
)
"""Version 7: cache hits name their source and stay out of the cache index."""

# Where runs recorded before version 5 kept their facts, in their parameters.
_LEGACY_KEYS = ("run_dir", "__script__", "__argv__", "__force__", "__force_tasks__", "__verify__")


def _legacy_text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _legacy_list(value: object) -> str | None:
    if not isinstance(value, list) or not value:
        return None
    return json.dumps([str(item) for item in value])


def _v4_to_v5(conn: sqlite3.Connection) -> None:
    """Fill the context columns of older runs from the parameter keys they used.

    The parameters are left as they were.  They are read as plain JSON, not
    through the manifest codec: the keys hold strings, lists and booleans, and
    a parameter of a type the codec no longer knows must not stop the migration.
    """
    rows = conn.execute("SELECT id, parameters FROM runs WHERE parameters IS NOT NULL").fetchall()
    for run, text in rows:
        try:
            params = json.loads(text)
        except ValueError:
            continue
        if not isinstance(params, dict) or not any(key in params for key in _LEGACY_KEYS):
            continue
        conn.execute(
            "UPDATE runs SET run_dir = ?, script = ?, argv = ?, force = ?, force_tasks = ?, "
            "verify = ? WHERE id = ?",
            (
                _legacy_text(params.get("run_dir")),
                _legacy_text(params.get("__script__")),
                _legacy_list(params.get("__argv__")),
                int(params.get("__force__") is True),
                _legacy_list(params.get("__force_tasks__")),
                int(params.get("__verify__") is True),
                run,
            ),
        )


class ForeignDatabaseError(Exception):
    """The file is an SQLite database, but not a reflow manifest."""


@dataclass(frozen=True)
class Migration:
    """One step forward in the schema.

    Attributes
    ----------
    version : int
        The version the database has after this step.
    description : str
        What the step changes, recorded in ``schema_version``.
    statements : tuple[str, ...]
        SQL statements to run, in order.
    apply : Callable or None
        Python code run after the statements, for data conversions.
    """

    version: int
    description: str
    statements: tuple[str, ...] = ()
    apply: Callable[[sqlite3.Connection], None] | None = None

    def run(self, conn: sqlite3.Connection) -> None:
        """Apply this step inside the caller's transaction."""
        for statement in self.statements:
            conn.execute(statement)
        if self.apply is not None:
            self.apply(conn)


def _iso_to_ms(text: str | None) -> int:
    if not text:
        return 0
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return sqlstore.datetime_to_ms(datetime.fromisoformat(text))


def _check_legacy_values(conn: sqlite3.Connection) -> None:
    task_states = {state.value for state in TaskState}
    run_states = {state.value for state in RunState}
    for (value,) in conn.execute("SELECT DISTINCT state FROM v1_task_instances"):
        if value not in task_states:
            raise ValueError(f"a task instance has the unknown state {value!r}")
    for (value,) in conn.execute("SELECT DISTINCT status FROM v1_runs"):
        if value not in run_states:
            raise ValueError(f"a run has the unknown status {value!r}")


def _case(column: str, codes: dict[TaskState, int] | dict[RunState, int]) -> str:
    arms = " ".join(f"WHEN '{state.value}' THEN {code}" for state, code in codes.items())
    return f"CASE {column} {arms} END"


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    """Convert the text layout of version 1 into the compact layout of version 2."""
    conn.create_function("reflow_iso_ms", 1, _iso_to_ms, deterministic=True)
    conn.create_function("reflow_hash", 1, hash_to_db, deterministic=True)
    for table in sorted(LEGACY_TABLES):
        conn.execute(f"ALTER TABLE {table} RENAME TO v1_{table}")
    _check_legacy_values(conn)
    for statement in V2_SCHEMA:
        conn.execute(statement)

    # Runs; instances or specs whose run row is missing get a placeholder run,
    # so that no row is lost.
    conn.execute(
        "INSERT INTO runs (run_id, graph_name, user_id, created_at, status, parameters) "
        "SELECT run_id, graph_name, COALESCE(user_id, ''), reflow_iso_ms(created_at), "
        f"{_case('status', RUN_STATE_CODES)}, NULLIF(NULLIF(parameters, '{{}}'), '') "
        "FROM v1_runs ORDER BY created_at, rowid"
    )
    conn.execute(
        "INSERT INTO runs (run_id, graph_name, user_id, created_at, status) "
        "SELECT run_id, '', '', 0, "
        f"{RUN_STATE_CODES[RunState.FAILED]} FROM ("
        "  SELECT run_id FROM v1_task_instances UNION SELECT run_id FROM v1_task_specs"
        "  UNION SELECT run_id FROM v1_task_dependencies"
        ") WHERE run_id NOT IN (SELECT run_id FROM v1_runs)"
    )
    conn.execute(
        "INSERT INTO task_names (name) "
        "SELECT task_name FROM v1_task_specs UNION SELECT task_name FROM v1_task_dependencies "
        "UNION SELECT depends_on FROM v1_task_dependencies "
        "UNION SELECT task_name FROM v1_task_instances"
    )
    conn.execute(
        "INSERT INTO task_specs (run, task, is_array, config) "
        "SELECT r.id, t.id, s.is_array, NULLIF(NULLIF(s.config, '{}'), '') "
        "FROM v1_task_specs s JOIN runs r ON r.run_id = s.run_id "
        "JOIN task_names t ON t.name = s.task_name"
    )
    conn.execute(
        "INSERT INTO task_dependencies (run, task, depends_on) "
        "SELECT r.id, t.id, d.id FROM v1_task_dependencies x "
        "JOIN runs r ON r.run_id = x.run_id JOIN task_names t ON t.name = x.task_name "
        "JOIN task_names d ON d.name = x.depends_on"
    )

    # Version 1 had no UNIQUE key on instances.  Keep one row per key (a
    # successful one if any, else the newest) and set the others aside.
    ranked = (
        "SELECT id, ROW_NUMBER() OVER ("
        "  PARTITION BY run_id, task_name, COALESCE(array_index, -1)"
        "  ORDER BY (state = 'SUCCESS') DESC, id DESC"
        ") AS rank FROM v1_task_instances"
    )
    duplicates = conn.execute(f"SELECT count(*) FROM ({ranked}) WHERE rank > 1").fetchone()[0]
    if duplicates:
        conn.execute(
            "CREATE TABLE v1_duplicate_task_instances AS SELECT * FROM v1_task_instances "
            f"WHERE id IN (SELECT id FROM ({ranked}) WHERE rank > 1)"
        )
        conn.execute(
            "DELETE FROM v1_task_instances WHERE id IN "
            "(SELECT id FROM v1_duplicate_task_instances)"
        )
    conn.execute(
        "INSERT INTO task_instances (id, run, task, idx, state, created_at, updated_at, "
        "identity, input_hash, output_hash, job_id, input, output, error_text) "
        "SELECT i.id, r.id, t.id, COALESCE(i.array_index, -1), "
        f"{_case('i.state', TASK_STATE_CODES)}, "
        "reflow_iso_ms(i.created_at), reflow_iso_ms(i.updated_at), reflow_hash(i.identity), "
        "reflow_hash(i.input_hash), reflow_hash(i.output_hash), i.job_id, "
        "NULLIF(NULLIF(i.input, '{}'), ''), i.output, i.error_text "
        "FROM v1_task_instances i JOIN runs r ON r.run_id = i.run_id "
        "JOIN task_names t ON t.name = i.task_name ORDER BY i.id"
    )
    for table in sorted(LEGACY_TABLES):
        conn.execute(f"DROP TABLE v1_{table}")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "original layout: text keys, states, timestamps and hashes", V1_SCHEMA),
    Migration(
        2,
        "compact layout: integer keys and states, binary hashes, epoch-ms timestamps",
        apply=_v1_to_v2,
    ),
    Migration(3, "whole-array cache records", V3_SCHEMA),
    Migration(4, "run ownership and heartbeats", V4_SCHEMA),
    Migration(5, "run context as typed columns", V5_SCHEMA, apply=_v4_to_v5),
    Migration(6, "cache index: the newest success of an identity in one read", V6_SCHEMA),
    Migration(7, "cache hits name their source and stay out of the cache index", V7_SCHEMA),
)
"""Every schema step, oldest first.  The last one's version is :data:`SCHEMA_VERSION`."""


def read_version(conn: sqlite3.Connection) -> int:
    """Return the schema version of an open database.

    Returns
    -------
    int
        ``0`` for an empty database, else the highest applied version
        (``1`` for an original-layout database without a version table).

    Raises
    ------
    ForeignDatabaseError
        If the database belongs to another application.
    """
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    tables = {
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    if app_id not in (0, APPLICATION_ID):
        raise ForeignDatabaseError(f"its application id is {app_id:#x}, not reflow's")
    if "schema_version" in tables:
        version = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        if version is None and tables != {"schema_version"}:
            raise ForeignDatabaseError("its schema_version table is empty")
        return int(version or 0)
    if not tables:
        return 0
    if tables >= LEGACY_TABLES:
        return 1
    shown = ", ".join(sorted(tables)[:6])
    raise ForeignDatabaseError(f"it has no reflow tables (it has: {shown})")


def apply_migrations(conn: sqlite3.Connection, current: int) -> list[Migration]:
    """Bring the database from version ``current`` to :data:`SCHEMA_VERSION`.

    Must run inside a write transaction the caller commits.

    Parameters
    ----------
    conn : sqlite3.Connection
        The database.
    current : int
        Its version, from :func:`read_version` in the same transaction.

    Returns
    -------
    list[Migration]
        The steps applied.
    """
    conn.execute(VERSION_TABLE)
    stamp = datetime.now(tz=timezone.utc).isoformat()
    if current >= 1:
        conn.execute(
            "INSERT OR IGNORE INTO schema_version VALUES (1, ?, ?)",
            (stamp, "original layout, found without a version table"),
        )
    applied: list[Migration] = []
    for migration in MIGRATIONS:
        if current < migration.version <= SCHEMA_VERSION:
            migration.run(conn)
            conn.execute(
                "INSERT INTO schema_version VALUES (?, ?, ?)",
                (migration.version, stamp, migration.description),
            )
            applied.append(migration)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    return applied

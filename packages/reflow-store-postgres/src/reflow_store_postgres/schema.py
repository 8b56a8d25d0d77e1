"""The database schema, its recorded version, and the forward migrations between versions.

Layout (tables in the first schema of the connection's ``search_path``, so a
site can give each user or lab a schema of its own in one database):

- ``reflow_meta``: ``schema_version`` and the package that wrote it;
- ``runs`` (``run_id`` UNIQUE) with the typed :class:`~reflow.stores.RunContext`
  columns, the owner and the heartbeat;
- ``task_specs`` and ``task_dependencies``, keyed by run and task;
- ``task_instances``, UNIQUE on ``(run, task, idx)``; a singleton's index is
  stored as ``-1`` so that the key covers it too;
- ``array_cache``: whole arrays by identity, for ``copy_cached_array``.

States are small integers (:data:`TASK_STATE_CODES`), timestamps milliseconds
since the epoch (UTC), empty dictionaries and ``""`` hashes NULL, other values
manifest-codec JSON.  The codes are part of the stored format: never renumber them.

Migration ``n`` (``MIGRATIONS[n - 1]``) takes the schema from version ``n - 1``
to ``n``; version 0 is an empty schema.  Migrations only ever go forward, and
a store refuses a schema newer than :data:`SCHEMA_VERSION`.
"""

from __future__ import annotations

from datetime import datetime, timezone

from reflow.stores import RunState, TaskState

__all__ = [
    "MIGRATIONS",
    "MIGRATION_LOCK",
    "RUN_STATES",
    "RUN_STATE_CODES",
    "SCHEMA_VERSION",
    "SINGLETON_INDEX",
    "TASK_STATES",
    "TASK_STATE_CODES",
]

SINGLETON_INDEX = -1
"""Stored array index of a singleton task instance."""

TASK_STATE_CODES: dict[TaskState, int] = {
    TaskState.PENDING: 0,
    TaskState.SUBMITTED: 1,
    TaskState.RUNNING: 2,
    TaskState.SUCCESS: 3,
    TaskState.FAILED: 4,
    TaskState.CANCELLED: 5,
    TaskState.RETRYING: 6,
    TaskState.SKIPPED: 7,
}
TASK_STATES: dict[int, TaskState] = {code: state for state, code in TASK_STATE_CODES.items()}

RUN_STATE_CODES: dict[RunState, int] = {
    RunState.PENDING: 0,
    RunState.RUNNING: 1,
    RunState.SUCCESS: 2,
    RunState.FAILED: 3,
    RunState.CANCELLED: 4,
}
RUN_STATES: dict[int, RunState] = {code: state for state, code in RUN_STATE_CODES.items()}

MIGRATION_LOCK = 0x52464C57
"""Key of the advisory lock that serialises schema creation and migrations."""

_V1 = (
    "CREATE TABLE reflow_meta (key text PRIMARY KEY, value text NOT NULL)",
    """
    CREATE TABLE runs (
        id bigserial PRIMARY KEY,
        run_id text NOT NULL UNIQUE,
        graph_name text NOT NULL,
        user_id text NOT NULL,
        created_at bigint NOT NULL,
        status smallint NOT NULL,
        parameters text,
        executor text NOT NULL DEFAULT '',
        executor_options text,
        run_dir text,
        script text,
        argv text,
        store_url text,
        force boolean NOT NULL DEFAULT false,
        force_tasks text,
        verify boolean NOT NULL DEFAULT false,
        owner text,
        heartbeat_at bigint
    )
    """,
    """
    CREATE TABLE task_specs (
        run bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        task text NOT NULL,
        is_array boolean NOT NULL,
        config text,
        PRIMARY KEY (run, task)
    )
    """,
    """
    CREATE TABLE task_dependencies (
        run bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        task text NOT NULL,
        depends_on text NOT NULL,
        PRIMARY KEY (run, task, depends_on)
    )
    """,
    """
    CREATE TABLE task_instances (
        id bigserial PRIMARY KEY,
        run bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        task text NOT NULL,
        idx integer NOT NULL,
        state smallint NOT NULL,
        job_id text,
        input text,
        output text,
        error_text text,
        identity text,
        input_hash text,
        output_hash text,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL,
        cache_info text,
        UNIQUE (run, task, idx)
    )
    """,
)
"""Version 1: the tables, with the UNIQUE keys the store relies on."""

_V2 = (
    "CREATE INDEX runs_by_graph ON runs (graph_name)",
    "CREATE INDEX runs_by_user ON runs (user_id)",
    "CREATE INDEX runs_by_created ON runs (created_at DESC, id DESC)",
    "CREATE INDEX task_instances_by_state ON task_instances (run, task, state)",
    # find_cached: the newest successful instance of an identity, read from the index alone.
    "CREATE INDEX task_instances_cache ON task_instances "
    "(task, identity, updated_at DESC, id DESC) WHERE state = 3",
    """
    CREATE TABLE array_cache (
        task text NOT NULL,
        identity text NOT NULL,
        run bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        count integer NOT NULL,
        created_at bigint NOT NULL,
        PRIMARY KEY (task, identity, run)
    )
    """,
    "CREATE INDEX array_cache_by_run ON array_cache (run)",
)
"""Version 2: the indexes of the lookups, and whole-array cache entries."""

_V3 = (
    # The instance a cache hit reuses (the first computed one: a hit of a hit
    # names its source's source); NULL for an instance computed in its own run.
    "ALTER TABLE task_instances ADD COLUMN source bigint",
    # Hits are left out of the cache index: a rerun reusing 10,000 results adds
    # nothing to it, so lookups and writes do not grow with reruns.  A hit's
    # output is its source's, so the source answers for it; delete_run turns
    # the hits of a deleted run's instances into computed ones first.
    "DROP INDEX task_instances_cache",
    "CREATE INDEX task_instances_cache ON task_instances "
    "(task, identity, updated_at DESC, id DESC) WHERE state = 3 AND source IS NULL",
)
"""Version 3: cache hits name their source and stay out of the cache index."""

MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3)
"""``MIGRATIONS[n - 1]`` takes a schema from version ``n - 1`` to version ``n``."""

SCHEMA_VERSION = len(MIGRATIONS)
"""The schema version this package writes and reads."""

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

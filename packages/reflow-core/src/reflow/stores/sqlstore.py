"""What every SQL store does around its SQL: rows to records, values to columns, its messages.

Part of the store plugin API (``from reflow.stores import sqlstore``).  A SQL
store keeps the same logical columns whatever its dialect: times as
milliseconds since 1970 (UTC), dictionaries and values as JSON of the
manifest codec (:data:`reflow.stores.CODEC`), a singleton task's instance
under one reserved array index, and a run's context in typed columns.  The
SQLite and PostgreSQL stores select their rows in the column orders below and
build their records here, so both return the same records for the same data.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from reflow._types import RunState, TaskState
from reflow.manifest import CODEC
from reflow.stores.records import (
    CacheCandidate,
    NewTaskInstance,
    RunContext,
    RunOwner,
    RunRecord,
    StateUpdate,
    TaskInstanceRecord,
    reused_hit,
)

__all__ = [
    "RUN_COLUMNS",
    "RUN_OWNER",
    "RUN_SELECT",
    "TAGGED",
    "CreatedMs",
    "context_to_db",
    "copy_info",
    "datetime_to_ms",
    "dict_from_db",
    "dict_to_db",
    "info_to_db",
    "instance_label",
    "instance_record",
    "ms_to_datetime",
    "now_ms",
    "output_to_db",
    "reused_hit",
    "run_record",
    "schema_too_new",
    "stored_index",
    "value_from_db",
    "value_to_db",
    "values_from_db",
]

RUN_COLUMNS = (
    "run_id, graph_name, user_id, created_at, status, parameters, executor, executor_options, "
    "run_dir, script, argv, store_url, force, force_tasks, verify"
)
"""The columns a new run is inserted with, in :func:`run_record`'s order."""

RUN_SELECT = f"{RUN_COLUMNS}, owner, heartbeat_at"
"""The columns a run is read with (:func:`run_record` takes a row of them)."""

RUN_OWNER = 15
"""Index of ``owner`` in a row of :data:`RUN_SELECT` (``heartbeat_at`` follows)."""

TAGGED = f'"{CODEC.marker_key}"'
"""Text found in every stored value holding a tagged value (a ``Path``, a tuple...).

A store that reuses outputs inside itself hands back, decoded, every hit whose
stored output contains it (:meth:`reflow.stores.Store.insert_cache_hits`): a
``Path`` in an output has its files checked before reuse.  A plain string
holding it is escaped (``\\"``), so only a dict key could match by chance:
such a hit is merely decided in Python.
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def now_ms() -> int:
    """Return the current time in milliseconds since the Unix epoch (UTC)."""
    return time.time_ns() // 1_000_000


def ms_to_datetime(value: int) -> datetime:
    """Convert stored milliseconds since the epoch to an aware UTC datetime."""
    return _EPOCH + timedelta(milliseconds=value)


def datetime_to_ms(value: datetime) -> int:
    """Convert a datetime to milliseconds since the epoch; naive means UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return (value - _EPOCH) // timedelta(milliseconds=1)


def dict_to_db(value: dict[str, Any] | None) -> str | None:
    """Encode a dictionary payload: empty as NULL, else manifest-codec JSON."""
    return CODEC.dumps(value) if value else None


def dict_from_db(value: str | None) -> dict[str, Any]:
    """Decode a dictionary payload written by :func:`dict_to_db`."""
    if value is None:
        return {}
    decoded: dict[str, Any] = CODEC.loads(value)
    return decoded


def value_to_db(value: Any) -> str | None:
    """Encode an output value: ``None`` as NULL, else manifest-codec JSON."""
    return None if value is None else CODEC.dumps(value)


def copy_info(source_run_id: str) -> str:
    """The stored ``cache_info`` of an element copied with its array (whole, or by index).

    It names the source run only: each copy is the source's element of the same
    index, whose ``cache_info`` holds the inputs.
    """
    text = dict_to_db({"status": "hit", "source": {"run_id": source_run_id}})
    assert text is not None  # a non-empty dictionary
    return text


def info_to_db(item: NewTaskInstance | CacheCandidate) -> str | None:
    """The stored text of a new instance's (or candidate's) ``cache_info``: its text, if any."""
    text = item.cache_info_text
    return text if text is not None else dict_to_db(item.cache_info)


class CreatedMs:
    """Milliseconds of each new instance's ``created_at``: ``now`` when it has none.

    The instances of a batch share a few planning times (one per chunk):
    each is converted once.
    """

    __slots__ = ("_last", "_ms", "now")

    def __init__(self, now: int) -> None:
        self.now = now
        self._last: datetime | None = None
        self._ms = now

    def __call__(self, item: NewTaskInstance) -> int:
        when = item.created_at
        if when is None:
            return self.now
        if when is not self._last:
            self._last, self._ms = when, datetime_to_ms(when)
        return self._ms


def output_to_db(update: StateUpdate) -> str | None:
    """The stored text of a successful update's output: the text it carries, if any."""
    text = update.output_text
    return text if text is not None else value_to_db(update.output)


def value_from_db(value: str | None) -> Any:
    """Decode an output value written by :func:`value_to_db`."""
    return None if value is None else CODEC.loads(value)


def values_from_db(values: Sequence[str | None]) -> list[Any]:
    """Decode many outputs written by :func:`value_to_db`, as :func:`value_from_db` each does.

    One JSON parse of them all as one array: a gather reading 10,000 outputs
    makes one call into the C parser, not 10,000.
    """
    if not values:
        return []
    decoded: list[Any] = CODEC.loads(
        "[" + ",".join("null" if value is None else value for value in values) + "]"
    )
    return decoded


def context_to_db(context: RunContext | None) -> tuple[Any, ...]:
    """The context columns of a new run, in :data:`RUN_COLUMNS` order (NULLs without one)."""
    if context is None:
        return (None, None, None, None, False, None, False)
    return (
        str(context.run_dir),
        None if context.script is None else str(context.script),
        value_to_db(list(context.argv) or None),
        context.store_url or None,
        bool(context.force),
        value_to_db(sorted(context.force_tasks) or None),
        bool(context.verify),
    )


def _run_context(row: Sequence[Any], url: str) -> RunContext | None:
    """The context of a run row; ``None`` for a run recorded without a run directory.

    A run recorded before the context had columns kept no store URL: the store
    it is read from is the one that holds it, so ``url`` (that store's) stands in.
    """
    if row[8] is None:
        return None
    return RunContext(
        run_id=row[0],
        run_dir=Path(row[8]),
        workflow=row[1],
        script=None if row[9] is None else Path(row[9]),
        argv=tuple(value_from_db(row[10]) or ()),
        executor=row[6],
        executor_options=dict_from_db(row[7]),
        store_url=row[11] or url,
        force=bool(row[12]),
        force_tasks=frozenset(value_from_db(row[13]) or ()),
        verify=bool(row[14]),
    )


def run_record(row: Sequence[Any], url: str, status: RunState) -> RunRecord:
    """The record of a row of :data:`RUN_SELECT` columns.

    Parameters
    ----------
    row : sequence
        The row.
    url : str
        The store's URL, for a run recorded without one.
    status : RunState
        The run's state, decoded from ``row[4]`` by the store.

    Returns
    -------
    RunRecord
        The run.
    """
    owner, heartbeat = row[RUN_OWNER], row[RUN_OWNER + 1]
    return RunRecord(
        run_id=row[0],
        graph_name=row[1],
        user_id=row[2],
        created_at=ms_to_datetime(row[3]),
        status=status,
        parameters=dict_from_db(row[5]),
        executor=row[6],
        executor_options=dict_from_db(row[7]),
        owner=None if owner is None else RunOwner.from_dict(dict_from_db(owner)),
        heartbeat_at=None if heartbeat is None else ms_to_datetime(heartbeat),
        context=_run_context(row, url),
    )


def _text(value: Any) -> str:
    return value or ""


def instance_record(
    row: Sequence[Any],
    state: TaskState,
    singleton: int,
    hash_from_db: Callable[[Any], str] = _text,
) -> TaskInstanceRecord:
    """The record of an instance row.

    Parameters
    ----------
    row : sequence
        ``id, run_id, task, idx, state, job_id, input, output, error_text,
        identity, input_hash, output_hash, created_at, updated_at, cache_info``.
    state : TaskState
        The instance's state, decoded from ``row[4]`` by the store.
    singleton : int
        The index a singleton task's instance is stored under.
    hash_from_db : callable
        Decodes a stored hash (default: NULL as ``""``).

    Returns
    -------
    TaskInstanceRecord
        The instance.
    """
    idx = row[3]
    return TaskInstanceRecord(
        id=int(row[0]),
        run_id=row[1],
        task_name=row[2],
        array_index=None if idx == singleton else idx,
        state=state,
        job_id=row[5],
        input=dict_from_db(row[6]),
        output=value_from_db(row[7]),
        error_text=row[8],
        identity=hash_from_db(row[9]),
        input_hash=hash_from_db(row[10]),
        output_hash=hash_from_db(row[11]),
        created_at=ms_to_datetime(row[12]),
        updated_at=ms_to_datetime(row[13]),
        cache_info=dict_from_db(row[14]),
    )


def stored_index(array_index: int | None, singleton: int) -> int:
    """The index an instance is stored under; ``singleton`` for a singleton task's.

    Raises
    ------
    ValueError
        If ``array_index`` is negative.
    """
    if array_index is None:
        return singleton
    if array_index < 0:
        raise ValueError(
            f"Array index {array_index} is negative; array indices start at 0 "
            "(use None for a singleton task)."
        )
    return array_index


def instance_label(task_name: str, array_index: int | None) -> str:
    """``task`` or ``task[3]``, as messages name an instance."""
    return task_name if array_index is None else f"{task_name}[{array_index}]"


def schema_too_new(
    store: str, found: int, package: str, understood: int, *, also: str = "", unchanged: str
) -> str:
    """The one line that refuses a store whose schema a newer reflow wrote.

    Parameters
    ----------
    store : str
        The store as the message names it (``The manifest database /x.db``).
    found : int
        Its schema version.
    package : str
        The store package and version that refuses it (``reflow-store-sqlite 0.4``).
    understood : int
        The newest schema version that package reads.
    also : str
        Another way out, after the upgrade (``, or set REFLOW_STORE_PATH ...``).
    unchanged : str
        What was not changed (``file``, ``database``).

    Returns
    -------
    str
        The message, naming both versions and the fix.
    """
    name = package.split(" ", 1)[0]
    return (
        f"{store} has schema version {found}, but {package} understands versions up to "
        f"{understood}: a newer reflow wrote it. Upgrade with 'pip install -U {name}'{also}. "
        f"The {unchanged} was not changed."
    )

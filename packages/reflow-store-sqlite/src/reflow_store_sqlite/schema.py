"""How values are laid out in the database, and the conversions at its edge.

The schema is compact on purpose (a store holds millions of instances):

- runs and task names are stored once and referenced by integer keys;
- states are small integers (:data:`TASK_STATE_CODES`, :data:`RUN_STATE_CODES`);
- lowercase hex hashes are stored as BLOBs of half the length (a 64-character
  SHA-256 hex digest takes 32 bytes); any other non-empty string is stored as
  text unchanged, and ``""`` as NULL, so every value round-trips exactly;
- timestamps are integers: milliseconds since the Unix epoch, UTC;
- dictionaries that are empty (parameters, inputs, configuration, cache
  information) are stored as NULL; other values as manifest-codec JSON;
- a singleton task's array index is stored as ``-1`` so that the UNIQUE key
  ``(run, task, idx)`` also covers singletons (SQLite treats NULLs as distinct).

The codes are part of the on-disk format: never renumber them.
"""

from __future__ import annotations

from datetime import datetime, timezone

from reflow.stores import RunState, TaskState

__all__ = [
    "APPLICATION_ID",
    "RUN_STATES",
    "RUN_STATE_CODES",
    "SCHEMA_VERSION",
    "SINGLETON_INDEX",
    "TASK_STATES",
    "TASK_STATE_CODES",
    "hash_from_db",
    "hash_to_db",
    "task_state_code",
]

SCHEMA_VERSION = 7
"""The schema version this package writes and reads."""

APPLICATION_ID = 0x52464C57
"""``PRAGMA application_id`` of a reflow manifest (the bytes ``RFLW``)."""

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
_CODES_BY_NAME: dict[str, int] = {state.value: code for state, code in TASK_STATE_CODES.items()}
TASK_STATES: dict[int, TaskState] = {code: state for state, code in TASK_STATE_CODES.items()}

RUN_STATE_CODES: dict[RunState, int] = {
    RunState.PENDING: 0,
    RunState.RUNNING: 1,
    RunState.SUCCESS: 2,
    RunState.FAILED: 3,
    RunState.CANCELLED: 4,
}
RUN_STATES: dict[int, RunState] = {code: state for state, code in RUN_STATE_CODES.items()}

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def hash_to_db(value: str) -> bytes | str | None:
    """Encode a hash for storage: lowercase hex as bytes, ``""`` as NULL."""
    if not value:
        return None
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return value
    # fromhex also accepts uppercase and spaces; only exact lowercase hex is packed.
    return raw if raw.hex() == value else value


def hash_from_db(value: bytes | str | None) -> str:
    """Decode a stored hash back to the string it was given as."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.hex()
    return value


def task_state_code(state: TaskState | str) -> int:
    """Return the stored code of a task state (given as member or name)."""
    # TaskState is a str enum: a member and its name hash and compare equal.
    code = _CODES_BY_NAME.get(state)
    if code is None:
        raise ValueError(
            f"{state!r} is not a task state; use one of {', '.join(s.value for s in TaskState)}."
        )
    return code

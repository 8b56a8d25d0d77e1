"""The lifecycle of task instances: which state may follow which.

Every store enforces it in :meth:`Store.apply_state_updates
<reflow.stores.Store.apply_state_updates>`: a successful instance never runs
again, and only a failed or cancelled instance can be retried.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from reflow._types import TaskState

__all__ = ["TRANSITIONS", "can_transition"]

_S = TaskState
_FRESH = frozenset({_S.SUBMITTED, _S.RUNNING, _S.SUCCESS, _S.FAILED, _S.CANCELLED, _S.SKIPPED})

TRANSITIONS: Mapping[TaskState, frozenset[TaskState]] = MappingProxyType(
    {
        _S.PENDING: _FRESH,
        _S.RETRYING: _FRESH,
        _S.SUBMITTED: frozenset({_S.SUBMITTED, _S.RUNNING, _S.SUCCESS, _S.FAILED, _S.CANCELLED}),
        _S.RUNNING: frozenset({_S.SUBMITTED, _S.RUNNING, _S.SUCCESS, _S.FAILED, _S.CANCELLED}),
        _S.FAILED: frozenset({_S.FAILED, _S.RETRYING}),
        _S.CANCELLED: frozenset({_S.CANCELLED, _S.RETRYING}),
        _S.SKIPPED: frozenset({_S.SKIPPED}),
        _S.SUCCESS: frozenset(),
    }
)
"""For each state, the states a task instance may move to from it.

- ``PENDING`` and ``RETRYING`` (waiting to be submitted) may move to any
  state but ``PENDING`` and ``RETRYING``; ``SUCCESS`` directly is a cache hit.
- ``SUBMITTED`` and ``RUNNING`` may move between each other (a scheduler can
  requeue a job) and on to ``SUCCESS``, ``FAILED`` or ``CANCELLED``.
- ``FAILED`` and ``CANCELLED`` may only be retried (``RETRYING``), i.e. exactly
  the states of :meth:`TaskState.retriable`.
- ``SUCCESS`` is final: a successful result is never overwritten.

Moving to the same state again is allowed except for ``SUCCESS`` (it stamps
``updated_at`` and may update the job id or error text).
"""


def can_transition(current: TaskState, requested: TaskState) -> bool:
    """Return whether a task instance may move from ``current`` to ``requested``.

    Parameters
    ----------
    current : TaskState
        The instance's state.
    requested : TaskState
        The state it should move to.

    Returns
    -------
    bool
        ``True`` if :data:`TRANSITIONS` allows the move.
    """
    return requested in TRANSITIONS[current]

"""The errors a manifest store raises: all are :class:`StoreError`, a ``ReflowError``."""

from __future__ import annotations

from reflow._types import TaskState
from reflow.errors import ReflowError
from reflow.stores.transitions import TRANSITIONS

__all__ = [
    "ActiveRunError",
    "DuplicateError",
    "InvalidTransitionError",
    "ReadOnlyStoreError",
    "SchemaVersionError",
    "StoreBusyError",
    "StoreCorruptError",
    "StoreError",
    "StoreMissingError",
    "UnknownInstanceError",
    "UnknownRunError",
]


class StoreError(ReflowError):
    """Base class of the errors a manifest store raises."""


class StoreCorruptError(StoreError):
    """The store's file is damaged, truncated, or not a reflow manifest at all."""


class StoreMissingError(StoreError):
    """There is no store at the path, and the caller asked not to create one.

    Commands that only read (``reflow runs``, ``status``, ``logs``) open the
    store this way, so that a mistyped path never leaves an empty store behind.
    """


class SchemaVersionError(StoreError):
    """The store was written with a schema this version cannot use."""


class StoreBusyError(StoreError):
    """Other processes kept the store locked for longer than the retry budget."""


class ReadOnlyStoreError(StoreError):
    """A write was attempted on a store opened read-only."""


class DuplicateError(StoreError, ValueError):
    """A run or task instance with the same key already exists."""


class InvalidTransitionError(StoreError, ValueError):
    """A task instance was asked to move to a state its current state does not allow.

    Attributes
    ----------
    instance_id : int
        The instance.
    current : TaskState
        Its state in the store.
    requested : TaskState
        The state it was asked to move to.
    """

    def __init__(self, instance_id: int, current: TaskState, requested: TaskState) -> None:
        allowed = sorted(s.value for s in TRANSITIONS[current])
        if requested is TaskState.RETRYING:
            hint = "Only FAILED or CANCELLED instances can be retried."
        elif current is TaskState.SUCCESS:
            hint = (
                "A successful instance is final; submit a new run (with force) "
                "to compute it again."
            )
        else:
            hint = f"From {current.value} it may move to: {', '.join(allowed) or 'nothing'}."
        super().__init__(
            f"Task instance {instance_id} cannot move from {current.value} to "
            f"{requested.value}. {hint}"
        )
        self.instance_id = instance_id
        self.current = current
        self.requested = requested


class _StoreLookupError(StoreError, KeyError):
    """A lookup error whose message prints without KeyError's quotes."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownRunError(_StoreLookupError):
    """No run has the given run id."""


class UnknownInstanceError(_StoreLookupError):
    """No task instance has the given id."""


class ActiveRunError(StoreError):
    """A run that is still active (``PENDING`` or ``RUNNING``) was asked to be deleted."""

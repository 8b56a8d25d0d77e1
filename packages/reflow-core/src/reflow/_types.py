"""Lifecycle states of task instances and runs."""

from __future__ import annotations

from enum import Enum

__all__ = ["RunState", "TaskState"]


class TaskState(str, Enum):
    """Lifecycle state of a task instance."""

    PENDING = "PENDING"
    SUBMITTED = "SUBMITTED"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    RETRYING = "RETRYING"
    SKIPPED = "SKIPPED"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def terminal(cls) -> frozenset[TaskState]:
        """States that will not change without intervention."""
        return frozenset({cls.SUCCESS, cls.FAILED, cls.CANCELLED, cls.SKIPPED})

    @classmethod
    def active(cls) -> frozenset[TaskState]:
        """States that represent in-progress work."""
        return frozenset({cls.PENDING, cls.SUBMITTED, cls.RUNNING, cls.RETRYING})

    @classmethod
    def cancellable(cls) -> frozenset[TaskState]:
        """States from which cancellation is meaningful."""
        return frozenset({cls.PENDING, cls.SUBMITTED, cls.RUNNING})

    @classmethod
    def retriable(cls) -> frozenset[TaskState]:
        """States from which a retry can be triggered."""
        return frozenset({cls.FAILED, cls.CANCELLED})


class RunState(str, Enum):
    """Top-level state of a workflow run."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def terminal(cls) -> frozenset[RunState]:
        """States a run does not leave without a retry."""
        return frozenset({cls.SUCCESS, cls.FAILED, cls.CANCELLED})

    @classmethod
    def active(cls) -> frozenset[RunState]:
        """States of a run that still has work to do."""
        return frozenset({cls.PENDING, cls.RUNNING})

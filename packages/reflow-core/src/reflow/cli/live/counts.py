"""Per-task instance counts of a run, and the time each task is expected to take still."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["RunCounts", "TaskCounts", "format_seconds"]


@dataclass
class TaskCounts:
    """How many instances of one task are in each state.

    ``done`` counts the instances that ran and succeeded, ``cached`` those
    taken from the cache; ``running`` is what is busy now (workers or jobs).
    """

    total: int = 0
    done: int = 0
    cached: int = 0
    running: int = 0
    failed: int = 0
    skipped: int = 0
    first_seen: float | None = None
    """``time.monotonic()`` when the task got its first instance: its rate counts from there."""

    def grow(self, total: int) -> None:
        """Count ``total`` more instances (the first ones start the task's clock)."""
        if total and self.first_seen is None:
            self.first_seen = time.monotonic()
        self.total += total

    @property
    def finished(self) -> int:
        """Instances that will not change any more."""
        return self.done + self.cached + self.failed + self.skipped

    def eta(self, now: float | None = None) -> float | None:
        """Seconds until the task is done at its rate so far (``None``: not known yet)."""
        left = self.total - self.finished
        if left <= 0:
            return 0.0
        if self.first_seen is None or self.done + self.failed == 0:
            return None
        spent = (time.monotonic() if now is None else now) - self.first_seen
        if spent <= 0:
            return None
        return left * spent / (self.done + self.failed)

    def key(self) -> tuple[int, ...]:
        """What a change of is worth a new line: the counts, not the times."""
        return (self.total, self.done, self.cached, self.running, self.failed, self.skipped)


@dataclass
class RunCounts:
    """The counts of every task of a run, in the order tasks appeared, and the run's start."""

    tasks: dict[str, TaskCounts] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def of(cls, names: Iterable[str]) -> RunCounts:
        """Counts for tasks ``names``, in that order, all zero."""
        return cls({name: TaskCounts() for name in names})

    def task(self, name: str) -> TaskCounts:
        """The counts of task ``name`` (new, all zero, on first use)."""
        counts = self.tasks.get(name)
        if counts is None:
            counts = self.tasks[name] = TaskCounts()
        return counts

    @property
    def elapsed(self) -> float:
        """Seconds since the run started (as this process saw it)."""
        return time.monotonic() - self.started

    def key(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """The state of the whole run, for telling whether anything changed."""
        return tuple((name, counts.key()) for name, counts in self.tasks.items())


def format_seconds(seconds: float | None) -> str:
    """``42s``, ``3m05s``, ``2h01m``; ``?`` for unknown.

    Examples
    --------
    >>> format_seconds(42.4), format_seconds(185), format_seconds(7260), format_seconds(None)
    ('42s', '3m05s', '2h01m', '?')
    """
    if seconds is None:
        return "?"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"

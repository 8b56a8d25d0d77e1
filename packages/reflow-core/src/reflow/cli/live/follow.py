"""A submitted run's counts as they are now, from the store and its run directory.

``submit --wait`` and ``status --watch`` poll these; the running count is
what the workers' start markers say (:mod:`reflow.runs.live`), so it is the
jobs that really run, not those the scheduler was given.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from reflow._types import RunState, TaskState
from reflow.cli.live.counts import RunCounts
from reflow.runs.live import live_summary

if TYPE_CHECKING:
    from pathlib import Path

    from reflow.stores import RunRecord, Store

__all__ = ["HITS_EVERY", "StoreCounts"]

HITS_EVERY = 10.0
"""Seconds between two reads of one task's cache hits at least."""


class StoreCounts:
    """Builds :class:`RunCounts` of one run from the store, poll after poll.

    Cache hits are counted from the successful instances' ``cache_info``,
    read again only for a task whose success count changed, and at most
    every :data:`HITS_EVERY` seconds: on an array of 100,000 elements that
    read is the costly part of a poll, and hits appear only when a wave
    plans the task.

    Parameters
    ----------
    store : Store
        The run's store.
    order : list of str
        The run's tasks in run order (others are added as they appear).
    """

    def __init__(self, store: Store, order: list[str]) -> None:
        self.store = store
        self.counts = RunCounts.of(order)
        self.seen: dict[Path, tuple[int, str]] = {}
        """The result files read so far (:meth:`reflow.runs.layout.RunLayout.element_states`)."""
        self._hits: dict[str, tuple[int, int, float]] = {}
        """Task -> (SUCCESS count, cache hits among them, monotonic time) when last read."""

    def _cached(self, run_id: str, task: str, success: int, *, final: bool) -> int:
        seen = self._hits.get(task)
        now = time.monotonic()
        if seen is None or (seen[0] != success and (final or now - seen[2] >= HITS_EVERY)):
            records = self.store.list_task_instance_records(run_id, task, [TaskState.SUCCESS])
            hits = sum(1 for r in records if r.cache_info.get("status") == "hit")
            seen = self._hits[task] = (success, hits, now)
        return min(seen[1], success)

    def update(self, record: RunRecord) -> RunCounts:
        """The counts of ``record``'s run now."""
        live = live_summary(self.store, record, seen=self.seen)
        final = record.status in RunState.terminal()  # the last poll is exact
        for name, states in live.counts.items():
            counts = self.counts.task(name)
            counts.grow(sum(states.values()) - counts.total)
            success = states.get("SUCCESS", 0)
            hits = self._cached(record.run_id, name, success, final=final) if success else 0
            counts.cached = hits
            counts.done = success - counts.cached
            counts.running = states.get("RUNNING", 0)
            counts.failed = states.get("FAILED", 0)
            counts.skipped = states.get("SKIPPED", 0) + states.get("CANCELLED", 0)
        return self.counts

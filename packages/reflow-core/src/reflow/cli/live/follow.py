"""A submitted run's counts as they are now, from the store and its run directory.

``submit --wait`` and ``status --watch`` poll these; the running count is
what the workers' start markers say (:mod:`reflow.runs.live`), so it is the
jobs that really run, not those the scheduler was given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reflow._types import TaskState
from reflow.cli.live.counts import RunCounts
from reflow.runs.live import live_summary

if TYPE_CHECKING:
    from reflow.stores import RunRecord, Store

__all__ = ["StoreCounts"]


class StoreCounts:
    """Builds :class:`RunCounts` of one run from the store, poll after poll.

    Cache hits are counted from the successful instances' ``cache_info``,
    read again only for a task whose success count changed since the last
    poll.

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
        self._hits: dict[str, tuple[int, int]] = {}
        """Task -> (SUCCESS count, cache hits among them) when last read."""

    def _cached(self, run_id: str, task: str, success: int) -> int:
        seen = self._hits.get(task)
        if seen is None or seen[0] != success:
            records = self.store.list_task_instance_records(run_id, task, [TaskState.SUCCESS])
            hits = sum(1 for r in records if r.cache_info.get("status") == "hit")
            seen = self._hits[task] = (success, hits)
        return seen[1]

    def update(self, record: RunRecord) -> RunCounts:
        """The counts of ``record``'s run now."""
        live = live_summary(self.store, record)
        for name, states in live.counts.items():
            counts = self.counts.task(name)
            counts.grow(sum(states.values()) - counts.total)
            success = states.get("SUCCESS", 0)
            counts.cached = self._cached(record.run_id, name, success) if success else 0
            counts.done = success - counts.cached
            counts.running = states.get("RUNNING", 0)
            counts.failed = states.get("FAILED", 0)
            counts.skipped = states.get("SKIPPED", 0) + states.get("CANCELLED", 0)
        return self.counts

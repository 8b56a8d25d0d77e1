"""A run's state as it is now, not only as the store last recorded it.

The store changes only when a dispatcher wave (or the user's own command)
writes it, so an array that runs for hours would read SUBMITTED for hours.
Its workers, meanwhile, write start markers and result files in the run
directory.  :func:`live_summary` lays those files over the store's counts,
for the instances the store holds as SUBMITTED or RUNNING only, and says
how many of each state are *not yet recorded*.  It reads; the store is
still written by dispatchers alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reflow._types import RunState, TaskState
from reflow.runs.context import recorded_run_dir
from reflow.runs.layout import RunLayout
from reflow.runs.liveness import LOCAL_EXECUTOR

if TYPE_CHECKING:
    from pathlib import Path

    from reflow.stores import RunRecord, Store, TaskInstanceRecord

__all__ = ["UNRECORDED_NOTE", "LiveSummary", "live_summary"]

logger = logging.getLogger(__name__)

UNRECORDED_NOTE = (
    "{n} not yet recorded: read from the workers' files in the run directory; "
    "the next dispatcher wave records them"
)
"""The footnote of counts that include instances the store does not hold yet."""

_ACTIVE = (TaskState.SUBMITTED, TaskState.RUNNING)
"""The recorded states a worker's files can move on (a retried instance's files are removed)."""

_RANK = {"SUBMITTED": 0, "RUNNING": 1, "SUCCESS": 2, "FAILED": 2}
"""How far along a state is: the files only ever move an instance forward."""


@dataclass
class LiveSummary:
    """Per-task state counts with the run directory's news laid over them.

    Attributes
    ----------
    counts : dict
        Task -> state -> number of instances, as they are now.
    unrecorded : dict
        Task -> state -> how many of ``counts`` come from the run directory
        and are not yet in the store (only tasks and states with some).
    states : dict
        Instance id -> its state now, for the instances whose files say more
        than the store.
    """

    counts: dict[str, dict[str, int]]
    unrecorded: dict[str, dict[str, int]] = field(default_factory=dict)
    states: dict[int, str] = field(default_factory=dict)

    @property
    def unrecorded_total(self) -> int:
        """How many instances are shown in a state the store does not hold yet."""
        return sum(sum(by_state.values()) for by_state in self.unrecorded.values())


def live_summary(
    store: Store,
    record: RunRecord,
    summary: dict[str, dict[str, int]] | None = None,
    seen: dict[Path, tuple[int, str]] | None = None,
) -> LiveSummary:
    """The store's per-task counts of ``record``'s run, moved on by its workers' files.

    Parameters
    ----------
    store : Store
        The run's store.
    record : RunRecord
        The run.
    summary : dict, optional
        ``store.task_state_summary(run_id)`` if the caller has it already.
    seen : dict, optional
        The result files read by an earlier call of a view that polls
        (:meth:`RunLayout.element_states`): unchanged ones are not read again.

    Returns
    -------
    LiveSummary
        The store's counts unchanged for a run that has ended, that has no
        run directory (``run_local``'s instances write no files there: it
        records them itself), or whose directory cannot be read.
    """
    if summary is None:
        summary = store.task_state_summary(record.run_id)
    live = LiveSummary({task: dict(counts) for task, counts in summary.items()})
    run_dir = recorded_run_dir(record)
    if (
        run_dir is None
        or record.status in RunState.terminal()
        or record.executor in (None, "", LOCAL_EXECUTOR)
    ):
        return live
    layout = RunLayout(run_dir, record.run_id)
    for task, counts in summary.items():
        if not any(counts.get(state.value) for state in _ACTIVE):
            continue
        active = store.list_task_instance_records(record.run_id, task, _ACTIVE)
        try:
            _move_on(live, task, active, layout, seen)
        except OSError as exc:  # a view never fails on an unreadable run directory
            logger.debug("cannot read the run directory of %s: %s", record.run_id, exc)
    return live


def _move_on(
    live: LiveSummary,
    task: str,
    active: list[TaskInstanceRecord],
    layout: RunLayout,
    seen: dict[Path, tuple[int, str]] | None,
) -> None:
    """Count each of ``active`` in the state its files give, where they say more."""
    files = layout.element_states(task, {inst.array_index for inst in active}, seen)
    counts = live.counts[task]
    for inst in active:
        now = files.get(inst.array_index)
        was = inst.state.value
        if now is None or _RANK[now] <= _RANK[was]:
            continue
        counts[was] -= 1
        if not counts[was]:
            del counts[was]
        counts[now] = counts.get(now, 0) + 1
        moved = live.unrecorded.setdefault(task, {})
        moved[now] = moved.get(now, 0) + 1
        live.states[inst.id] = now

"""Empty fan-outs: array tasks planned over an empty list, so with no element at all.

Such a task succeeds at once (its dependants see an empty list), but it
leaves no instance in the store, so without a word it would look exactly
like a task that was never planned.  Both engines log :data:`EMPTY_FANOUT`
when they plan one, and the status views find them with
:func:`empty_fanouts`.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from reflow._types import RunState
from reflow.runs.context import recorded_run_dir
from reflow.runs.graph import ordered_specs
from reflow.runs.layout import RunLayout

if TYPE_CHECKING:
    from reflow.stores import RunRecord, Store

__all__ = ["EMPTY_FANOUT", "empty_fanouts", "log_empty_fanout"]

EMPTY_FANOUT = "fan-out over an empty list: 0 elements"
"""What the run log and the status views say about an empty fan-out."""


def log_empty_fanout(logger: logging.Logger, task: str) -> None:
    """Say in the run log that ``task`` was planned with no element.

    A warning, so it is shown without ``-v``: an empty input list is more
    often a mistake (a wrong glob, an empty directory) than intended.
    """
    logger.warning("%s: %s", task, EMPTY_FANOUT)


def _planned_counts(record: RunRecord) -> dict[str, int] | None:
    """The dispatcher's record of the tasks it planned, or ``None`` if it cannot be read."""
    run_dir = recorded_run_dir(record)
    if run_dir is None:
        return None
    try:
        planned = json.loads(RunLayout(run_dir, record.run_id).planned_file.read_text())
        return {name: int(entry["count"]) for name, entry in planned.items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def empty_fanouts(store: Store, record: RunRecord) -> set[str]:
    """The array tasks of the run that were planned over an empty list.

    An array task without instances is an empty fan-out when the scheduler
    mode's dispatcher recorded planning it with 0 elements.  Without that
    record (``run_local``, which plans a task as soon as its upstream tasks
    succeed, or a run directory this machine cannot read), it is one when
    every task it waits for has finished successfully (or is itself an empty
    fan-out); for a scheduler run only once the run has succeeded, because
    between two dispatcher waves a ready task may not be planned yet.
    """
    specs = ordered_specs(store, record.run_id)
    summary = store.task_state_summary(record.run_id)
    candidates = {
        s.task_name for s in specs if s.is_array and not any(summary.get(s.task_name, {}).values())
    }
    if not candidates:
        return set()
    planned = _planned_counts(record) if record.executor != "run_local" else None
    if planned is not None:
        return {name for name in candidates if planned.get(name) == 0}
    if record.executor != "run_local" and record.status is not RunState.SUCCESS:
        return set()
    finished: set[str] = set()
    empty: set[str] = set()
    for spec in specs:
        counts = {state: n for state, n in summary.get(spec.task_name, {}).items() if n}
        if spec.task_name in candidates and all(d in finished for d in spec.dependencies):
            empty.add(spec.task_name)
            finished.add(spec.task_name)
        elif counts and set(counts) <= {"SUCCESS"}:
            finished.add(spec.task_name)
    return empty

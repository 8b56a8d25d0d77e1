"""``pack="auto"``: elements per array task chosen from how long the task's elements took before.

The rule (docs/scheduler-mode.md, "Packing small elements"): the dispatcher
reads the run times of the task's earlier elements that really ran (cache
hits took no time) in the workflow's newest runs of the same user, this run
included, at most :data:`SAMPLES` of them from at most :data:`RUNS` runs;
their median ``m`` gives ``N = ceil(TARGET / m)`` so that one array task has
about :data:`TARGET` seconds of work, at least 1, at most :data:`MAX_PACK`
and at most the number of elements.  Without any measured element, ``N = 1``:
one element per array task, as without ``pack``.

The stores keep no run times: they are where the run recorded them, the
result files of a submitted run's workers and the usage file of a
``run_local`` run (:class:`~reflow.runs.layout.RunLayout`).  A run directory
that is gone or unreadable only contributes nothing.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reflow._types import TaskState
from reflow.engine.local.usage import read_usage
from reflow.runs.files import read_json
from reflow.runs.layout import RunLayout

if TYPE_CHECKING:
    from reflow.stores import RunRecord, Store
    from reflow.workflow import Workflow

__all__ = [
    "MAX_PACK",
    "RUNS",
    "SAMPLES",
    "TARGET",
    "AutoPack",
    "auto_pack",
    "choose",
    "pack_notes",
]

TARGET = 60.0
"""Seconds of work one array task should hold: a minute makes its queue wait and start-up small."""

MAX_PACK = 100
"""The most elements ``auto`` puts in one array task: a pack asks ``N`` times ``time=``."""

RUNS = 10
"""How many of the workflow's newest runs are read for measured elements."""

SAMPLES = 50
"""How many measured elements are enough for the median."""


@dataclass(frozen=True)
class AutoPack:
    """What ``pack="auto"`` chose for one task, and from what.

    Attributes
    ----------
    size : int
        Elements per array task.
    median : float or None
        The median run time of the measured elements, in seconds (``None``: none).
    samples : int
        How many elements were measured.
    """

    size: int
    median: float | None
    samples: int

    def describe(self) -> str:
        """What ``submit --dry-run`` prints for the task, e.g. ``pack auto = 100 (...)``."""
        if self.median is None:
            return f"pack auto = {self.size} (no measured elements yet)"
        return (
            f"pack auto = {self.size} (median {self.median:.3g} s over {self.samples} "
            f"earlier element(s); about {TARGET:.0f} s per array task, at most {MAX_PACK})"
        )


def choose(median: float | None, count: int | None) -> int:
    """Elements per array task for elements of ``median`` seconds, ``count`` of them.

    ``count`` ``None``: not known yet (a dry run before the fan-out).

    Examples
    --------
    >>> choose(None, 500), choose(0.005, 2000), choose(0.5, 2000), choose(30.0, 2000)
    (1, 100, 100, 2)
    >>> choose(0.005, 7), choose(120.0, 10), choose(1.0, 0)
    (7, 1, 1)
    """
    if median is None:
        return 1
    size = MAX_PACK if median <= 0 else min(MAX_PACK, math.ceil(TARGET / median))
    if count is not None:
        size = min(size, count)
    return max(1, size)


def auto_pack(
    store: Store, workflow: str, task: str, count: int | None, *, user_id: str | None = None
) -> AutoPack:
    """The pack size of ``task`` for ``count`` elements from its measured elements.

    Parameters
    ----------
    store : Store
        The store the workflow's runs are recorded in.
    workflow : str
        The workflow's name (its runs' ``graph_name``).
    task : str
        The array task.
    count : int or None
        Its number of elements, or ``None`` when not known yet.
    user_id : str or None
        Read only this user's runs (``None``: every user's).
    """
    times: list[float] = []
    runs = store.list_run_records(graph_name=workflow, user_id=user_id)
    for record in runs[:RUNS]:
        times += _measured(store, record, task, SAMPLES - len(times))
        if len(times) >= SAMPLES:
            break
    median = statistics.median(times) if times else None
    return AutoPack(choose(median, count), median, len(times))


def _measured(store: Store, record: RunRecord, task: str, wanted: int) -> list[float]:
    """Run times of up to ``wanted`` elements of ``task`` that ran (not cache hits) in a run."""
    if wanted <= 0 or record.context is None:
        return []
    ran = {
        inst.array_index
        for inst in store.list_task_instance_records(
            record.run_id, task_name=task, states=[TaskState.SUCCESS]
        )
        if inst.cache_info.get("status") != "hit"
    }
    if not ran:
        return []
    layout = RunLayout(record.context.run_dir, record.run_id)
    times: list[float] = []
    try:
        for name, index, _, usage in read_usage(layout.usage_file):  # run_local's
            if name == task and index in ran:
                times.append(max(0.0, usage.end - usage.start))
                if len(times) >= wanted:
                    return times
    except OSError:  # another user's run directory, or gone
        return times
    if times:
        return times
    for index in sorted(ran, key=lambda i: -1 if i is None else i)[:wanted]:
        try:  # a submitted run's worker wrote its start and end
            data = read_json(layout.result_file(task, index))
            times.append(max(0.0, float(data["end"]) - float(data["start"])))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return times


def pack_notes(workflow: Workflow, store: Store | None, user_id: str) -> dict[str, str]:
    """What ``submit --dry-run`` says of each packed array task: ``pack N`` or the auto choice.

    ``store`` holds the workflow's earlier runs (``None``: there is none yet);
    the element count is not known before the run, so an auto choice is bounded
    by it only when the dispatcher submits.
    """
    # lazy: packing imports nothing of the dispatcher; kept beside its one reader
    from reflow.engine.scheduler.packing import AUTO, pack_size

    notes: dict[str, str] = {}
    for name, spec in workflow.tasks.items():
        size = pack_size(spec.config.pack, workflow.config.pack, array=spec.config.array)
        if size == AUTO:
            if store is None:
                notes[name] = AutoPack(1, None, 0).describe()
            else:
                notes[name] = auto_pack(
                    store, workflow.name, name, None, user_id=user_id
                ).describe()
        elif isinstance(size, int) and size > 1:
            notes[name] = f"pack {size}"
    return notes

"""Right-sizing: what each task should ask for next time, from what its instances used.

For each task, from the instances that ran and reported their figures (cache
hits do not count):

memory
    the highest peak resident memory, with :data:`MEM_HEADROOM` on top,
    rounded up to a size from :data:`_MEM_STEPS`; suggested when that is at
    most half of ``mem``, or when the peak came within 10% of ``mem`` (ask more).
walltime
    the longest run time, doubled, rounded up to a step of
    :data:`_TIME_STEPS`; suggested when that is at most half of ``time``, or
    when the longest instance used over 80% of it (ask more).
CPUs
    the cores used on average (CPU time over run time), rounded up;
    suggested when that is below ``cpus``.

Nothing is suggested for a task whose longest instance ran under
:data:`MIN_MEASURABLE` seconds: its figures are mostly the start-up of the
process, not the work.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from reflow.report.data import InstanceInfo, TaskInfo
from reflow.report.units import duration, kib

__all__ = [
    "MEM_HEADROOM",
    "MIN_MEASURABLE",
    "Change",
    "TaskAdvice",
    "advise",
    "advise_all",
    "format_mem",
    "format_walltime",
]

MIN_MEASURABLE = 1.0
"""Seconds an instance must run before its figures say anything about the task."""

MEM_HEADROOM = 1.25
"""Peak memory is multiplied by this before rounding: the next input may be larger."""

_MIB = 1024 * 1024
_MEM_STEPS = [s * _MIB for s in (64, 128, 256, 512, 768)] + [
    g * 1024 * _MIB for g in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
]
_TIME_STEPS = [300, 600, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 12 * 3600, 24 * 3600]


@dataclass(frozen=True)
class Change:
    """One decorator argument to change.

    Attributes
    ----------
    option : str
        ``mem``, ``time`` or ``cpus``.
    current, suggested : str
        The argument as written now and as suggested (Python source: ``"2G"``, ``2``).
    reason : str
        What was measured, in words.
    """

    option: str
    current: str
    suggested: str
    reason: str

    @property
    def edit(self) -> str:
        """The argument as it should be written: ``mem="2G"``."""
        return f"{self.option}={self.suggested}"


@dataclass(frozen=True)
class TaskAdvice:
    """What one task should ask for.

    Attributes
    ----------
    task : TaskInfo
        The task.
    measured : int
        Instances whose figures count.
    changes : list[Change]
        The suggested edits (empty when the request fits, or nothing can be said).
    note : str
        Why nothing is suggested, when nothing is.
    """

    task: TaskInfo
    measured: int
    changes: list[Change] = field(default_factory=list)
    note: str = ""


def format_mem(nbytes: int) -> str:
    """A memory request as reflow reads it: ``"512M"``, ``"2G"``."""
    if nbytes % (1024 * _MIB) == 0:
        return f"{nbytes // (1024 * _MIB)}G"
    return f"{math.ceil(nbytes / _MIB)}M"


def format_walltime(seconds: int) -> str:
    """A walltime as reflow reads it: ``"00:10:00"``, ``"1-00:00:00"``."""
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{text}" if days else text


def _quoted(text: str) -> str:
    """A string as the decorator's source writes it: ``"2G"``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _step_up(value: float, steps: list[int]) -> int:
    """The smallest step at or above ``value``; beyond the last, ``value`` rounded up."""
    for step in steps:
        if step >= value:
            return step
    return math.ceil(value)


def _elements(task: TaskInfo, n: int) -> str:
    return f"{n} element{'s' if n != 1 else ''}" if task.is_array else "its run"


def _mem_change(task: TaskInfo, peak_kb: int | None, n: int) -> Change | None:
    asked = task.requested.mem_bytes
    if peak_kb is None or not asked:
        return None
    peak = peak_kb * 1024
    wanted = _step_up(peak * MEM_HEADROOM, _MEM_STEPS)
    over = f"peak {kib(peak_kb)} over {_elements(task, n)}"
    if wanted * 2 <= asked:
        return Change("mem", _quoted(task.requested.mem), _quoted(format_mem(wanted)), over)
    if peak > 0.9 * asked and wanted > asked:
        return Change(
            "mem",
            _quoted(task.requested.mem),
            _quoted(format_mem(wanted)),
            over + ": close to the limit",
        )
    return None


def _time_change(task: TaskInfo, longest: float) -> Change | None:
    asked = task.requested.time_s
    if not asked:
        return None
    wanted = _step_up(longest * 2, _TIME_STEPS)
    reason = f"longest {duration(longest)}"
    if wanted * 2 <= asked:
        return Change(
            "time", _quoted(task.requested.time), _quoted(format_walltime(wanted)), reason
        )
    if longest > 0.8 * asked and wanted > asked:
        return Change(
            "time",
            _quoted(task.requested.time),
            _quoted(format_walltime(wanted)),
            reason + ": close to the limit",
        )
    return None


def _cpu_change(task: TaskInfo, cpu_total: float, elapsed_total: float) -> Change | None:
    cpus = task.requested.cpus
    if cpus <= 1 or elapsed_total <= 0:
        return None
    used = cpu_total / elapsed_total
    wanted = max(1, math.ceil(used - 0.05))  # a core at 97% is one core, not two
    if wanted >= cpus:
        return None
    return Change("cpus", str(cpus), str(wanted), f"{used:.2f} cores busy on average")


def advise(task: TaskInfo, instances: Iterable[InstanceInfo]) -> TaskAdvice:
    """What ``task`` should ask for next time (see the module docstring).

    Parameters
    ----------
    task : TaskInfo
        The task, with its request.
    instances : Iterable[InstanceInfo]
        Its instances (others are ignored).

    Returns
    -------
    TaskAdvice
        The suggested changes, or a note saying why there are none.
    """
    ran = [i for i in instances if i.task == task.name and not i.cached and i.elapsed is not None]
    if not ran:
        return TaskAdvice(task, 0, note="no instance ran here and reported its figures")
    longest = max(i.elapsed or 0.0 for i in ran)
    if longest < MIN_MEASURABLE:
        return TaskAdvice(
            task,
            len(ran),
            note=f"too short to measure (longest {duration(longest)}, under {MIN_MEASURABLE:g} s)",
        )
    peaks = [i.peak_rss_kb for i in ran if i.peak_rss_kb is not None]
    elapsed_total = sum(i.elapsed or 0.0 for i in ran)
    cpu_total = sum(i.cpu_time or 0.0 for i in ran)
    changes = [
        c
        for c in (
            _mem_change(task, max(peaks) if peaks else None, len(ran)),
            _time_change(task, longest),
            _cpu_change(task, cpu_total, elapsed_total),
        )
        if c is not None
    ]
    return TaskAdvice(
        task, len(ran), changes, note="" if changes else "the request fits what was used"
    )


def advise_all(tasks: Iterable[TaskInfo], instances: Iterable[InstanceInfo]) -> list[TaskAdvice]:
    """:func:`advise` for every task, in the order given."""
    by_task: dict[str, list[InstanceInfo]] = {}
    for info in instances:
        by_task.setdefault(info.task, []).append(info)
    return [advise(task, by_task.get(task.name, [])) for task in tasks]

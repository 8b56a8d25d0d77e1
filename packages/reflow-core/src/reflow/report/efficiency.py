"""Resources requested against resources used, per task, the way Slurm's ``seff`` reports them.

Only instances that ran and reported their figures count (cache hits,
skipped instances and jobs killed before writing a result do not):

time efficiency
    the longest elapsed time of an instance over the walltime asked for
    (``time``): how close the task came to being killed.
memory efficiency
    the highest peak resident memory of an instance over the memory asked
    for (``mem``).
CPU efficiency
    the CPU time of all instances over ``cpus`` x their elapsed time: the
    share of the reserved core-seconds that did work.  A task asking for 4
    CPUs that computes on one of them scores at most 25%.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reflow.report.data import InstanceInfo, TaskInfo

__all__ = ["TaskEfficiency", "task_efficiency"]


@dataclass(frozen=True)
class TaskEfficiency:
    """What one task asked for and used.

    Attributes
    ----------
    task : TaskInfo
        The task, with its request.
    measured : int
        Instances with figures.
    elapsed_total, elapsed_mean, elapsed_max : float
        Run time of the measured instances, in seconds (0 when none).
    cpu_total : float
        Their CPU time, in seconds.
    peak_rss_kb_max : int or None
        The highest peak memory, in kB (``None`` when none reported it).
    """

    task: TaskInfo
    measured: int
    elapsed_total: float
    elapsed_mean: float
    elapsed_max: float
    cpu_total: float
    peak_rss_kb_max: int | None

    @property
    def core_seconds(self) -> float:
        """``cpus`` x elapsed time: the core-seconds reserved while the instances ran."""
        return self.task.requested.cpus * self.elapsed_total

    @property
    def cpu_efficiency(self) -> float | None:
        """CPU time over reserved core-seconds; ``None`` without measurements."""
        if not self.measured or self.core_seconds <= 0:
            return None
        return self.cpu_total / self.core_seconds

    @property
    def memory_efficiency(self) -> float | None:
        """Highest peak memory over the request; ``None`` when either is unknown."""
        mem = self.task.requested.mem_bytes
        if self.peak_rss_kb_max is None or not mem:
            return None
        return self.peak_rss_kb_max * 1024 / mem

    @property
    def time_efficiency(self) -> float | None:
        """Longest elapsed time over the walltime request; ``None`` when either is unknown."""
        limit = self.task.requested.time_s
        if not self.measured or not limit:
            return None
        return self.elapsed_max / limit


def task_efficiency(task: TaskInfo, instances: Iterable[InstanceInfo]) -> TaskEfficiency:
    """Sum up the figures of one task's instances.

    Parameters
    ----------
    task : TaskInfo
        The task.
    instances : Iterable[InstanceInfo]
        Its instances (others are ignored).

    Returns
    -------
    TaskEfficiency
        The task's totals; see the module docstring for the efficiency figures.
    """
    measured = 0
    elapsed_total = elapsed_max = cpu_total = 0.0
    peak: int | None = None
    for info in instances:
        elapsed = info.elapsed
        if info.task != task.name or info.cached or elapsed is None:
            continue
        measured += 1
        elapsed_total += elapsed
        elapsed_max = max(elapsed_max, elapsed)
        cpu_total += info.cpu_time or 0.0
        if info.peak_rss_kb is not None:
            peak = info.peak_rss_kb if peak is None else max(peak, info.peak_rss_kb)
    return TaskEfficiency(
        task=task,
        measured=measured,
        elapsed_total=elapsed_total,
        elapsed_mean=elapsed_total / measured if measured else 0.0,
        elapsed_max=elapsed_max,
        cpu_total=cpu_total,
        peak_rss_kb_max=peak,
    )

"""What the local executor was given, read back from its state directory.

:class:`~reflow.executors.local.executor.LocalExecutor` keeps one directory per
job, numbered in submission order, holding the job's ``spec.json``.  Tests of the
scheduler path on the local executor read those to count jobs and waves::

    from reflow.testing.localjobs import job_names

    assert job_names(executor).count("capped.process") == 3

It imports no test framework.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reflow.executors.local.executor import LocalExecutor

__all__ = ["job_count", "job_names", "job_specs"]


def _job_dirs(executor: LocalExecutor) -> list[Path]:
    jobs = executor.state_dir / "jobs"
    if not jobs.exists():  # nothing submitted yet
        return []
    return sorted(jobs.iterdir(), key=lambda d: int(d.name))


def job_specs(
    executor: LocalExecutor, task: str | None = None, *, after: int = 0
) -> list[dict[str, Any]]:
    """The job specs the executor was given, in submission order.

    Parameters
    ----------
    executor : LocalExecutor
        The executor the run submitted through.
    task : str or None
        Only the jobs of this task (job names are ``<workflow>.<task>``);
        ``None``: every job, dispatchers included.
    after : int
        Only the jobs submitted after job number ``after`` (see :func:`job_count`).

    Returns
    -------
    list of dict
        Each job's ``spec.json`` with its job id added as ``"id"``; a job still
        being submitted (no ``spec.json`` yet) is not among them.
    """
    specs = []
    for d in _job_dirs(executor):
        if int(d.name) <= after:
            continue
        try:
            spec = json.loads((d / "spec.json").read_text())
        except FileNotFoundError:
            continue  # being submitted: its directory is made before its spec is written
        specs.append({"id": d.name, **spec})
    if task is None:
        return specs
    return [s for s in specs if s["name"].endswith(f".{task}")]


def job_names(executor: LocalExecutor, *, after: int = 0) -> list[str]:
    """The names (``<workflow>.<task>``) of the jobs given, in submission order."""
    return [s["name"] for s in job_specs(executor, after=after)]


def job_count(executor: LocalExecutor) -> int:
    """The number of the last job the executor was given (0 before the first)."""
    return max((int(d.name) for d in _job_dirs(executor)), default=0)

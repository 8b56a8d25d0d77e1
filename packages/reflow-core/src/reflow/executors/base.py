"""The :class:`Executor` interface every scheduler backend implements.

An executor turns reflow's scheduler-agnostic description of a job into the
scheduler's own commands: it submits job scripts (single jobs and job arrays,
with dependencies on earlier jobs), cancels jobs, and reports the state of
many jobs in one query.  Backends are separate packages found through the
``reflow.executors`` entry-point group (see :mod:`reflow.plugins`).

This module holds the part of the interface that is settled: the three
operations a backend must provide and the normalisation of submit-option
names.  Resource descriptions and the template-method base class for batch
schedulers are added on top of it.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

from reflow.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["Executor", "JobState"]


class JobState(str, Enum):
    """The state of one scheduler job, in reflow's vocabulary.

    Each backend maps its scheduler's native states onto these.  ``UNKNOWN``
    means the scheduler no longer (or does not yet) report the job; the
    dispatcher then relies on the job's result file.
    """

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    NODE_FAIL = "NODE_FAIL"
    PREEMPTED = "PREEMPTED"
    UNKNOWN = "UNKNOWN"

    def __str__(self) -> str:
        return self.value


class Executor(abc.ABC):
    """Base class of the workload-manager backends (Slurm, PBS, LSF, SGE, Flux, local).

    Subclasses set :attr:`name` and :attr:`_KEY_ALIASES` and implement
    :meth:`submit`, :meth:`cancel` and :meth:`query_states`.

    Attributes
    ----------
    name : str
        The plugin name users select the executor by (``"slurm"``); the same
        as the entry-point name.
    _KEY_ALIASES : dict[str, str]
        Maps reflow's canonical, scheduler-agnostic submit-option names
        (``partition``, ``queue``, ``account``, ``qos`` ...) to the names the
        scheduler uses (``partition`` on Slurm, ``queue`` on PBS and LSF,
        ``project`` on LSF and SGE, ``bank`` on Flux).  Keys missing from the
        map are passed through unchanged.
    """

    name: ClassVar[str]
    _KEY_ALIASES: ClassVar[dict[str, str]] = {}

    @classmethod
    def normalize_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """Rename canonical submit-option keys to this scheduler's native names.

        A workflow written with ``partition="gpu", account="proj42"`` then runs
        unchanged on any scheduler: on LSF the options become
        ``queue="gpu", project="proj42"``.

        Parameters
        ----------
        options : Mapping[str, Any]
            Submit options as the user wrote them.  Keys not in
            :attr:`_KEY_ALIASES` are kept as they are.

        Returns
        -------
        dict[str, Any]
            A new dict with native keys, in the order of ``options``.

        Raises
        ------
        ConfigError
            If two keys name the same native option with different values,
            e.g. ``partition="gpu"`` and ``queue="cpu"`` for PBS.  Equal
            values are merged silently.

        Examples
        --------
        >>> class Demo(Executor):
        ...     name = "demo"
        ...     _KEY_ALIASES = {"partition": "queue", "account": "project"}
        >>> Demo.normalize_options({"partition": "gpu", "mem": "4G"})
        {'queue': 'gpu', 'mem': '4G'}
        """
        native: dict[str, Any] = {}
        written_as: dict[str, str] = {}
        for key, value in options.items():
            target = cls._KEY_ALIASES.get(key, key)
            if target in native and native[target] != value:
                scheduler = getattr(cls, "name", cls.__name__)
                raise ConfigError(
                    f"Submit options {written_as[target]!r}={native[target]!r} and "
                    f"{key!r}={value!r} both set the {scheduler} option {target!r}; "
                    "keep only one of them."
                )
            native[target] = value
            written_as.setdefault(target, key)
        return native

    @classmethod
    def _normalize_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """Alias of :meth:`normalize_options`, the name the reference documents use."""
        return cls.normalize_options(options)

    @abc.abstractmethod
    def submit(
        self,
        script: Path,
        *,
        name: str,
        options: Mapping[str, Any],
        array_size: int | None = None,
        array_parallelism: int | None = None,
        dependencies: Sequence[str] = (),
    ) -> str:
        """Submit one job or one job array and return its job id.

        Contract: the scheduler has accepted the job when this returns; the
        returned id is the one :meth:`cancel` and :meth:`query_states` take.
        The call never blocks until the job runs.  Commands are run with an
        argument list, never through a shell.

        Parameters
        ----------
        script : Path
            The job script to run.
        name : str
            The job name shown by the scheduler.
        options : Mapping[str, Any]
            Submit options, canonical or native; the executor applies
            :meth:`normalize_options` itself.
        array_size : int or None
            ``None`` for a single job; ``n`` for an array of ``n`` tasks
            indexed ``0 .. n-1`` as seen by reflow, whatever the scheduler's
            own index base.
        array_parallelism : int or None
            At most this many array tasks run at once (``None``: no limit).
        dependencies : Sequence[str]
            Job ids that must have ended, successfully or not (``afterany``),
            before this job may start.

        Returns
        -------
        str
            The scheduler's job id.

        Raises
        ------
        ReflowError
            If the scheduler rejects the job or its command fails after the
            executor's retries; the message includes the scheduler's output.
        """

    @abc.abstractmethod
    def cancel(self, job_ids: Sequence[str]) -> None:
        """Cancel the given jobs (whole arrays when given an array's id).

        Contract: ids of jobs that already ended, or that the scheduler no
        longer knows, are ignored rather than reported as errors, so
        cancelling twice is safe.  All ids go to the scheduler in as few
        commands as it allows.

        Parameters
        ----------
        job_ids : Sequence[str]
            Ids returned by :meth:`submit`.

        Raises
        ------
        ReflowError
            If the scheduler's cancel command fails for another reason.
        """

    @abc.abstractmethod
    def query_states(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        """Return the state of many jobs with one scheduler query.

        Contract: one call makes one query (or a small fixed number) for all
        ids, never one per job; the dispatcher calls it once per wave.

        Parameters
        ----------
        job_ids : Sequence[str]
            Ids returned by :meth:`submit`; array tasks may be given as the
            scheduler writes them (``123_4`` on Slurm).

        Returns
        -------
        dict[str, JobState]
            One entry for every requested id.  A job the scheduler does not
            report (purged from its history, or not yet visible) maps to
            :attr:`JobState.UNKNOWN`.

        Raises
        ------
        ReflowError
            If the query command fails after the executor's retries.
        """

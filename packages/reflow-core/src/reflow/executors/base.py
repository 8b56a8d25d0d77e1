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
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from reflow.errors import ConfigError
from reflow.executors.jobs import ARRAY_INDEX_ENV, JobResources, JobSpec, JobState, JobStatus

if TYPE_CHECKING:
    from reflow.config import Config

_E = TypeVar("_E", bound="Executor")

__all__ = ["Executor", "JobState"]


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
    known_options: ClassVar[frozenset[str] | None] = None
    """The native submit option names this scheduler has, ``_`` for ``-``.

    A submit option that is neither one of these nor scheduler-agnostic
    (:data:`reflow.config.SUBMIT_OPTION_KEYS`) is refused before a run is
    recorded, with the closest name (see :meth:`check_options`).  ``None``
    (the default, and the ``local`` executor's) checks nothing.
    """
    supports_after_corr: ClassVar[bool] = False
    """Whether :attr:`JobSpec.after_corr` (element-wise array dependencies) is supported."""
    array_index_env_var: ClassVar[str] = ARRAY_INDEX_ENV
    """The variable holding an array element's index in the job (the scheduler's own, if any)."""
    dependency_key: ClassVar[str] = "dependency"
    """The native submit option :meth:`dependency_options` writes."""
    mode: str | None = None
    """``"dry-run"`` prints jobs instead of submitting them; ``None`` or ``"submit"`` submits.

    ``None`` follows ``REFLOW_MODE``.  Set it with :meth:`from_environment`,
    or after building the executor.
    """

    @classmethod
    def from_environment(cls: type[_E], config: Config | None = None, **options: Any) -> _E:
        """Build the executor as the environment and configuration ask (reflow-hpc's way).

        The mode comes from ``REFLOW_MODE``, else ``[executor] mode`` in the
        configuration; scheduler command overrides (``REFLOW_SBATCH``,
        ``REFLOW_QSUB`` ...) are read by the executor itself.

        Parameters
        ----------
        config : Config or None
            The configuration; :func:`~reflow.config.load_config` when ``None``.
        **options : Any
            Constructor arguments of the executor (``max_array_size=`` ...).

        Raises
        ------
        ConfigError
            If the mode is not ``"submit"`` or ``"dry-run"``.
        """
        # lazy: the worker imports executors.base; the configuration loads on first use
        from reflow.config import load_config

        mode = check_mode(
            (config or load_config()).executor_mode, "REFLOW_MODE or [executor] mode"
        )
        executor = cls(**options)
        executor.mode = mode
        return executor

    @property
    def dry_run(self) -> bool:
        """Whether :meth:`submit` only prints: :attr:`mode`, else ``REFLOW_MODE``."""
        # lazy: the worker imports executors.base; the configuration loads on first use
        from reflow import env

        mode = self.mode if self.mode is not None else env.checked(env.REFLOW_MODE)
        return (mode or "").strip().lower() == "dry-run"

    def dependency_options(self, job_ids: Sequence[str]) -> dict[str, Any]:
        """The native submit option making a job wait until ``job_ids`` have ended.

        reflow-hpc's way of chaining jobs: pass the result in a
        :class:`JobResources`' ``submit_options`` to :meth:`submit`, which
        turns it back into :attr:`JobSpec.after_any`.

        Examples
        --------
        >>> from reflow.executors.local.executor import LocalExecutor
        >>> LocalExecutor.dependency_options(LocalExecutor.__new__(LocalExecutor), ["1", "2"])
        {'dependency': 'afterany:1:2'}
        """
        return {self.dependency_key: self.dependency_value(list(job_ids))} if job_ids else {}

    def dependency_value(self, job_ids: list[str]) -> Any:
        """The value of :attr:`dependency_key` for ``job_ids``: ``afterany:1:2`` by default."""
        return "afterany:" + ":".join(job_ids)

    def dependency_ids(self, value: Any) -> list[str]:
        """The job ids in a value :meth:`dependency_value` wrote (its inverse)."""
        text = str(value)
        if not text.startswith("afterany:"):
            raise ConfigError(
                f"Submit option {self.dependency_key}={value!r} is not one {self.name} "
                "can read; build it with executor.dependency_options(job_ids)."
            )
        return [ident for ident in text.removeprefix("afterany:").split(":") if ident]

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
    def check_options(
        cls, options: Mapping[str, Any], where: str, site_options: Iterable[str] = ()
    ) -> None:
        """Refuse a submit option this scheduler does not have, naming the closest one.

        Parameters
        ----------
        options : Mapping[str, Any]
            Submit options with canonical keys (see
            :func:`reflow.config.canonical_submit_options`).
        where : str
            Where they were given, for the message (``"task 'align'"``).
        site_options : Iterable[str]
            Further names to accept: the ``[executor] site_options`` list of
            the configuration, for options a site's scheduler adds.

        Raises
        ------
        ConfigError
            For the first unknown option: its name, the scheduler, the closest
            known name and the escape hatch.

        Examples
        --------
        >>> class Demo(Executor):
        ...     name = "demo"
        ...     known_options = frozenset({"partition", "licenses"})
        >>> Demo.check_options({"partiton": "gpu"}, "task 'align'")
        Traceback (most recent call last):
        ...
        reflow.errors.ConfigError: Submit option 'partiton' of task 'align' is not a demo ...
        """
        # lazy: the worker imports executors.base; the configuration loads on first use
        from reflow.config import SUBMIT_OPTION_KEYS
        from reflow.define.graph import did_you_mean

        if cls.known_options is None:
            return
        known = {o.lower() for o in (*cls.known_options, *SUBMIT_OPTION_KEYS, *site_options)}
        for key in options:
            if key.lower() not in known and cls._KEY_ALIASES.get(key, key).lower() not in known:
                raise ConfigError(
                    f"Submit option {key!r} of {where} is not a {cls.name} option."
                    f"{did_you_mean(key, sorted(known))} If your site's scheduler has it, add "
                    f'it to site_options = ["{key}"] under [executor] in config.toml.'
                )

    @classmethod
    def _normalize_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """Alias of :meth:`normalize_options`, the name the reference documents use."""
        return cls.normalize_options(options)

    def recorded_options(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this executor in a later dispatcher.

        The run records them with the executor's name, and every dispatcher
        job creates ``type(self)(**options)``.  JSON-safe values only.
        """
        return {}

    def submit(
        self, job: JobSpec | JobResources, command: Sequence[str] | str | None = None
    ) -> str:
        """Submit one job or one job array and return its job id.

        With ``REFLOW_MODE=dry-run`` (or :attr:`mode` ``"dry-run"``) nothing is
        submitted: what would be is printed (through
        :meth:`describe_submission`) and the id is ``DRYRUN``.

        reflow-hpc's form ``submit(resources, command)`` is accepted too: a
        :class:`JobResources` with ``job_name`` (and ``array``), and the
        command as a list or a shell-quoted string; the job runs in the
        current directory and logs to its ``logs`` directory.  Its :meth:`dependency_options`
        become :attr:`JobSpec.after_any`.

        Contract: the scheduler has accepted the job when this returns; the
        returned id is the one :meth:`cancel` and :meth:`query` take.  The
        call never blocks until the job runs.

        Raises
        ------
        ReflowError
            If the scheduler rejects the job (the message includes the
            scheduler's own words) or its command keeps failing.
        """
        # lazy: the worker imports executors.base; the configuration loads on first use
        from reflow.errors import ReflowError

        if isinstance(job, JobResources):
            job = self.job_from_resources(job, command)
        elif command is not None:
            raise ReflowError(
                "submit() takes a command only with a JobResources; a JobSpec carries its own."
            )
        if job.after_corr and not self.supports_after_corr:
            raise ReflowError(
                f"The {self.name} executor cannot make job {job.name!r} wait element by "
                f"element for {list(job.after_corr)} (after_corr); use after_ok on the "
                "whole array instead."
            )
        if job.after_corr and job.array is None:
            raise ReflowError(
                f"Job {job.name!r} is not an array: after_corr makes element i of an array "
                "wait for element i of another; use after_ok for a single job."
            )
        if self.dry_run:
            print(self.describe_submission(job))
            return "DRYRUN"
        return self._submit(job)

    def job_from_resources(
        self, resources: JobResources, command: Sequence[str] | str | None
    ) -> JobSpec:
        """The :class:`JobSpec` of reflow-hpc's ``submit(resources, command)``.

        Raises
        ------
        ReflowError
            If the command is missing or empty.
        """
        # lazy: the worker imports executors.base; the configuration loads on first use
        from reflow.errors import ReflowError

        argv = tuple(shlex.split(command) if isinstance(command, str) else command or ())
        if not argv:
            raise ReflowError(
                "submit(resources, command) needs a command: give a list such as "
                "['python', 'job.py'] or a string."
            )
        options = dict(resources.options)
        after = (
            self.dependency_ids(options.pop(self.dependency_key))
            if self.dependency_key in options
            else []
        )
        here = Path.cwd()
        return JobSpec(
            name=resources.job_name or Path(argv[0]).name,
            command=argv,
            workdir=here,
            log_dir=here / "logs",
            resources=replace(resources, options=options, array=None, job_name=""),
            array=resources.array,
            after_any=tuple(after),
        )

    def describe_submission(self, job: JobSpec) -> str:
        """Text saying what :meth:`submit` would do (the script or command), for dry runs."""
        array = f" array {list(job.array.indices)}" if job.array else ""
        deps = (
            f" after {list(job.after_any + job.after_ok)}" if job.after_any or job.after_ok else ""
        )
        return f"[{self.name} dry-run] {job.name}{array}{deps}: {' '.join(job.command)}"

    @abc.abstractmethod
    def _submit(self, job: JobSpec) -> str:
        """Submit for real; see :meth:`submit`.  Commands run with an argument list."""

    @abc.abstractmethod
    def cancel(self, job_ids: Sequence[str]) -> None:
        """Cancel the given jobs: whole arrays for array ids, one element for ``ID[i]``.

        Ids of jobs that already ended, or that the scheduler no longer knows,
        are ignored, so cancelling twice is safe.

        Raises
        ------
        ReflowError
            If the scheduler's cancel command fails for another reason.
        """

    @abc.abstractmethod
    def query(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """Return the status of many jobs with one scheduler query.

        One call makes one query (or a small fixed number) for all ids, never
        one per job: the dispatcher calls it once per wave.

        Parameters
        ----------
        job_ids : Sequence[str]
            Ids returned by :meth:`submit`.

        Returns
        -------
        dict[str, JobStatus]
            An entry for every requested id; for an array job also one entry
            per element, keyed ``ID[index]`` with reflow's element index (see
            :func:`~reflow.executors.jobs.element_id`).  A job the scheduler
            does not report maps to :attr:`JobState.UNKNOWN`.
        """

    def job_state(self, job_id: str) -> JobState | None:
        """The state of one job (reflow-hpc's query), or ``None`` for an id nobody knows."""
        status = self.query([job_id]).get(job_id)
        if status is None or status.state is JobState.UNKNOWN:
            return None
        return status.state

    def query_states(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        """The states of :meth:`query`, without exit codes and reasons."""
        return {key: status.state for key, status in self.query(job_ids).items()}


SUBMIT_MODES = ("submit", "dry-run")
"""The values of an executor's :attr:`Executor.mode` (and of ``REFLOW_MODE``)."""


def check_mode(mode: str | None, where: str) -> str | None:
    """Return ``mode`` normalised; a :class:`ConfigError` naming ``where`` if it is unknown."""
    if mode is None:
        return None
    normalised = mode.strip().lower()
    if normalised not in SUBMIT_MODES:
        raise ConfigError(
            f"Executor mode {mode!r} (from {where}) is not known; use one of "
            f"{', '.join(SUBMIT_MODES)}."
        )
    return normalised

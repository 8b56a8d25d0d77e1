"""The template every batch-scheduler executor (Slurm, PBS, LSF, SGE ...) fills in.

A backend subclasses :class:`BatchExecutor` and writes only its scheduler's
directive lines, commands, output parsers and state map.  The base class
writes the job scripts, maps array elements to native tasks (splitting arrays
larger than the site allows into chunks under one reflow job id,
``"123+124"``), runs every command through
:func:`~reflow.executors.commands.run_command`, and shapes query answers.
See "Batch schedulers: the template" in ``docs/writing-an-executor.md``.
"""

from __future__ import annotations

import abc
import logging
import os
import re
import secrets
import shlex
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

from reflow.define.resources import parse_walltime
from reflow.errors import ReflowError
from reflow.executors.arrays import (
    JOIN,
    ArrayChunk,
    ArrayMap,
    ArrayRegistry,
    index_lines,
    split_array,
    split_job_id,
    summarize,
)
from reflow.executors.base import Executor
from reflow.executors.commands import SchedulerCommandError, looks_transient, run_command
from reflow.executors.jobs import (
    ARRAY_INDEX_ENV,
    JobSpec,
    JobState,
    JobStatus,
    element_id,
    split_element_id,
)
from reflow.executors.settings import BatchSettings
from reflow.executors.taskenv import command_lines

__all__ = [
    "ArrayChunk",
    "BatchExecutor",
    "BatchExecutorError",
    "BatchSettings",
    "SchedulerCommand",
    "SchedulerCommandError",
    "known_options",
    "option_text",
    "option_value",
    "refusal",
]

logger = logging.getLogger(__name__)

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def option_text(value: Any, separator: str) -> str | None:
    """A native submit option's value as directive text.

    ``True`` is a flag without a value (``None``); a string or number is its
    text; a non-empty list or tuple of strings and numbers is joined with
    ``separator`` (Slurm and SGE take commas, LSF blanks).

    Raises
    ------
    TypeError
        For anything else (``False`` and ``None`` are left out before this is
        asked); the executor turns it into an error naming the job and option.

    Examples
    --------
    >>> option_text(True, ","), option_text(4, ","), option_text(["a", 2], " ")
    (None, '4', 'a 2')
    """
    if value is True:
        return None
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return str(value)
    if (
        isinstance(value, list | tuple)
        and value
        and all(isinstance(v, int | float | str) and not isinstance(v, bool) for v in value)
    ):
        return separator.join(str(v) for v in value)
    raise TypeError(f"{type(value).__name__} {value!r} is not an option value")


def known_options(*groups: Iterable[str]) -> frozenset[str]:
    """Every submit option name an executor recognises: the union of ``groups``.

    A backend passes its scheduler's option names, the ones it maps to flags
    and its reserved ones: reserved names are listed so that they reach the
    job script's own, more precise refusal.  Any other name is refused as a
    typo before a run is recorded (:meth:`reflow.executors.Executor.check_options`),
    unless the configuration lists it in ``[executor] site_options``.

    Examples
    --------
    >>> sorted(known_options("a b".split(), {"c": "-c"}))
    ['a', 'b', 'c']
    """
    return frozenset(name for group in groups for name in group)


def refusal(scheduler: str, job: JobSpec, problem: str) -> BatchExecutorError:
    """The error refusing ``job``: ``Cannot submit <scheduler> job '<name>': <problem>.``"""
    return BatchExecutorError(f"Cannot submit {scheduler} job {job.name!r}: {problem}.")


def option_value(
    scheduler: str,
    job: JobSpec,
    key: str,
    value: Any,
    separator: str,
    accepted: str = "a string, number, true, or a non-empty list of strings or numbers",
) -> str | None:
    """:func:`option_text`, refusing an unusable value with an error naming the job and option.

    ``accepted`` says what the scheduler takes, for the error message.

    Raises
    ------
    BatchExecutorError
        If :func:`option_text` cannot write ``value``.
    """
    try:
        return option_text(value, separator)
    except TypeError:
        raise refusal(
            scheduler,
            job,
            f"submit option {key!r} is {type(value).__name__} {value!r}; give {accepted}",
        ) from None


class SchedulerCommand:
    """A scheduler command readable as an executor attribute (reflow-hpc's ``executor.sbatch``).

    Declared in a backend as ``sbatch = SchedulerCommand(env.REFLOW_SBATCH)``:
    the variable then replaces the command (see :meth:`BatchExecutor.command`)
    and the attribute gives the command that runs.  On the class it gives the
    command's name.
    """

    def __init__(self, variable: str) -> None:
        self.variable = variable
        self.program = ""

    def __set_name__(self, owner: type[BatchExecutor], name: str) -> None:
        self.program = name
        owner.program_variables = {**owner.program_variables, name: self.variable}

    def __get__(self, executor: BatchExecutor | None, owner: type[BatchExecutor]) -> str:
        return self.program if executor is None else executor.command(self.program)


def _setting_reader(field: str) -> Any:
    def read(executor: BatchExecutor) -> Any:
        return getattr(executor.settings, field)

    return read


class BatchExecutorError(ReflowError):
    """A job cannot be submitted as given, or the scheduler's answer cannot be read."""


class BatchExecutor(Executor):
    """Template-method base class of the batch-scheduler executors.

    Subclasses set :attr:`name`, :attr:`task_id_variable`, :attr:`state_map`
    and (if not 0) :attr:`array_index_base`, and implement
    :meth:`render_script`, :meth:`submit_argv`, :meth:`parse_job_id`,
    :meth:`query_argv`, :meth:`parse_states` and :meth:`cancel_argv`.
    :meth:`max_array_index`, :meth:`native_element_id`, :meth:`transient`
    and :meth:`ignorable_failure` have defaults.

    The settings every backend shares are kept in :attr:`settings`, a
    :class:`~reflow.executors.settings.BatchSettings`;
    :meth:`recorded_options` is derived from it, :attr:`bin_keyword`,
    :attr:`max_array_keyword` and :attr:`recorded_attributes`.

    Parameters
    ----------
    state_dir : str or os.PathLike or None
        Where the maps of submitted arrays are kept, so that a later
        dispatcher can query and cancel their elements; ``None``:
        ``batch/<name>`` in reflow's user cache directory.  Every process of
        a run must see the same directory.
    bin_dir : str or None
        Directory of the scheduler's commands; ``None``: ``REFLOW_<NAME>_BIN``
        when reflow defines it for this executor, else ``PATH``.
    max_array_size : int or None
        The site's array size limit, kept for the backend (see
        :meth:`max_array_index`).
    command_timeout : float
        Seconds each scheduler command may take.
    retries : int
        How often a transiently failing command is retried.
    backoff : float
        Seconds before the first retry, doubled for each further one.
    mode : str or None
        ``"dry-run"`` prints each job instead of submitting it (id ``DRYRUN``);
        ``"submit"`` submits; ``None`` follows ``REFLOW_MODE``.

    Attributes
    ----------
    array_index_base : int
        The scheduler's first array task id: 0 (Slurm) or 1 (SGE, LSF, PBS).
    task_id_variable : str
        The environment variable holding an array task's native id in the job.
    state_map : dict[str, JobState]
        The scheduler's state codes, in reflow's vocabulary (see :meth:`map_state`).
    script_on_stdin : bool
        Feed the script to the submit command's standard input (``bsub < job.sh``).
    transient_phrases : tuple[str, ...]
        The scheduler's own words (lower case) for errors that pass on their
        own, retried besides :func:`~reflow.executors.commands.looks_transient`'s.
    submit_program : str or None
        The submit command's name (``qsub``); see :meth:`transient`.
    safe_to_resubmit : tuple[str, ...]
        The submit command's words (lower case) for errors after which the
        scheduler has certainly not taken the job: the only submit errors retried.
    bin_keyword : str
        The subclass's constructor keyword for ``bin_dir`` (``"slurm_bin"``),
        under which :meth:`recorded_options` records it.
    max_array_keyword : str or None
        Likewise for ``max_array_size`` (``"max_array_tasks"``); ``None``: the
        subclass takes no array size limit.
    recorded_attributes : tuple[str, ...]
        The subclass's own constructor keywords, each kept in the attribute of
        that name, that :meth:`recorded_options` records.
    chunk_ids_name_array : bool
        Record a split array's map under each chunk's id too, for schedulers
        whose array tasks see their own chunk's id as ``REFLOW_JOB_ID``: then
        :meth:`query` and :meth:`cancel` take ``CHUNK[i]`` like ``ID[i]``.
    """

    array_index_base: ClassVar[int] = 0
    task_id_variable: ClassVar[str]
    state_map: ClassVar[dict[str, JobState]] = {}
    script_on_stdin: ClassVar[bool] = False
    transient_phrases: ClassVar[tuple[str, ...]] = ()
    submit_program: ClassVar[str | None] = None
    safe_to_resubmit: ClassVar[tuple[str, ...]] = ()
    bin_keyword: ClassVar[str] = "bin_dir"
    max_array_keyword: ClassVar[str | None] = "max_array_size"
    recorded_attributes: ClassVar[tuple[str, ...]] = ()
    chunk_ids_name_array: ClassVar[bool] = False

    program_variables: ClassVar[dict[str, str]] = {}
    """Scheduler commands a ``REFLOW_*`` variable can replace: ``{"sbatch": "REFLOW_SBATCH"}``.

    Filled by the :class:`SchedulerCommand` attributes of a subclass.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # reflow-hpc's name of the same variable; one source of truth per scheduler.
        if "task_id_variable" in cls.__dict__:
            cls.array_index_env_var = cls.task_id_variable
        # The settings stay readable under the subclass's own keywords
        # (``executor.slurm_bin``), as before BatchSettings held them.
        for keyword, field in (
            (cls.bin_keyword, "bin_dir"),
            (cls.max_array_keyword, "max_array_size"),
        ):
            if (
                keyword is not None
                and keyword not in vars(BatchExecutor)
                and not hasattr(cls, keyword)
            ):
                setattr(cls, keyword, property(_setting_reader(field), doc=f"settings.{field}"))

    def __init__(
        self,
        state_dir: str | os.PathLike[str] | None = None,
        *,
        bin_dir: str | None = None,
        max_array_size: int | None = None,
        command_timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 1.0,
        mode: str | None = None,
    ) -> None:
        # lazy: the worker imports the executors; the environment module on first use
        from reflow import env
        from reflow.executors.base import check_mode

        self.mode = check_mode(mode, f"{type(self).__name__}(mode=...)")
        self.settings = BatchSettings.build(
            self.name,
            state_dir,
            bin_dir=bin_dir,
            command_timeout=command_timeout,
            retries=retries,
            backoff=backoff,
            max_array_size=max_array_size,
        )
        """The settings shared by every backend; :meth:`recorded_options` records them."""
        self.program_paths: dict[str, str] = {
            program: value
            for program, variable in self.program_variables.items()
            if (value := env.get(variable)) is not None
        }
        """Commands replaced through :attr:`program_variables`; :meth:`command` consults it."""
        self.arrays = ArrayRegistry(self.state_dir / "arrays")

    @property
    def state_dir(self) -> Path:
        """:attr:`settings`' absolute state directory."""
        return self.settings.state_dir

    @property
    def command_timeout(self) -> float:
        """:attr:`settings`' seconds each scheduler command may take."""
        return self.settings.command_timeout

    @property
    def retries(self) -> int:
        """:attr:`settings`' retries of a transiently failing command."""
        return self.settings.retries

    @property
    def backoff(self) -> float:
        """:attr:`settings`' seconds before the first retry."""
        return self.settings.backoff

    def recorded_options(self) -> dict[str, Any]:
        """Constructor keywords that rebuild this executor in a later dispatcher.

        :attr:`settings` under the subclass's keywords (:attr:`bin_keyword`,
        :attr:`max_array_keyword`), the attributes named in
        :attr:`recorded_attributes` (an enum by its value), and the mode when set.
        """
        options = self.settings.recorded()
        options[self.bin_keyword] = self.settings.bin_dir
        if self.max_array_keyword is not None:
            options[self.max_array_keyword] = self.settings.max_array_size
        for name in self.recorded_attributes:
            value = getattr(self, name)
            options[name] = value.value if isinstance(value, Enum) else value
        if self.mode is not None:  # a dry-run run stays one in its later dispatchers
            options["mode"] = self.mode
        return options

    def command(self, program: str) -> str:
        """The scheduler command to run for ``program``.

        Its ``REFLOW_*`` override (:attr:`program_variables`) first, else
        ``program`` in the settings' ``bin_dir``, else the bare name for ``PATH``.
        """
        if program in self.program_paths:  # a REFLOW_* override wins over bin_dir
            return self.program_paths[program]
        return self.settings.command(program)

    def paired_arrays(self, job: JobSpec, chunk: ArrayChunk | None, native: str) -> list[str]:
        """Native ids of ``job.after_corr``, each an array this chunk pairs with task for task.

        ``native`` is the scheduler's name for such a dependency (``aftercorr``),
        for the error.

        Raises
        ------
        BatchExecutorError
            If an array of ``after_corr`` is unknown, split into chunks, or has
            other element indices than this chunk.
        """
        found = []
        for ident in job.after_corr:
            other = self.arrays.load(ident)
            mine = None if chunk is None else chunk.indices
            if other is None or len(other.chunks) != 1 or other.chunks[0][1].indices != mine:
                raise refusal(
                    self.name,
                    job,
                    f"with after_corr on {ident!r}: {native} pairs array tasks by number, so "
                    f"both arrays must be one {self.name} array each with the same element "
                    f"indices (this chunk runs {list(mine or ())}); "
                    "use after_ok on the whole array",
                )
            found.append(other.chunks[0][0])
        return found

    def precheck(self, job: JobSpec) -> None:
        """Refuse what the scheduler's directives would refuse, before any file is written.

        Default: nothing; a backend renders its option directives here.
        """

    # -- what a scheduler writes -----------------------------------------------------

    @abc.abstractmethod
    def render_script(self, job: JobSpec, chunk: ArrayChunk | None) -> str:
        """The job script: ``#!/bin/bash``, the directive lines, then :meth:`script_body`.

        ``chunk`` is ``None`` for a single job; for an array, the tasks
        ``chunk.first`` to ``chunk.last`` (throttled to ``chunk.parallelism``)
        to request.  :meth:`dependencies` gives the native dependency ids.
        """

    @abc.abstractmethod
    def submit_argv(self, script_path: Path, job: JobSpec, chunk: ArrayChunk | None) -> list[str]:
        """The command submitting the script at ``script_path``."""

    @abc.abstractmethod
    def parse_job_id(self, stdout: str) -> str:
        """The scheduler's job id in the submit command's output."""

    @abc.abstractmethod
    def query_argv(self, job_ids: Sequence[str]) -> list[list[str]]:
        """One command (or a small fixed number) reporting every job of ``job_ids``."""

    @abc.abstractmethod
    def parse_states(self, outputs: Sequence[str], job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """Statuses from the outputs of :meth:`query_argv`'s commands, in order.

        Keys are the scheduler's ids: the job id of a single job, and
        :meth:`native_element_id` for array tasks (a chunk's own id, if
        present, stands for its tasks not listed separately, e.g. pending
        ones).  Jobs the scheduler does not report are simply left out.
        """

    @abc.abstractmethod
    def cancel_argv(self, job_ids: Sequence[str]) -> list[str]:
        """One command cancelling ``job_ids`` (job ids and :meth:`native_element_id` s)."""

    def max_array_index(self) -> int | None:
        """The highest array task id the site accepts (Slurm: MaxArraySize - 1); ``None``: any."""
        return None

    def native_element_id(self, job_id: str, task: int) -> str:
        """The scheduler's name for task ``task`` of array ``job_id``; default ``ID[task]``."""
        return f"{job_id}[{task}]"

    def transient(self, result: subprocess.CompletedProcess[str]) -> bool:
        """Whether a failed command is worth retrying.

        An error :func:`looks_transient` or naming one of
        :attr:`transient_phrases` is, except from the submit command
        (:meth:`is_submit`): a submission is repeated only when the error
        says the scheduler cannot have taken the job (:attr:`safe_to_resubmit`)
        and its output shows no job id (:meth:`submitted_anyway`), so that
        no job is ever submitted twice.
        """
        text = f"{result.stderr or ''}\n{result.stdout or ''}".lower()
        if not (looks_transient(result) or any(p in text for p in self.transient_phrases)):
            return False
        argv = [str(arg) for arg in result.args] if isinstance(result.args, list) else []
        if argv and self.is_submit(argv):
            if self.submitted_anyway(result):
                return False
            return any(phrase in text for phrase in self.safe_to_resubmit)
        return True

    def is_submit(self, argv: Sequence[str]) -> bool:
        """Whether ``argv`` submits a job; default: its program is :attr:`submit_program`."""
        return self.submit_program is not None and Path(argv[0]).name == self.submit_program

    def submitted_anyway(self, result: subprocess.CompletedProcess[str]) -> bool:
        """Whether a failed submission's output still names a job it created; default: no."""
        return False

    def ignorable_failure(self, error: SchedulerCommandError) -> bool:
        """Whether a failed query or cancel only complains about ids the scheduler forgot.

        If so, a query's stdout is parsed anyway and a cancel counts as done.
        """
        return False

    # -- helpers for subclasses ------------------------------------------------------

    def map_state(self, native: str) -> JobState:
        """The reflow state of a native state code, through :attr:`state_map`; else UNKNOWN."""
        state = self.state_map.get(native.strip())
        if state is None:
            logger.debug("%s state %r is not in state_map; reporting UNKNOWN.", self.name, native)
            return JobState.UNKNOWN
        return state

    def dependencies(self, job: JobSpec, chunk: ArrayChunk | None) -> tuple[list[str], list[str]]:
        """Native ids of ``job.after_any`` (plus the previous chunk) and ``job.after_ok``."""
        native: dict[str, list[str]] = {}
        for ident in (*job.after_any, *job.after_ok):
            found = self.native_ids(ident)
            if found is None:
                raise BatchExecutorError(
                    f"Cannot submit {self.name} job {job.name!r}: its dependency {ident!r} names "
                    f"an element of an array job not recorded in {self.arrays.directory}. "
                    "Submit the dependency through an executor with the same state_dir."
                )
            native[ident] = found
        after_any = [n for ident in job.after_any for n in native[ident]]
        if chunk is not None and chunk.previous is not None:
            after_any.append(chunk.previous)
        return after_any, [n for ident in job.after_ok for n in native[ident]]

    def native_ids(self, ident: str) -> list[str] | None:
        """The scheduler's ids for a reflow id: chunk ids of ``"123+124"``, the task of ``ID[i]``.

        ``None`` for an element id whose array (or index) this executor does not know.
        """
        base, index = split_element_id(ident)
        array = self.arrays.load(base)
        if index is None:
            return split_job_id(base) if array is None else [n for n, _ in array.chunks]
        place = None if array is None else array.locate(index)
        return None if place is None else [self.native_element_id(*place)]

    def script_body(self, job: JobSpec, chunk: ArrayChunk | None) -> str:
        """The bash lines after the directives: environment, array index, directory, command.

        A task's modules, prologue and container are set up as
        :mod:`reflow.executors.taskenv` writes them, just before the command.

        An array element computes its ``REFLOW_ARRAY_INDEX`` from the native
        task id in :attr:`task_id_variable` (see :func:`index_lines`); a single
        job runs without the variable.  Every value is shell-quoted.
        """
        lines = ["", "# -- written by reflow --"]
        lines += [f"export {key}={shlex.quote(value)}" for key, value in job.env.items()]
        if chunk is None:
            lines.append(f"unset {ARRAY_INDEX_ENV}")
        else:
            lines += index_lines(chunk, self.task_id_variable)
        lines.append(f"cd -- {shlex.quote(str(job.workdir))} || exit 1")
        try:
            lines += command_lines(job)
        except ValueError as exc:
            raise refusal(self.name, job, str(exc)) from None
        return "\n".join(lines) + "\n"

    def scripts_dir(self, job: JobSpec) -> Path:
        """Where the job's scripts go: ``.reflow-scripts`` next to its log directory.

        Override it to keep the scripts elsewhere; the jobs must be able to read it.
        """
        return job.log_dir.parent / ".reflow-scripts"

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        retry_timeouts: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run a scheduler command with this executor's timeout, retries and :meth:`transient`."""
        return run_command(
            argv,
            timeout=self.command_timeout,
            retries=self.retries,
            backoff=self.backoff,
            transient=self.transient,
            input=input,
            env=self.command_env(argv),
            retry_timeouts=retry_timeouts,
        )

    def command_env(self, argv: Sequence[str]) -> dict[str, str] | None:
        """The environment of one scheduler command; ``None`` (the default) inherits ours."""
        return None

    # -- the template ----------------------------------------------------------------

    def _chunks(self, job: JobSpec) -> list[ArrayChunk | None]:
        if job.array is None:
            return [None]
        try:
            return list(split_array(job.array, self.array_index_base, self.max_array_index()))
        except ValueError as exc:
            raise BatchExecutorError(
                f"Cannot submit {self.name} array job {job.name!r}: {exc}. Check the "
                f"site's array size limit that {type(self).__name__}.max_array_index reports."
            ) from exc

    def _check(self, job: JobSpec) -> None:
        problem = ""
        if not job.command:
            problem = "its command is empty; give the program to run and its arguments"
        elif not job.name or any(c in job.name for c in "\n\r\0"):
            problem = "its name is empty or has line breaks; give a one-line job name"
        elif any(c in f"{job.workdir}{job.log_dir}" for c in "\n\r\0"):
            problem = "its workdir or log_dir has a line break; choose another directory"
        elif bad := [key for key in job.env if not _ENV_NAME.match(key)]:
            problem = f"{bad} are not environment variable names; use letters, digits and _"
        else:
            try:
                parse_walltime(job.resources.time)
            except ValueError as exc:
                problem = f"{exc}; set the task's time= to a walltime such as '01:00:00'"
        if problem:
            raise refusal(self.name, job, problem)
        self.precheck(job)

    def describe_submission(self, job: JobSpec) -> str:
        """The scripts and submit commands :meth:`submit` would use (nothing is written)."""
        self._check(job)
        chunks = self._chunks(job)
        parts = [f"[{self.name} dry-run] {job.name}: {len(chunks)} submission(s)"]
        for planned in chunks:
            chunk = planned
            if chunk is not None and chunk.number and chunk.parallelism is not None:
                chunk = replace(chunk, previous=f"<id of chunk {chunk.number - 1}>")
            path = self.scripts_dir(job) / self._script_name(job, chunk, "<random>")
            parts.append(f"$ {shlex.join(self.submit_argv(path, job, chunk))}")
            if chunk is not None:
                span = f"tasks {chunk.first}-{chunk.last}"
                parts.append(
                    f"# chunk {chunk.number}: {span} run reflow indices {list(chunk.indices)}"
                )
            parts.append(self.render_script(job, chunk))
        return "\n".join(parts)

    def _script_name(self, job: JobSpec, chunk: ArrayChunk | None, token: str) -> str:
        stem = _UNSAFE.sub("_", job.name)[:80] or "job"
        return f"{stem}.{token}" + ("" if chunk is None else f".{chunk.number}") + ".sh"

    def _write_script(self, job: JobSpec, chunk: ArrayChunk | None, token: str) -> Path:
        directory = self.scripts_dir(job)
        path = directory / self._script_name(job, chunk, token)
        try:
            job.log_dir.mkdir(parents=True, exist_ok=True)  # schedulers do not create it
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                os.fchmod(handle.fileno(), 0o700)
                handle.write(self.render_script(job, chunk))
        except OSError as exc:
            raise BatchExecutorError(
                f"Cannot write the {self.name} job script of {job.name!r} to {path}: {exc}. "
                "Make the job's log directory and the directory next to it writable."
            ) from exc
        return path

    def _submit_one(self, job: JobSpec, chunk: ArrayChunk | None, token: str) -> str:
        path = self._write_script(job, chunk, token)
        stdin = path.read_text(encoding="utf-8") if self.script_on_stdin else None
        argv = self.submit_argv(path, job, chunk)
        # A timed-out submission may have gone through: never submit twice.
        result = self.run(argv, input=stdin, retry_timeouts=False)
        try:
            native = self.parse_job_id(result.stdout).strip()
        except (ValueError, IndexError) as exc:
            native, problem = "", str(exc)
        else:
            problem = "it is empty or has spaces, '[' or '+'"
        if not native or any(c in native for c in f" \t\n[{JOIN}"):
            raise BatchExecutorError(
                f"Cannot read the job id of {self.name} job {job.name!r} from the output of "
                f"{shlex.join(argv)} ({problem}): {result.stdout.strip()!r}. The job may have "
                "been submitted; check the queue before submitting it again."
            )
        logger.debug("%s job %r (%s) is %s.", self.name, job.name, path.name, native)
        return native

    def _submit(self, job: JobSpec) -> str:
        """Write the script(s), submit each chunk, and record an array's map."""
        self._check(job)
        submitted: list[tuple[str, ArrayChunk]] = []
        token = secrets.token_hex(4)  # names this submission's scripts
        for planned in self._chunks(job):
            chunk = planned
            if chunk is not None and submitted and chunk.parallelism is not None:
                chunk = replace(chunk, previous=submitted[-1][0])
            try:
                native = self._submit_one(job, chunk, token)
            except ReflowError:
                self._withdraw(job, [n for n, _ in submitted])
                raise
            if chunk is None:
                self.arrays.forget(native)  # a map of an earlier array with a reused id
                logger.info("Submitted %s job %s (%s).", self.name, native, job.name)
                return native
            submitted.append((native, chunk))
        array = ArrayMap.build(submitted)
        try:
            self.arrays.save(array)
        except OSError as exc:
            self._withdraw(job, [n for n, _ in submitted])
            raise BatchExecutorError(
                f"Cannot record {self.name} array job {job.name!r} in {self.arrays.directory}: "
                f"{exc}. Its chunks were cancelled; make state_dir writable and submit again."
            ) from exc
        if self.chunk_ids_name_array:
            for native in [n for n, _ in array.chunks if n != array.job_id]:
                try:
                    self.arrays.save(ArrayMap(native, array.chunks))
                except OSError as exc:
                    logger.warning(
                        "Cannot record chunk %s of array %s: %s", native, array.job_id, exc
                    )
        logger.info(
            "Submitted %s array job %s (%s, %d elements).",
            self.name,
            array.job_id,
            job.name,
            len(array.indices),
        )
        return array.job_id

    def _withdraw(self, job: JobSpec, natives: list[str]) -> None:
        """Cancel the chunks of an array whose later chunk could not be submitted."""
        if not natives:
            return
        logger.warning("Cancelling chunks %s of %r: a later chunk failed.", natives, job.name)
        try:
            self._cancel_native(natives)
        except ReflowError as exc:
            logger.warning("Could not cancel %s; cancel them by hand: %s", natives, exc)

    def query(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """Statuses of jobs and elements from one round of :meth:`query_argv` commands.

        Every requested id gets an entry (UNKNOWN if the scheduler does not
        report it); a requested array job also gets an entry ``ID[i]`` per
        element, by reflow index, and its own entry summarises them.
        """
        if not job_ids:
            return {}
        natives: dict[str, None] = {}
        for ident in job_ids:
            found = self.native_ids(split_element_id(ident)[0])
            natives.update(dict.fromkeys(found or ()))
        parsed = self._parse(list(natives))

        def status_of(chunk_id: str, task: int) -> JobStatus:
            own = parsed.get(self.native_element_id(chunk_id, task))
            return own or parsed.get(chunk_id) or JobStatus(JobState.UNKNOWN)

        result: dict[str, JobStatus] = {}
        for ident in job_ids:
            base, index = split_element_id(ident)
            array = self.arrays.load(base)
            if array is None:
                default = JobStatus(JobState.UNKNOWN)
                result[ident] = default if index is not None else parsed.get(base, default)
            elif index is None:
                elements = {i: status_of(c, t) for i, c, t in array.elements()}
                result[ident] = summarize(elements)
                for i, status in elements.items():
                    result.setdefault(element_id(base, i), status)
            else:
                place = array.locate(index)
                result[ident] = JobStatus(JobState.UNKNOWN) if place is None else status_of(*place)
        return result

    def _parse(self, natives: list[str]) -> dict[str, JobStatus]:
        if not natives:
            return {}
        outputs: list[str] = []
        for argv in self.query_argv(natives):
            try:
                outputs.append(self.run(argv).stdout)
            except SchedulerCommandError as exc:
                if not self.ignorable_failure(exc):
                    raise
                outputs.append(exc.stdout)
        return self.parse_states(outputs, natives)

    def cancel(self, job_ids: Sequence[str]) -> None:
        """Cancel jobs, whole arrays (every chunk) and single elements ``ID[i]``."""
        natives: dict[str, None] = {}
        for ident in job_ids:
            found = self.native_ids(ident)
            if found is None:
                logger.debug("Not cancelling %r: no such element of a %s array.", ident, self.name)
            natives.update(dict.fromkeys(found or ()))
        self._cancel_native(list(natives))

    def _cancel_native(self, natives: list[str]) -> None:
        if not natives:
            return
        try:
            self.run(self.cancel_argv(natives))
        except SchedulerCommandError as exc:
            if not self.ignorable_failure(exc):
                raise
            logger.debug("Ignoring the failure of a %s cancel: %s", self.name, exc)
        logger.info("Cancelled %s jobs %s.", self.name, " ".join(natives))

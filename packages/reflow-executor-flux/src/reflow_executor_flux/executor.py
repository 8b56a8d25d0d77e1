"""The Flux executor: ``flux submit`` (``--cc`` arrays), ``flux jobs --json``, ``flux cancel``."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from reflow.executors import (
    ArrayChunk,
    ArrayMap,
    BatchExecutor,
    BatchExecutorError,
    BatchOptions,
    JobSpec,
    JobState,
    JobStatus,
    ReflowError,
    SchedulerCommandError,
    element_id,
    env,
    split_element_id,
)
from reflow_executor_flux import script
from reflow_executor_flux.jobid import canonical_id, parse_job_id
from reflow_executor_flux.states import STATE_MAP, parse_flux_jobs

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11

__all__ = ["FluxExecutor", "plan_array"]

logger = logging.getLogger(__name__)

_TRANSIENT = (
    "unable to connect to flux",
    "could not connect to flux",
    "broker is not responding",
)
"""Flux's words for errors that pass on their own, besides reflow's general ones."""

_NOT_SUBMITTED = (
    "connection refused",
    "unable to connect to flux",
    "could not connect to flux",
    "no such file or directory",  # the broker's socket is missing: nothing was submitted
)
"""flux submit errors after which no job can have been created: safe to submit again."""

_FORGOTTEN = ("unknown", "not found", "inactive", "no such job")
"""flux jobs' and flux cancel's complaints about ids it does not know or jobs that ended."""

_FIRST_ID = 'export REFLOW_JOB_ID="${FLUX_JOB_ID:-}"'


def plan_array(indices: Sequence[int], parallelism: int | None) -> list[tuple[int, ...]]:
    """The submissions of an array: groups of reflow indices, each one ``flux submit --cc``.

    Flux has no array throttle, so an array with a parallelism limit P runs
    in *slices* of P elements, each slice waiting (``afterany``) for every
    element of the one before.  The first element is always submitted on
    its own: its id names the array, and the later submissions hand that id
    to their elements.  Returns the groups in submission order; group ``k``
    belongs to slice ``slice_of(k)``.

    Examples
    --------
    >>> plan_array((0, 1, 2, 3, 4), 2)
    [(0,), (1,), (2, 3), (4,)]
    >>> plan_array((0, 1, 2, 3, 4), None)
    [(0,), (1, 2, 3, 4)]
    """
    size = len(indices) if parallelism is None else max(1, parallelism)
    slices = [tuple(indices[k : k + size]) for k in range(0, len(indices), size)]
    first, *rest = slices
    groups = [first[:1]]
    if first[1:]:
        groups.append(first[1:])
    return groups + rest


class FluxExecutor(BatchExecutor):
    """Runs reflow jobs on Flux through ``flux submit``, ``flux cancel`` and ``flux jobs``.

    Selected with the executor name ``flux`` (``REFLOW_EXECUTOR=flux``).

    Every job is a script submitted with ``flux submit`` and options on its
    command line (see :mod:`reflow_executor_flux.script`).  An array task is
    submitted with ``--cc`` (one Flux job per element, each with its own id);
    its parallelism limit is kept by submitting it in slices that wait for
    each other (see :func:`plan_array`).  Job ids are kept in decimal; ids
    in F58 (``ƒ...``), hex or dothex are accepted wherever an id is.
    Canonical submit-option keys are renamed to their native names
    (:meth:`~reflow.executors.Executor.normalize_options`):

    - ``partition`` -> ``queue`` (``--queue``)
    - ``queue`` -> ``queue`` (``--queue``)
    - ``account`` -> ``bank`` (``--setattr=system.bank=NAME``)

    Flux has queues rather than partitions, and charges jobs to a *bank*
    (flux-accounting).  Other keys are native flux submit options.

    Parameters
    ----------
    state_dir : str or os.PathLike or None
        Where the maps of submitted arrays are kept (see
        :class:`~reflow.executors.batch.BatchExecutor`).
    flux : str
        The ``flux`` command (a path, or a name found on ``PATH``); ``REFLOW_FLUX``
        wins over it.
    flux_bin : str or None
        Directory of the ``flux`` command, used when ``flux`` is left as
        ``"flux"``; ``None``: ``REFLOW_FLUX_BIN``, else ``PATH``.
    command_timeout, retries, backoff
        Timeout, retries and first backoff of every Flux command.
    """

    name: ClassVar[str] = "flux"
    _KEY_ALIASES: ClassVar[dict[str, str]] = {
        "partition": "queue",
        "queue": "queue",
        "account": "bank",
    }
    known_options: ClassVar[frozenset[str] | None] = script.KNOWN_OPTIONS
    array_index_base: ClassVar[int] = 0
    task_id_variable: ClassVar[str] = "FLUX_JOB_CC"
    dependency_key: ClassVar[str] = "dependency"  # flux submit --dependency=afterany:ID, one each
    state_map: ClassVar[dict[str, JobState]] = STATE_MAP
    transient_phrases: ClassVar[tuple[str, ...]] = _TRANSIENT
    safe_to_resubmit: ClassVar[tuple[str, ...]] = _NOT_SUBMITTED
    # ``flux`` is a constructor argument (an attribute already), so no SchedulerCommand.
    program_variables: ClassVar[dict[str, str]] = {"flux": env.REFLOW_FLUX}
    bin_keyword: ClassVar[str] = "flux_bin"
    max_array_keyword: ClassVar[str | None] = None  # Flux arrays are jobs of their own
    recorded_attributes: ClassVar[tuple[str, ...]] = ("flux",)

    def __init__(
        self,
        state_dir: str | os.PathLike[str] | None = None,
        *,
        flux: str = "flux",
        flux_bin: str | None = None,
        **options: Unpack[BatchOptions],
    ) -> None:
        super().__init__(
            state_dir,
            bin_dir=flux_bin,
            **options,
        )
        # REFLOW_FLUX, else the flux argument, else flux in the bin directory.
        self.flux = (
            self.command("flux") if flux == "flux" else self.program_paths.get("flux", flux)
        )

    def dependency_value(self, job_ids: list[str]) -> list[str]:
        """``["afterany:ID", ...]``: Flux takes one ``--dependency`` per job."""
        return [f"afterany:{ident}" for ident in job_ids]

    def dependency_ids(self, value: Any) -> list[str]:
        """The ids of a list of ``afterany:ID`` (or one such text)."""
        items = value if isinstance(value, list | tuple) else [value]
        parse = super().dependency_ids  # zero-argument super() fails inside a comprehension
        return [ident for item in items for ident in parse(item)]

    # -- what the template asks for (single jobs) -------------------------------------

    def native_element_id(self, job_id: str, task: int) -> str:
        """Each element of a Flux array is a job of its own: its id is the element's."""
        return job_id

    def render_script(self, job: JobSpec, chunk: ArrayChunk | None) -> str:
        """The script of a single job (arrays are written by :meth:`_submit_array`)."""
        return script.body(job, False, _FIRST_ID)

    def submit_argv(self, script_path: Path, job: JobSpec, chunk: ArrayChunk | None) -> list[str]:
        """``flux submit OPTIONS SCRIPT`` for a single job, with its dependencies."""
        after_any, after_ok = self.dependencies(job, None)
        options = self.normalize_options(job.resources.options)
        args = script.submit_args(
            job, script_path, options, after_any=after_any, after_ok=after_ok
        )
        return [self.flux, "submit", *args]

    def parse_job_id(self, stdout: str) -> str:
        """The decimal id of the one job ``flux submit`` printed (F58, ``ƒ`` or ``f``)."""
        ids = self.parse_job_ids(stdout)
        if len(ids) != 1:
            raise ValueError(f"flux submit printed {len(ids)} job ids, not one")
        return ids[0]

    @staticmethod
    def parse_job_ids(stdout: str) -> list[str]:
        """Every job id ``flux submit`` printed, one a line, in decimal.

        Raises
        ------
        ValueError
            If a line is not a Flux job id.
        """
        return [str(parse_job_id(line)) for line in stdout.splitlines() if line.strip()]

    def query_argv(self, job_ids: Sequence[str]) -> list[list[str]]:
        """``flux jobs -a --json IDS`` (every id, array elements included, in one call)."""
        return [[self.flux, "jobs", "-a", "--json", *job_ids]]

    def parse_states(self, outputs: Sequence[str], job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """Statuses by decimal id from flux jobs' JSON."""
        found: dict[str, JobStatus] = {}
        for text in outputs:
            try:
                found.update(parse_flux_jobs(text))
            except ValueError as exc:
                raise BatchExecutorError(
                    f"Cannot read the output of flux jobs --json ({exc}): {text[:300]!r}"
                ) from exc
        return found

    def cancel_argv(self, job_ids: Sequence[str]) -> list[str]:
        """``flux cancel ID...`` (an array's elements are jobs of their own)."""
        return [self.flux, "cancel", *job_ids]

    def ignorable_failure(self, error: SchedulerCommandError) -> bool:
        """flux jobs/cancel complaining only about unknown ids or jobs that already ended."""
        if len(error.argv) < 2 or error.argv[1] not in ("jobs", "cancel"):
            return False
        complaints = [line.lower() for line in (error.stderr or "").splitlines() if line.strip()]
        return all(any(phrase in line for phrase in _FORGOTTEN) for line in complaints)

    def is_submit(self, argv: Sequence[str]) -> bool:
        """``flux submit ...``."""
        return len(argv) > 1 and argv[1] == "submit"

    def submitted_anyway(self, result: subprocess.CompletedProcess[str]) -> bool:
        """flux submit printed an id: some job went through, never submit twice."""
        return bool((result.stdout or "").strip())

    # -- ids in any encoding -----------------------------------------------------------

    def native_ids(self, ident: str) -> list[str] | None:
        """As the base class, for ids in any Flux encoding (``ƒ2W``, ``0x1f`` ...)."""
        return super().native_ids(self._canonical(ident))

    def query(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """As the base class; ids in F58 or hex are answered under the form they were asked in."""
        canon = {ident: self._canonical(ident) for ident in job_ids}
        inner = super().query(list(dict.fromkeys(canon.values())))
        result: dict[str, JobStatus] = {}
        for ident, key in canon.items():
            result[ident] = inner[key]
            if ident != key and split_element_id(ident)[1] is None:
                for found, status in inner.items():
                    base, index = split_element_id(found)
                    if base == key and index is not None:
                        result.setdefault(element_id(ident, index), status)
        for key, status in inner.items():
            result.setdefault(key, status)
        return result

    def cancel(self, job_ids: Sequence[str]) -> None:
        """Cancel jobs, whole arrays (every element) and single elements ``ID[i]``."""
        super().cancel([self._canonical(ident) for ident in job_ids])

    @staticmethod
    def _canonical(ident: str) -> str:
        """A job or element id with its job id in decimal: ``ƒ21[3]`` gives ``58[3]``."""
        base, index = split_element_id(ident)
        return canonical_id(base) if index is None else element_id(canonical_id(base), index)

    # -- arrays --------------------------------------------------------------------------

    def _check_flux(self, job: JobSpec) -> dict[str, Any]:
        self._check(job)
        options = self.normalize_options(job.resources.options)
        path = self.scripts_dir(job) / "x.sh"
        script.submit_args(job, path, options, cc=None if job.array is None else [0])
        return options

    def describe_submission(self, job: JobSpec) -> str:
        """The scripts and ``flux submit`` commands :meth:`submit` would use."""
        self._check_flux(job)
        if job.array is None:
            return super().describe_submission(job)
        groups = plan_array(job.array.indices, job.array.parallelism)
        parts = [f"[flux dry-run] {job.name}: {len(groups)} submission(s)"]
        options = self.normalize_options(job.resources.options)
        after_any, after_ok = self.dependencies(job, None)
        for number, group in enumerate(groups):
            path = self.scripts_dir(job) / self._script_name(job, None, f"<random>.{number}")
            wait = list(after_any)
            previous = self._previous_slice(groups, number, job.array.parallelism)
            wait += [f"<id of element {i}>" for i in previous]
            args = script.submit_args(
                job, path, options, after_any=wait, after_ok=after_ok, cc=group
            )
            parts.append(f"$ {shlex.join([self.flux, 'submit', *args])}")
            parts.append(f"# reflow indices {list(group)}")
        parts.append(script.body(job, True, _FIRST_ID))
        return "\n".join(parts)

    @staticmethod
    def _previous_slice(
        groups: Sequence[tuple[int, ...]], number: int, parallelism: int | None
    ) -> list[int]:
        """The indices group ``number`` waits for: every element of the slice before it."""
        if parallelism is None or number < 2:
            return []
        # groups 0 and 1 together form slice 0; group g >= 2 is slice g - 1
        if number == 2:
            return [*groups[0], *groups[1]]
        return list(groups[number - 1])

    def _write(self, job: JobSpec, text: str, token: str) -> Path:
        directory = self.scripts_dir(job)
        path = directory / self._script_name(job, None, token)
        try:
            job.log_dir.mkdir(parents=True, exist_ok=True)
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                os.fchmod(handle.fileno(), 0o700)
                handle.write(text)
        except OSError as exc:
            raise BatchExecutorError(
                f"Cannot write the flux job script of {job.name!r} to {path}: {exc}. "
                "Make the job's log directory and the directory next to it writable."
            ) from exc
        return path

    def _submit(self, job: JobSpec) -> str:
        """A single job through the template; an array as :func:`plan_array` says."""
        options = self._check_flux(job)
        if job.array is None:
            job_id = super()._submit(job)
            return job_id
        return self._submit_array(job, options)

    def _submit_array(self, job: JobSpec, options: dict[str, Any]) -> str:
        assert job.array is not None
        groups = plan_array(job.array.indices, job.array.parallelism)
        after_any, after_ok = self.dependencies(job, None)
        token = secrets.token_hex(4)
        ids: dict[int, str] = {}  # reflow index -> Flux id
        submitted: list[str] = []  # every id flux submit printed, to withdraw on failure
        array_id = ""
        try:
            for number, group in enumerate(groups):
                line = _FIRST_ID if number == 0 else f"export REFLOW_JOB_ID={array_id}"
                path = self._write(job, script.body(job, True, line), f"{token}.{number}")
                previous = self._previous_slice(groups, number, job.array.parallelism)
                args = script.submit_args(
                    job,
                    path,
                    options,
                    after_any=[*after_any, *(ids[i] for i in previous)],
                    after_ok=after_ok,
                    cc=group,
                )
                argv = [self.flux, "submit", *args]
                try:
                    result = self.run(argv, retry_timeouts=False)
                except SchedulerCommandError as exc:
                    # Copies submitted before one failed still printed their ids.
                    with contextlib.suppress(ValueError):
                        submitted += self.parse_job_ids(exc.stdout)
                    raise
                try:
                    got = self.parse_job_ids(result.stdout)
                except ValueError as exc:
                    raise BatchExecutorError(
                        f"Cannot read the job ids of flux array job {job.name!r} from the "
                        f"output of {shlex.join(argv)} ({exc}): {result.stdout.strip()!r}. "
                        "Some elements may have been submitted; check flux jobs."
                    ) from exc
                submitted += got
                if len(got) != len(group):
                    raise BatchExecutorError(
                        f"flux submit --cc={script.idset(group)} for {job.name!r} printed "
                        f"{len(got)} job ids for {len(group)} elements: {result.stdout.strip()!r}"
                    )
                # Flux numbers jobs in the order it accepts them, and --cc submits in order.
                ids.update(zip(group, sorted(got, key=int), strict=True))
                if number == 0:
                    array_id = got[0]
        except ReflowError:
            self._withdraw(job, submitted)
            raise
        array = ArrayMap(
            array_id,
            tuple(
                (ids[index], ArrayChunk(number, (index,), index))
                for number, index in enumerate(job.array.indices)
            ),
        )
        try:
            self.arrays.save(array)
        except OSError as exc:
            self._withdraw(job, list(ids.values()))
            raise BatchExecutorError(
                f"Cannot record flux array job {job.name!r} in {self.arrays.directory}: "
                f"{exc}. Its elements were cancelled; make state_dir writable and submit again."
            ) from exc
        logger.info(
            "Submitted flux array job %s (%s, %d elements in %d submissions).",
            array_id,
            job.name,
            len(ids),
            len(groups),
        )
        return array_id

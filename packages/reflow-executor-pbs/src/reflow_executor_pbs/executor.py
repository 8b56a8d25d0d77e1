"""The PBS executor: ``qsub`` scripts, ``qstat`` queries, ``qdel``; PBS Pro and Torque."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from reflow.executors import (
    ArrayChunk,
    BatchExecutor,
    BatchExecutorError,
    BatchOptions,
    JobSpec,
    JobState,
    JobStatus,
    ReflowError,
    SchedulerCommand,
    SchedulerCommandError,
    env,
    run_command,
)
from reflow_executor_pbs import script
from reflow_executor_pbs.flavor import FLAVOR_ENV, Flavor, detect_flavor, parse_flavor
from reflow_executor_pbs.markers import JobRecord, JobRecords, refine
from reflow_executor_pbs.states import STATE_MAP, parse_pbspro_json, parse_torque

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11

__all__ = ["BIN_ENV", "DEFAULT_MAX_ARRAY_SIZE", "PBSExecutor"]

logger = logging.getLogger(__name__)

BIN_ENV = env.REFLOW_PBS_BIN
"""The environment variable naming the directory of qsub/qstat/qdel (else ``PATH``)."""

DEFAULT_MAX_ARRAY_SIZE = 10000
"""PBS Pro's default server ``max_array_size``: the most subjobs of one array."""

_TRANSIENT = (
    "pbs_iff",
    "premature end of message",
    "communication failure",
    "could not connect to trqauthd",
    "cannot connect to specified server host",
    "server is busy",
    "problem loading jobs",
)
"""PBS's (and the Torque wrappers') words for errors that pass on their own."""

_SAFE_TO_RESUBMIT = (
    "pbs_iff",
    "cannot connect to server",
    "cannot connect to specified server host",
    "could not connect to trqauthd",
    "connection refused",
)
"""qsub errors after which the server has certainly not accepted the job."""

_FORGOTTEN = (
    "unknown job id",
    "job has finished",
    "job has already finished",
    "request invalid for state of job",
    "invalid state for job",
)
"""Complaints of qstat and qdel about ids the server no longer knows (or that have ended)."""

_DRY_TOKEN = "RANDOM"  # noqa: S105 (a file name part, not a secret)
"""Names the scripts of a dry run, where nothing is written."""

_SUBJOB = re.compile(r"^(?P<job>[^\[]+)\[(?P<task>\d+)\](?P<rest>.*)$")
"""A subjob id: ``12[3].server`` (PBS), ``7[3]`` (the wrappers' arrays as reflow names them)."""

_VERSION = re.compile(r"^(\d+)\.(\d+)")


def _version(text: str) -> tuple[int, int] | None:
    match = _VERSION.match(text)
    return None if match is None else (int(match[1]), int(match[2]))


class PBSExecutor(BatchExecutor):
    """Runs reflow jobs on PBS Pro / OpenPBS / Torque through ``qsub``, ``qdel`` and ``qstat``.

    Selected with the executor name ``pbs`` (``REFLOW_EXECUTOR=pbs``).

    Each job (each chunk of an array) is a bash script whose ``#PBS`` lines, also given
    on qsub's command line, ask for its name, CPUs, memory, walltime, array range and
    dependencies (see :mod:`reflow_executor_pbs.script`).  Canonical submit-option keys
    are renamed to their native names
    (:meth:`~reflow.executors.Executor.normalize_options`):

    - ``partition`` -> ``queue`` (``-q``)
    - ``queue`` -> ``queue`` (``-q``)
    - ``account`` -> ``account`` (``-A``)

    PBS has queues rather than partitions; the account string is passed with ``-A``.
    ``project`` (``-P``), ``mail_user`` (``-M``), ``mail_type`` (``-m``) and
    ``priority`` (``-p``) have their own flags; ``select_extra`` (PBS Pro) and
    ``nodes_extra`` (Torque) extend the CPU request (``ngpus=1``); any other key is a
    ``-l`` resource (``place="scatter"``).

    Parameters
    ----------
    state_dir : str or os.PathLike or None
        Where the maps of arrays and the records of submitted jobs are kept (see
        :class:`~reflow.executors.batch.BatchExecutor`).
    flavor : str or Flavor or None
        ``"pbspro"`` (PBS Pro, OpenPBS) or ``"torque"``; ``None``: ``REFLOW_PBS_FLAVOR``,
        else read once from ``qstat --version``.
    pbs_bin : str or None
        Directory of qsub/qstat/qdel; ``None``: ``REFLOW_PBS_BIN``, else ``PATH``.
    max_array_size : int
        The server's ``max_array_size`` (PBS Pro's default 10000): larger arrays are
        split into chunks.
    command_timeout, retries, backoff
        Timeout, retries and first backoff of every PBS command.
    """

    name: ClassVar[str] = "pbs"
    _KEY_ALIASES: ClassVar[dict[str, str]] = {
        "partition": "queue",
        "queue": "queue",
        "account": "account",
    }
    known_options: ClassVar[frozenset[str] | None] = script.KNOWN_OPTIONS
    array_index_base: ClassVar[int] = 1
    task_id_variable: ClassVar[str] = "PBS_ARRAY_INDEX"
    dependency_key: ClassVar[str] = "depend"  # qsub -W depend=afterany:1:2
    qsub = SchedulerCommand(env.REFLOW_QSUB)
    state_map: ClassVar[dict[str, JobState]] = STATE_MAP
    transient_phrases: ClassVar[tuple[str, ...]] = _TRANSIENT
    submit_program: ClassVar[str | None] = "qsub"
    safe_to_resubmit: ClassVar[tuple[str, ...]] = _SAFE_TO_RESUBMIT
    bin_keyword: ClassVar[str] = "pbs_bin"

    def __init__(
        self,
        state_dir: str | os.PathLike[str] | None = None,
        *,
        flavor: str | Flavor | None = None,
        pbs_bin: str | None = None,
        max_array_size: int = DEFAULT_MAX_ARRAY_SIZE,
        **options: Unpack[BatchOptions],
    ) -> None:
        if int(max_array_size) < 1:
            raise BatchExecutorError(
                f"max_array_size={max_array_size} is below 1; give the server's "
                "max_array_size (PBS Pro's default is 10000)."
            )
        super().__init__(
            state_dir,
            bin_dir=pbs_bin,
            max_array_size=max_array_size,
            **options,
        )
        if flavor is None and os.environ.get(FLAVOR_ENV):
            flavor = parse_flavor(os.environ[FLAVOR_ENV], FLAVOR_ENV)
        self.configured_flavor = None if flavor is None else parse_flavor(flavor)
        self.records = JobRecords(self.state_dir / "jobs")
        self._probed: tuple[Flavor, str] | bool | None = False  # False: not asked yet
        self._wrappers = False  # Slurm's Torque wrappers: qstat takes no -t
        self._token = _DRY_TOKEN
        self._qsub_ids: dict[str, str] = {}  # reflow id -> qsub's, until recorded

    def recorded_options(self) -> dict[str, Any]:
        """The base's options plus ``flavor`` (as configured: :meth:`flavor` may probe)."""
        flavor = None if self.configured_flavor is None else self.configured_flavor.value
        return {**super().recorded_options(), "flavor": flavor}

    # -- the flavour ------------------------------------------------------------------

    def probe(self) -> tuple[Flavor, str] | None:
        """The flavour and version ``qstat --version`` reports (asked once), or ``None``."""
        if self._probed is False:
            argv = [self.command("qstat"), "--version"]
            try:
                result = run_command(argv, timeout=self.command_timeout, retries=0)
                stdout, stderr = result.stdout, result.stderr
            except SchedulerCommandError as exc:
                stdout, stderr = exc.stdout or "", exc.stderr or ""
            except ReflowError as exc:
                stdout, stderr = "", str(exc)
            found = detect_flavor(stdout, stderr)
            self._wrappers = found is None and "unknown option" in stderr.lower()
            if found is not None:
                logger.info("qstat --version: %s %s.", found[0], found[1])
            self._probed = found
        return None if self._probed is True else self._probed

    @property
    def flavor(self) -> Flavor:
        """PBS Pro or Torque: as configured, else as ``qstat --version`` says."""
        if self.configured_flavor is not None:
            return self.configured_flavor
        found = self.probe()
        if found is None:
            raise BatchExecutorError(
                "Cannot tell whether this is PBS Pro / OpenPBS or Torque: qstat --version "
                f"({self.command('qstat')}) named neither (Slurm's Torque wrappers reject the "
                f"option). Set {FLAVOR_ENV}=pbspro or torque, or pass flavor= to PBSExecutor."
            )
        return found[0]

    def _check_throttle(self, job: JobSpec, chunk: ArrayChunk | None) -> None:
        if chunk is None or chunk.parallelism is None or self.flavor is not Flavor.PBSPRO:
            return
        found = self.probe()
        version = None if found is None else _version(found[1])
        if version is None:
            return
        major, minor = version
        too_old = (major, minor) < (22, 5) if major < 100 else major < 2022
        if too_old:
            version_text = found[1] if found else "?"
            raise BatchExecutorError(
                f"Cannot submit pbs array job {job.name!r} with array_parallelism="
                f"{chunk.parallelism}: the '%N' limit of qsub -J needs OpenPBS 22.05 or "
                f"later (PBS Professional 2022.1), and this server runs {version_text}. "
                "Drop array_parallelism or upgrade PBS."
            )

    # -- what the template asks for ---------------------------------------------------

    def max_array_index(self) -> int | None:
        """``1 + max_array_size - 1``: the highest subjob index of one chunk."""
        size = self.settings.max_array_size or DEFAULT_MAX_ARRAY_SIZE  # always given here
        return self.array_index_base + size - 1

    def native_element_id(self, job_id: str, task: int) -> str:
        """PBS's name of a subjob: ``12[3].srv`` for the array ``12.srv`` (``12[].srv``)."""
        if "[]" in job_id:
            return job_id.replace("[]", f"[{task}]", 1)
        number, dot, rest = job_id.partition(".")
        return f"{number}[{task}]{dot}{rest}"

    def scheduler_id(self, ident: str) -> str:
        """The id qsub printed for a reflow id: ``12[].srv`` for the array ``12.srv``."""
        record = self.records.load(ident)
        return ident if record is None else record.scheduler_id

    def dependencies(self, job: JobSpec, chunk: ArrayChunk | None) -> tuple[list[str], list[str]]:
        """The base's native dependency ids, arrays as qsub printed them (``12[].srv``)."""
        after_any, after_ok = super().dependencies(job, chunk)
        return (
            [self.scheduler_id(i) for i in after_any],
            [self.scheduler_id(i) for i in after_ok],
        )

    def _prefix(self, job: JobSpec, chunk: ArrayChunk | None) -> str:
        name = self._script_name(job, chunk, self._token).removesuffix(".sh")
        return str(self.scripts_dir(job) / name)

    def _options(self, job: JobSpec, chunk: ArrayChunk | None) -> list[list[str]]:
        if job.after_corr:
            raise BatchExecutorError(
                f"Cannot submit pbs job {job.name!r} with after_corr: PBS has no "
                "element-wise array dependency. Use after_ok on the whole array."
            )
        after_any, after_ok = self.dependencies(job, chunk)
        options = self.normalize_options(job.resources.options)
        return script.qsub_options(
            job, chunk, self.flavor, after_any, after_ok, options, self._prefix(job, chunk)
        )

    def render_script(self, job: JobSpec, chunk: ArrayChunk | None) -> str:
        """``#!/bin/bash``, the ``#PBS`` lines, then :func:`~reflow_executor_pbs.script.body`."""
        self._check_throttle(job, chunk)
        lines = ["#!/bin/bash", *script.directive_lines(self._options(job, chunk))]
        return (
            "\n".join(lines)
            + "\n"
            + script.body(job, chunk, self.flavor, self._prefix(job, chunk))
        )

    def submit_argv(self, script_path: Path, job: JobSpec, chunk: ArrayChunk | None) -> list[str]:
        """``qsub OPTIONS SCRIPT``: the script's own options again, which the wrappers need."""
        flags = [part for pair in self._options(job, chunk) for part in pair if part]
        return [self.command("qsub"), *flags, str(script_path)]

    def parse_job_id(self, stdout: str) -> str:
        """The id qsub prints (``123.server``; the wrappers' ``123``); an array's without ``[]``.

        qsub prints ``124[].server`` for an array; reflow names it ``124.server``, as its
        element ids ``124.server[i]`` need (:attr:`JobRecord.qsub_id` keeps the original).
        """
        lines = [line.strip() for line in stdout.splitlines() if line.strip()]
        if not lines:
            raise ValueError("qsub printed nothing")
        native = lines[-1].replace("[]", "", 1)
        self._qsub_ids[native] = lines[-1]
        return native

    def query_argv(self, job_ids: Sequence[str]) -> list[list[str]]:
        """``qstat -f -F json -x -t IDS`` (PBS Pro) or ``qstat -f -t IDS`` (Torque)."""
        qstat = self.command("qstat")
        ids = [self.scheduler_id(i) for i in job_ids]
        if self.flavor is Flavor.PBSPRO:
            return [[qstat, "-f", "-F", "json", "-x", "-t", *ids]]
        self.probe()
        return [[qstat, "-f", *([] if self._wrappers else ["-t"]), *ids]]

    def parse_states(self, outputs: Sequence[str], job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """qstat's statuses, refined by each job's markers where qstat has no exit status."""
        text = outputs[0] if outputs else ""
        parsed = parse_pbspro_json(text) if self.flavor is Flavor.PBSPRO else parse_torque(text)
        found = dict(parsed)
        for native in job_ids:
            record = self.records.load(native)
            if record is None:
                continue
            listed = parsed.get(record.scheduler_id)
            if record.tasks is None:
                found[native] = refine(record, None, listed)
                continue
            if listed is not None:
                found[native] = listed
            for task in record.tasks:
                element = self.native_element_id(native, task)
                if record.array:
                    own = parsed.get(self.native_element_id(record.scheduler_id, task))
                    found[element] = refine(record, task, own, listed)
                else:
                    found[element] = refine(record, task, listed)
        return found

    def cancel_argv(self, job_ids: Sequence[str]) -> list[str]:
        """``qdel ID...`` (jobs, whole arrays ``12[].srv`` and subjobs ``12[3].srv``)."""
        return [self.command("qdel"), *(self.scheduler_id(i) for i in job_ids)]

    def ignorable_failure(self, error: SchedulerCommandError) -> bool:
        """qstat/qdel complaining only about ids the server forgot or that have ended.

        The Torque wrappers say nothing at all then (exit status 153 or 1).
        """
        program = Path(error.argv[0]).name if error.argv else ""
        if program not in ("qstat", "qdel"):
            return False
        lines = [line.lower() for line in (error.stderr or "").splitlines() if line.strip()]
        if not lines:
            return error.returncode in (1, 153)
        return all(any(phrase in line for phrase in _FORGOTTEN) for line in lines)

    def _record_of(self, native: str) -> tuple[JobRecord, int | None] | None:
        """The record of a job, chunk or subjob id (``12[3].srv``, the wrappers' ``7[3]``)."""
        record = self.records.load(native)
        if record is not None:
            return record, None
        match = _SUBJOB.match(native)
        if match is None:
            return None
        task = int(match["task"])
        for chunk_id in (f"{match['job']}[]{match['rest']}", f"{match['job']}{match['rest']}"):
            record = self.records.load(chunk_id)
            if record is not None:
                return record, task
        return None

    def _cancel_native(self, natives: list[str]) -> None:
        """``qdel``, after leaving a ``.cancelled`` marker for each job reflow submitted.

        The marker makes a deleted job CANCELLED, whatever exit status its killed
        script left (the Torque wrappers and a PBS Pro server without job history
        report none of their own).
        """
        for native in natives:
            found = self._record_of(native)
            if found is None:
                continue
            record, task = found
            try:
                record.marker(task, "cancelled").touch()
            except OSError as exc:
                logger.debug("Cannot mark pbs job %s as cancelled: %s", native, exc)
        super()._cancel_native(natives)

    # -- submission -------------------------------------------------------------------

    def _submit_one(self, job: JobSpec, chunk: ArrayChunk | None, token: str) -> str:
        """Submit one job or chunk and record where its markers and output go."""
        self._token = token
        try:
            native = super()._submit_one(job, chunk, token)
            array = script.is_array(self.flavor, chunk)
            record = JobRecord(
                native,
                self._prefix(job, chunk),
                self.flavor,
                None if chunk is None else tuple(chunk.tasks),
                array,
                self._qsub_ids.pop(native, native),
            )
        finally:
            self._token = _DRY_TOKEN
        try:
            self.records.save(record)
        except OSError as exc:
            self._withdraw(job, [native])
            raise BatchExecutorError(
                f"Cannot record pbs job {job.name!r} ({native}) in {self.records.directory}: "
                f"{exc}. It was deleted again; make state_dir writable and submit again."
            ) from exc
        return native

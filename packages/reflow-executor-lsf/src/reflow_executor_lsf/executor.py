"""The IBM Spectrum LSF executor: ``bsub < job.sh``, ``bjobs -json`` queries, ``bkill``."""

from __future__ import annotations

import logging
import os
import re
import subprocess
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
    SchedulerCommand,
    SchedulerCommandError,
    env,
)
from reflow_executor_lsf import script
from reflow_executor_lsf.config import (
    DEFAULT_MAX_ARRAY_SIZE,
    memory_in_unit,
    normalize_unit,
    site_unit,
)
from reflow_executor_lsf.states import (
    BJOBS_FIELDS,
    DELIMITER,
    STATE_MAP,
    parse_bjobs_delimited,
    parse_bjobs_json,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11

__all__ = ["LSFExecutor"]

logger = logging.getLogger(__name__)

_SUBMITTED = re.compile(r"Job <(?P<id>\d+)> is submitted")
"""bsub's answer: ``Job <1234> is submitted to queue <normal>.`` (or ``to default queue``)."""

_TRANSIENT = (
    "lsf is down",
    "batch system daemon not responding",
    "lsf daemon (lim) not responding",
    "lim is down",
    "communication time out",
    "mbatchd is down",
    "lsf is processing your request",
    "cannot contact lsf",
    "failed in receiving",
)
"""LSF's words for errors that pass on their own, besides reflow's general ones."""

_NOT_SUBMITTED = (
    "lsf is down",
    "lim is down",
    "cannot contact lsf",
    "connection refused",
    "mbatchd is down",
)
"""bsub errors after which mbatchd has certainly not accepted the job: safe to submit again."""

_FORGOTTEN = (
    "is not found",
    "no matching job found",
    "job has already finished",
    "no unfinished job found",
)
"""bjobs' and bkill's complaints about ids LSF has forgotten or that already ended."""


class LSFExecutor(BatchExecutor):
    """Runs reflow jobs on IBM Spectrum LSF through ``bsub``, ``bkill`` and ``bjobs``.

    Selected with the executor name ``lsf`` (``REFLOW_EXECUTOR=lsf``).

    Each job (each chunk of an array) is a script with ``#BSUB`` lines for its
    name, slots, memory, run limit, logs, array range and dependencies, then
    its submit options (see :mod:`reflow_executor_lsf.script`), fed to
    ``bsub`` on its standard input.  Canonical submit-option keys are renamed
    to their native names (:meth:`~reflow.executors.Executor.normalize_options`):

    - ``partition`` -> ``queue`` (``-q``)
    - ``queue`` -> ``queue`` (``-q``)
    - ``account`` -> ``project`` (``-P``)

    LSF has queues rather than partitions, and charges jobs to a *project*
    (``-P``).  Other keys are native bsub options (see
    :data:`reflow_executor_lsf.script.OPTION_FLAGS`).

    Parameters
    ----------
    state_dir : str or os.PathLike or None
        Where the maps of submitted arrays are kept (see
        :class:`~reflow.executors.batch.BatchExecutor`).
    lsf_bin : str or None
        Directory of the LSF commands; ``None``: ``REFLOW_LSF_BIN``, else ``PATH``.
    mem_unit : str or None
        The site's ``LSF_UNIT_FOR_LIMITS`` (``KB``, ``MB``, ``GB`` ...), the unit
        of ``-M`` and ``rusage[mem=]``; ``None``: read from
        ``$LSF_ENVDIR/lsf.conf`` when the first job is submitted (``KB``, LSF's
        default, if it is not set there).
    max_array_size : int
        The site's ``MAX_JOB_ARRAY_SIZE``, the highest array index bsub
        accepts; larger arrays are split (default 1000, LSF's default).
    json_output : bool
        Query with ``bjobs -json`` (LSF 10.1 Fix Pack 4 and later); ``False``:
        ``-noheader -delimiter '|'`` for older versions.  A bjobs that refuses
        ``-json`` ("illegal option") makes the executor switch by itself.
    command_timeout, retries, backoff
        Timeout, retries and first backoff of every LSF command.
    """

    name: ClassVar[str] = "lsf"
    _KEY_ALIASES: ClassVar[dict[str, str]] = {
        "partition": "queue",
        "queue": "queue",
        "account": "project",
    }
    known_options: ClassVar[frozenset[str] | None] = script.KNOWN_OPTIONS
    array_index_base: ClassVar[int] = 1
    task_id_variable: ClassVar[str] = "LSB_JOBINDEX"
    dependency_key: ClassVar[str] = "w"  # bsub -w 'ended(1) && ended(2)'
    bsub = SchedulerCommand(env.REFLOW_BSUB)
    state_map: ClassVar[dict[str, JobState]] = STATE_MAP
    transient_phrases: ClassVar[tuple[str, ...]] = _TRANSIENT
    submit_program: ClassVar[str | None] = "bsub"
    safe_to_resubmit: ClassVar[tuple[str, ...]] = _NOT_SUBMITTED
    script_on_stdin: ClassVar[bool] = True
    bin_keyword: ClassVar[str] = "lsf_bin"
    recorded_attributes: ClassVar[tuple[str, ...]] = ("mem_unit", "json_output")
    chunk_ids_name_array: ClassVar[bool] = True

    def __init__(
        self,
        state_dir: str | os.PathLike[str] | None = None,
        *,
        lsf_bin: str | None = None,
        mem_unit: str | None = None,
        max_array_size: int = DEFAULT_MAX_ARRAY_SIZE,
        json_output: bool = True,
        **options: Unpack[BatchOptions],
    ) -> None:
        if int(max_array_size) < 1:
            raise BatchExecutorError(
                f"max_array_size={max_array_size} is not a valid MAX_JOB_ARRAY_SIZE; give the "
                "site's value from lsb.params (1000 unless set)."
            )
        super().__init__(
            state_dir,
            bin_dir=lsf_bin,
            max_array_size=max_array_size,
            **options,
        )
        self.mem_unit = None if mem_unit is None else normalize_unit(mem_unit)
        self.json_output = bool(json_output)

    def dependency_value(self, job_ids: list[str]) -> str:
        """``ended(1) && ended(2)``: LSF's wait for jobs that ended, however they ended."""
        return script.dependency_expression(job_ids, [])

    def dependency_ids(self, value: Any) -> list[str]:
        """The ids in an ``ended(ID) && ...`` expression."""
        ids = re.findall(r"ended\(([^)]+)\)", str(value))
        if not ids:
            return super().dependency_ids(value)  # refuses it, naming the option
        return ids

    def unit(self) -> str:
        """The memory unit of ``-M`` and ``rusage[mem=]``: ``mem_unit``, else lsf.conf's."""
        if self.mem_unit is None:
            self.mem_unit = site_unit()
            logger.debug("LSF memory unit: %s (LSF_UNIT_FOR_LIMITS).", self.mem_unit)
        return self.mem_unit

    # -- what the template asks for -------------------------------------------------

    def max_array_index(self) -> int | None:
        """``MAX_JOB_ARRAY_SIZE``: LSF refuses an array index above it."""
        return self.settings.max_array_size

    def _memory(self, job: JobSpec) -> int:
        try:
            return memory_in_unit(job.resources.mem, self.unit())
        except ValueError as exc:
            raise BatchExecutorError(
                f"Cannot submit lsf job {job.name!r}: {exc}; set the task's mem= to a size "
                "such as '4G'."
            ) from exc

    def render_script(self, job: JobSpec, chunk: ArrayChunk | None) -> str:
        """``#!/bin/sh``, the ``#BSUB`` lines, then :func:`~reflow_executor_lsf.script.body`."""
        after_any, after_ok = self.dependencies(job, chunk)
        options = self.normalize_options(job.resources.options)
        lines = [
            "#!/bin/sh",
            *script.directives(job, chunk, after_any, after_ok, options, self._memory(job)),
            "",
        ]
        return "\n".join(lines) + "\n" + script.body(job, chunk)

    def describe_submission(self, job: JobSpec) -> str:
        """As the base class, with the script bsub reads on its standard input named."""
        lines = super().describe_submission(job).split("\n")
        submission = 0
        for number, line in enumerate(lines):
            if line == f"$ {self.command('bsub')}":
                suffix = "" if job.array is None else f".{submission}"
                name = self._script_name(job, None, "<random>" + suffix)
                lines[number] = f"{line} < {self.scripts_dir(job) / name}"
                submission += 1
        return "\n".join(lines)

    def submit_argv(self, script_path: Path, job: JobSpec, chunk: ArrayChunk | None) -> list[str]:
        """``bsub``, reading the script (``script_path``) on its standard input."""
        return [self.command("bsub")]

    def parse_job_id(self, stdout: str) -> str:
        """The id in ``Job <1234> is submitted to queue <normal>.``"""
        match = _SUBMITTED.search(stdout)
        if match is None:
            raise ValueError("bsub did not say 'Job <ID> is submitted'")
        return match["id"]

    def query_argv(self, job_ids: Sequence[str]) -> list[list[str]]:
        """``bjobs -a -o "jobid jobindex stat exit_code exit_reason" -json IDS``."""
        if self.json_output:
            return [[self.command("bjobs"), "-a", "-o", BJOBS_FIELDS, "-json", *job_ids]]
        fields = f"{BJOBS_FIELDS} delimiter='{DELIMITER}'"
        return [[self.command("bjobs"), "-a", "-noheader", "-o", fields, *job_ids]]

    def parse_states(self, outputs: Sequence[str], job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """Statuses by job id and element id (``12[3]``) from bjobs' output."""
        found: dict[str, JobStatus] = {}
        for text in outputs:
            try:
                found.update(
                    parse_bjobs_json(text) if self.json_output else parse_bjobs_delimited(text)
                )
            except ValueError as exc:
                raise BatchExecutorError(
                    f"Cannot read the output of bjobs ({exc}). If this LSF is older than "
                    "10.1 Fix Pack 4 (no bjobs -json), pass json_output=False to LSFExecutor."
                ) from exc
        return found

    def query(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """As the base class; an LSF whose bjobs has no ``-json`` is asked again without it.

        From then on this executor queries with ``-noheader -delimiter``.
        """
        try:
            return super().query(job_ids)
        except SchedulerCommandError as exc:
            said = f"{exc.stderr}\n{exc.stdout}".lower()
            if not (self.json_output and "json" in said and "illegal option" in said):
                raise
            logger.warning(
                "This bjobs has no -json (LSF before 10.1 Fix Pack 4); querying with "
                "-noheader -delimiter instead. Pass json_output=False to LSFExecutor to "
                "skip the first try."
            )
            self.json_output = False
            return super().query(job_ids)

    def cancel_argv(self, job_ids: Sequence[str]) -> list[str]:
        """``bkill ID "ID[i]" ...`` (jobs, whole arrays and elements)."""
        return [self.command("bkill"), *job_ids]

    def ignorable_failure(self, error: SchedulerCommandError) -> bool:
        """bjobs/bkill complaining only about ids LSF forgot or jobs that already ended."""
        program = Path(error.argv[0]).name if error.argv else ""
        if program not in ("bjobs", "bkill"):
            return False
        text = f"{error.stderr or ''}\n{'' if program == 'bjobs' else error.stdout or ''}"
        complaints = [line.lower() for line in text.splitlines() if line.strip()]
        complaints = [line for line in complaints if "is being terminated" not in line]
        return all(any(phrase in line for phrase in _FORGOTTEN) for line in complaints)

    def submitted_anyway(self, result: subprocess.CompletedProcess[str]) -> bool:
        """bsub printed ``Job <ID> is submitted``: it went through, never submit twice."""
        return _SUBMITTED.search(result.stdout or "") is not None

    def precheck(self, job: JobSpec) -> None:
        """Render the directives and memory, refusing bad options before any file is written."""
        options = self.normalize_options(job.resources.options)
        script.directives(job, None, (), (), options, self._memory(job))

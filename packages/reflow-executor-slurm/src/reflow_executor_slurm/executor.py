"""The Slurm executor: ``sbatch`` scripts, ``squeue`` + ``sacct`` queries, ``scancel``."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from reflow.executors import (
    ArrayChunk,
    BatchExecutor,
    BatchOptions,
    JobSpec,
    JobState,
    JobStatus,
    ReflowError,
    SchedulerCommand,
    SchedulerCommandError,
    env,
    looks_transient,
    run_command,
)
from reflow_executor_slurm import script
from reflow_executor_slurm.config import SiteConfig
from reflow_executor_slurm.limits import partition_limits
from reflow_executor_slurm.states import (
    SACCT_FIELDS,
    SQUEUE_FIELDS,
    STATE_MAP,
    parse_sacct,
    parse_squeue,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11

__all__ = ["SlurmExecutor"]

logger = logging.getLogger(__name__)

_TRANSIENT = (
    "zero bytes were transmitted or received",
    "communication connection failure",
    "controller is in standby mode",
    "not responding",
    "temporarily unable to accept job",
    "unable to create job record, try again",
    "failed to open persistent connection",
)
"""Slurm's words for errors that pass on their own, besides reflow's general ones."""

_SAFE_TO_RESUBMIT = (
    "connect failure",
    "connection refused",
    "controller is in standby mode",
    "temporarily unable to accept job",
    "unable to create job record, try again",
    "try again later",
)
"""sbatch errors after which the controller has certainly not accepted the job."""

_FORGOTTEN = (
    "invalid job id specified",
    "already completing or completed",
    "job has already finished",
)
"""Complaints of squeue and scancel about ids the controller no longer knows."""

_NO_ACCOUNTING = "accounting storage is disabled"


class SlurmExecutor(BatchExecutor):
    """Runs reflow jobs on Slurm through ``sbatch``, ``scancel`` and ``squeue``/``sacct``.

    Selected with the executor name ``slurm`` (``REFLOW_EXECUTOR=slurm``).

    Each job (each chunk of an array) is a batch script with ``#SBATCH``
    lines for its name, CPUs, walltime, memory, logs, array range and
    dependencies, then its submit options (see :mod:`reflow_executor_slurm.script`).
    Canonical submit-option keys are renamed to their native names
    (:meth:`~reflow.executors.Executor.normalize_options`):

    - ``partition`` -> ``partition`` (``--partition``)
    - ``queue`` -> ``partition`` (``--partition``)
    - ``account`` -> ``account`` (``--account``)
    - ``qos`` -> ``qos`` (``--qos``)
    - ``reservation``, ``constraint``, ``gres``, ``exclusive``,
      ``mail_user``, ``mail_type`` keep their names (``--mail-user`` ...)

    Slurm calls a queue a *partition*, so ``queue`` is accepted as a synonym
    of ``partition``.  Other keys are native sbatch options: ``key=value``
    becomes ``--key=value`` (``_`` written as ``-``).

    Parameters
    ----------
    state_dir : str or os.PathLike or None
        Where the maps of submitted arrays are kept (see
        :class:`~reflow.executors.batch.BatchExecutor`).
    slurm_bin : str or None
        Directory of the Slurm commands; ``None``: ``REFLOW_SLURM_BIN``, else ``PATH``.
    max_array_size : int or None
        The site's ``MaxArraySize``; ``None``: read from ``scontrol show
        config`` when an array is first submitted.
    command_timeout, retries, backoff
        Timeout, retries and first backoff of every Slurm command.
    """

    name: ClassVar[str] = "slurm"
    supports_after_corr: ClassVar[bool] = True
    _KEY_ALIASES: ClassVar[dict[str, str]] = {
        "partition": "partition",
        "queue": "partition",
        "account": "account",
        "qos": "qos",
        "reservation": "reservation",
        "constraint": "constraint",
        "gres": "gres",
        "exclusive": "exclusive",
        "mail_user": "mail_user",
        "mail_type": "mail_type",
    }
    known_options: ClassVar[frozenset[str] | None] = script.KNOWN_OPTIONS
    array_index_base: ClassVar[int] = 0
    task_id_variable: ClassVar[str] = "SLURM_ARRAY_TASK_ID"
    sbatch = SchedulerCommand(env.REFLOW_SBATCH)
    scancel = SchedulerCommand(env.REFLOW_SCANCEL)
    sacct = SchedulerCommand(env.REFLOW_SACCT)
    state_map: ClassVar[dict[str, JobState]] = STATE_MAP
    bin_keyword: ClassVar[str] = "slurm_bin"
    chunk_ids_name_array: ClassVar[bool] = True

    def __init__(
        self,
        state_dir: str | os.PathLike[str] | None = None,
        *,
        slurm_bin: str | None = None,
        max_array_size: int | None = None,
        **options: Unpack[BatchOptions],
    ) -> None:
        super().__init__(
            state_dir,
            bin_dir=slurm_bin,
            max_array_size=max_array_size,
            **options,
        )
        self.site = SiteConfig(self._show_config, max_array_size)
        self._accounting = True  # until sacct says accounting storage is disabled
        self._limits: dict[str, dict[str, int | None]] = {}

    def _show_config(self) -> str:
        return self.run([self.command("scontrol"), "show", "config"]).stdout

    def resource_limits(self, options: Mapping[str, Any]) -> dict[str, int | None]:
        """The partition's ``MaxMemPerNode`` (bytes) and ``MaxTime`` (seconds); ``None``: none.

        Read once per partition (``scontrol show partition -o``); the dispatcher's
        retries never ask for more (:mod:`reflow_executor_slurm.limits`).  A site
        where ``scontrol`` fails gives no limits.
        """
        partition = self.normalize_options(options).get("partition")
        key = str(partition or "")
        if key not in self._limits:
            try:
                out = self.run([self.command("scontrol"), "show", "partition", "-o"]).stdout
            except ReflowError:
                out = ""
            self._limits[key] = partition_limits(out, str(partition) if partition else None)
        return dict(self._limits[key])

    # -- what the template asks for -------------------------------------------------

    def max_array_index(self) -> int | None:
        """``MaxArraySize - 1``, or ``max_array_tasks - 1`` if the site sets a lower one."""
        return self.site.max_array_index()

    def native_element_id(self, job_id: str, task: int) -> str:
        """Slurm's name of an array task: ``123_4``."""
        return f"{job_id}_{task}"

    def render_script(self, job: JobSpec, chunk: ArrayChunk | None) -> str:
        """``#!/bin/bash``, the ``#SBATCH`` lines, ``REFLOW_JOB_ID``, then the common body."""
        after_any, after_ok = self.dependencies(job, chunk)
        after_corr = self.paired_arrays(job, chunk, "aftercorr")
        options = self.normalize_options(job.resources.options)
        lines = [
            "#!/bin/bash",
            *script.directives(job, chunk, after_any, after_ok, options, after_corr),
        ]
        variable = "SLURM_JOB_ID" if chunk is None else "SLURM_ARRAY_JOB_ID"
        lines += ["", f'export REFLOW_JOB_ID="${{{variable}:-}}"']
        return "\n".join(lines) + "\n" + self.script_body(job, chunk)

    def submit_argv(self, script_path: Path, job: JobSpec, chunk: ArrayChunk | None) -> list[str]:
        """``sbatch --parsable SCRIPT``."""
        return [self.command("sbatch"), "--parsable", str(script_path)]

    def parse_job_id(self, stdout: str) -> str:
        """The id in ``--parsable`` output: ``123``, or ``123`` of ``123;cluster``."""
        lines = [line.strip() for line in stdout.splitlines() if line.strip()]
        if not lines:
            raise ValueError("sbatch printed nothing")
        job_id = lines[-1].split(";", 1)[0].strip()
        if not job_id.isdigit():
            raise ValueError(f"{job_id!r} is not a Slurm job id")
        return job_id

    def query_argv(self, job_ids: Sequence[str]) -> list[list[str]]:
        """``squeue -h -t all -j IDS -O ...`` and, unless accounting is off, ``sacct -n -P -X``."""
        ids = ",".join(job_ids)
        commands = [
            [self.command("squeue"), "-h", "-t", "all", "-j", ids, "-O", SQUEUE_FIELDS],
        ]
        if self._accounting:
            commands.append(
                [self.command("sacct"), "-n", "-P", "-X", "-j", ids, f"--format={SACCT_FIELDS}"]
            )
        return commands

    def parse_states(self, outputs: Sequence[str], job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """squeue's statuses, with sacct's for the jobs the controller no longer lists."""
        found = parse_sacct(outputs[1]) if len(outputs) > 1 else {}
        found.update(parse_squeue(outputs[0]) if outputs else {})
        return found

    def cancel_argv(self, job_ids: Sequence[str]) -> list[str]:
        """``scancel ID...`` (jobs, arrays and tasks ``123_4``)."""
        return [self.command("scancel"), *job_ids]

    def ignorable_failure(self, error: SchedulerCommandError) -> bool:
        """squeue/scancel complaining only about forgotten ids; sacct without accounting."""
        program = Path(error.argv[0]).name if error.argv else ""
        text = (error.stderr or "").lower()
        if program == "sacct" and _NO_ACCOUNTING in text:
            if self._accounting:
                logger.info(
                    "Slurm accounting storage is disabled: reflow asks only squeue, which "
                    "forgets jobs MinJobAge seconds after they end."
                )
            self._accounting = False
            return True
        if program not in ("squeue", "scancel"):
            return False
        complaints = [line for line in text.splitlines() if line.strip()]
        return bool(complaints) and all(
            any(phrase in line for phrase in _FORGOTTEN) for line in complaints
        )

    def transient(self, result: subprocess.CompletedProcess[str]) -> bool:
        """Slurm's passing errors; sbatch only when its job cannot have been accepted.

        After an ambiguous sbatch error (``Socket timed out``: the controller
        may have taken the job and lost the answer), the queue is searched
        for the script: if a job runs it, the submission is not repeated.
        """
        text = f"{result.stderr or ''}\n{result.stdout or ''}".lower()
        if not (looks_transient(result) or any(phrase in text for phrase in _TRANSIENT)):
            return False
        argv = [str(arg) for arg in result.args] if isinstance(result.args, list) else []
        if not argv or Path(argv[0]).name != "sbatch":
            return True
        if any(phrase in text for phrase in _SAFE_TO_RESUBMIT):
            return True
        return not self._queued(argv[-1])

    def _queued(self, script_path: str) -> bool:
        """Whether one of this user's jobs runs ``script_path`` (``True`` if unsure)."""
        argv = [self.command("squeue"), "--me", "-h", "-t", "all", "-O", "JobID:|,Command:|"]
        try:
            result = run_command(argv, timeout=self.command_timeout, retries=0)
        except SchedulerCommandError as exc:
            logger.warning(
                "Cannot tell whether sbatch %s went through (%s); not submitting it again.",
                script_path,
                exc,
            )
            return True
        path = Path(script_path)
        targets = {str(path.absolute()), str(path.resolve())}
        for line in result.stdout.splitlines():
            job_id, _, rest = line.partition("|")
            if rest.rstrip("|").strip() in targets:
                logger.warning(
                    "sbatch %s failed, but job %s runs it: not submitting it again.",
                    script_path,
                    job_id,
                )
                return True
        return False

    def command_env(self, argv: Sequence[str]) -> dict[str, str] | None:
        """Slurm commands' environment.

        ``SLURM_BITSTR_LEN=0`` makes squeue and sacct list every waiting
        array task; for sbatch, the ``SBATCH_*`` variables that would override
        the script's own ``#SBATCH`` lines are left out.
        """
        env = dict(os.environ, SLURM_BITSTR_LEN="0")
        if argv and Path(str(argv[0])).name == "sbatch":
            for variable in script.overriding_variables(Path(str(argv[-1]))):
                if env.pop(variable, None) is not None:
                    logger.debug("Not passing %s to sbatch: the job script sets it.", variable)
        return env

    def precheck(self, job: JobSpec) -> None:
        """Render the option directives, refusing bad options before any file is written."""
        script.directives(job, None, (), (), self.normalize_options(job.resources.options))

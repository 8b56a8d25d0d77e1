"""The Grid Engine executor: ``qsub`` scripts, ``qstat -xml`` + ``qacct`` queries, ``qdel``."""

from __future__ import annotations

import logging
import os
import pwd
import re
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from reflow.executors import (
    ArrayChunk,
    BatchExecutor,
    BatchOptions,
    ConfigError,
    JobSpec,
    JobState,
    JobStatus,
    SchedulerCommand,
    SchedulerCommandError,
    env,
    split_element_id,
)
from reflow_executor_sge import script
from reflow_executor_sge.book import JobBook
from reflow_executor_sge.config import CellConfig
from reflow_executor_sge.states import (
    STATE_MAP,
    accounting_status,
    element,
    parse_qacct,
    parse_qstat_xml,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11

__all__ = ["SGEExecutor"]

logger = logging.getLogger(__name__)

_TRANSIENT = (
    "unable to contact qmaster",
    "unable to send message to qmaster",
    "failed receiving gdi request",
    "commlib error",
    "got select error",
    "can't unpack gdi request",
)
"""Grid Engine's words for a qmaster that is briefly unreachable, besides reflow's general ones."""

_SAFE_TO_RESUBMIT = (
    "unable to contact qmaster",
    "connection refused",
    "got select error",
    "can't find connection",
)
"""qsub errors after which the qmaster has certainly not accepted the job."""

_FORGOTTEN = re.compile(
    r"does not exist|is already in deletion|has registered the job|has deleted job|"
    r"for deletion|not found"
)
"""qdel and qacct lines that only say a job is gone (or going)."""

_NO_ACCOUNTING = re.compile(r"/accounting: no such file or directory")
"""qacct on a cell where no job has ended yet: the accounting file is created at the first."""

_CATCH_UP = 3600.0
"""Seconds before the earliest submission that ``qacct -b`` starts from (clock skew)."""

_UNKNOWN_SPAN = 7 * 86400.0
"""How far back ``qacct`` looks when no queried job's submit time is recorded."""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SGEExecutor(BatchExecutor):
    """Runs reflow jobs on Grid Engine through ``qsub``, ``qdel`` and ``qstat``/``qacct``.

    Selected with the executor name ``sge`` (``REFLOW_EXECUTOR=sge``).  Written
    for Son of Grid Engine 8.1 and the syntax Univa / Altair Grid Engine share
    with it.

    Each job (each chunk of an array) is a bash script with ``#$`` lines for
    its name, shell, working directory, logs, limits (``h_rt``, ``s_rt`` and
    the memory per slot), parallel environment, array range and throttle,
    dependencies, then its submit options (see :mod:`reflow_executor_sge.script`).
    Canonical submit-option keys are renamed to their native names
    (:meth:`~reflow.executors.Executor.normalize_options`):

    - ``partition`` -> ``queue`` (``-q``)
    - ``queue`` -> ``queue`` (``-q``)
    - ``account`` -> ``project`` (``-P``)

    Grid Engine has cluster queues rather than partitions, and accounts jobs to a *project*
    (``-P``); its free-form account string (``-A``) is the native key
    ``account_string``.  Other keys are qsub options without the dash.

    Parameters
    ----------
    state_dir : str or os.PathLike or None
        Where the maps of submitted arrays and the job records are kept (see
        :class:`~reflow.executors.batch.BatchExecutor`).
    sge_bin : str or None
        Directory of the Grid Engine commands; ``None``: ``REFLOW_SGE_BIN``, else ``PATH``.
    parallel_environment : str
        The parallel environment a job of more than one CPU asks for
        (``-pe smp 4``); ask your site which one keeps the slots on one host.
    memory_resource : str or None
        The resource a job's memory is requested as, per slot: ``"h_vmem"``
        (a hard limit on the virtual memory of each process), ``"mem_free"``
        (only where to schedule), a site's own consumable, or ``None`` to
        request no memory.
    max_array_tasks : int or None
        The cell's ``max_aj_tasks`` (0: no limit); ``None``: read from
        ``qconf -sconf`` when an array is first submitted.
    gpu_resource : str or None
        The site's consumable a task's ``gpus=`` is requested as (``"gpu"``
        gives ``-l gpu=N``), per slot; ``None``: GPU requests are refused.
        Also read from ``[executor.sge] gpu_resource`` in the configuration.
    soft_walltime_margin : int or None
        Seconds between the soft limit ``s_rt`` (SIGUSR1) and the walltime
        ``h_rt``; ``None``: a tenth of the walltime, 1 to 60 s.
    dependency_wait : int
        Seconds a job with ``after_ok`` / ``after_corr`` dependencies waits for
        their accounting records before giving up.
    command_timeout, retries, backoff
        Timeout, retries and first backoff of every Grid Engine command.
    """

    name: ClassVar[str] = "sge"
    supports_after_corr: ClassVar[bool] = True
    _KEY_ALIASES: ClassVar[dict[str, str]] = {
        "partition": "queue",
        "queue": "queue",
        "account": "project",
    }
    known_options: ClassVar[frozenset[str] | None] = script.KNOWN_OPTIONS
    array_index_base: ClassVar[int] = 1
    task_id_variable: ClassVar[str] = "SGE_TASK_ID"
    dependency_key: ClassVar[str] = "hold_jid"  # qsub -hold_jid 1,2
    qsub = SchedulerCommand(env.REFLOW_QSUB)
    state_map: ClassVar[dict[str, JobState]] = STATE_MAP
    transient_phrases: ClassVar[tuple[str, ...]] = _TRANSIENT
    submit_program: ClassVar[str | None] = "qsub"
    safe_to_resubmit: ClassVar[tuple[str, ...]] = _SAFE_TO_RESUBMIT
    bin_keyword: ClassVar[str] = "sge_bin"
    max_array_keyword: ClassVar[str | None] = "max_array_tasks"
    recorded_attributes: ClassVar[tuple[str, ...]] = (
        "parallel_environment",
        "memory_resource",
        "gpu_resource",
        "soft_walltime_margin",
        "dependency_wait",
    )
    chunk_ids_name_array: ClassVar[bool] = True

    def __init__(
        self,
        state_dir: str | os.PathLike[str] | None = None,
        *,
        sge_bin: str | None = None,
        parallel_environment: str = "smp",
        memory_resource: str | None = "h_vmem",
        gpu_resource: str | None = None,
        max_array_tasks: int | None = None,
        soft_walltime_margin: int | None = None,
        dependency_wait: int = 120,
        **options: Unpack[BatchOptions],
    ) -> None:
        super().__init__(
            state_dir,
            bin_dir=sge_bin,
            max_array_size=max_array_tasks,
            **options,
        )
        if not _NAME.match(parallel_environment):
            raise ConfigError(
                f"SGEExecutor: parallel_environment={parallel_environment!r} is not a parallel "
                "environment name; 'qconf -spl' lists the cell's (e.g. 'smp')."
            )
        if memory_resource is not None and not _NAME.match(memory_resource):
            raise ConfigError(
                f"SGEExecutor: memory_resource={memory_resource!r} is not a resource name; use "
                "'h_vmem', 'mem_free', a consumable from 'qconf -sc', or None."
            )
        if gpu_resource is not None and not _NAME.match(gpu_resource):
            raise ConfigError(
                f"SGEExecutor: gpu_resource={gpu_resource!r} is not a resource name; use the "
                "GPU consumable 'qconf -sc' lists (e.g. 'gpu'), or None."
            )
        if soft_walltime_margin is not None and soft_walltime_margin < 0:
            raise ConfigError(
                f"SGEExecutor: soft_walltime_margin={soft_walltime_margin} is negative; give "
                "the seconds between s_rt and h_rt, or None for the default."
            )
        self.parallel_environment = parallel_environment
        self.memory_resource = memory_resource
        self.gpu_resource = gpu_resource
        self.soft_walltime_margin = soft_walltime_margin
        self.dependency_wait = int(dependency_wait)
        self.cell = CellConfig(self._show_config, max_array_tasks)
        self.book = JobBook(self.state_dir / "jobs")

    def dependency_value(self, job_ids: list[str]) -> str:
        """``1,2``: Grid Engine holds a job until those have ended."""
        return ",".join(job_ids)

    def dependency_ids(self, value: Any) -> list[str]:
        """The ids of a ``hold_jid`` list, comma-separated text or a list."""
        items = value if isinstance(value, list | tuple) else str(value).split(",")
        return [str(item).strip() for item in items if str(item).strip()]

    def _show_config(self) -> str:
        return self.run([self.command("qconf"), "-sconf"]).stdout

    # -- what the template asks for -------------------------------------------------

    def max_array_index(self) -> int | None:
        """``max_aj_tasks`` (task ids start at 1); ``None`` when the cell sets no limit."""
        return self.cell.max_array_index()

    def native_element_id(self, job_id: str, task: int) -> str:
        """Grid Engine's name of an array task: ``123.4``."""
        return element(job_id, task)

    def _required(self, job: JobSpec, hold_ad: Sequence[str]) -> list[script.Dependency]:
        """What ``after_ok`` and ``after_corr`` require to have succeeded."""
        required: list[script.Dependency] = []
        for ident in job.after_ok:
            base, index = split_element_id(ident)
            array = self.arrays.load(base)
            if array is None:
                required += [script.Dependency(native) for native in self.native_ids(base) or ()]
            elif index is None:
                required += [script.Dependency(n, "", len(c.indices)) for n, c in array.chunks]
            else:
                place = array.locate(index)
                if place is not None:
                    required.append(script.Dependency(place[0], str(place[1])))
        required += [script.Dependency(native, "$SGE_TASK_ID") for native in hold_ad]
        return required

    def render_script(self, job: JobSpec, chunk: ArrayChunk | None) -> str:
        """``#!/bin/bash``, the ``#$`` lines, ``REFLOW_JOB_ID``, the guard, the common body."""
        after_any, after_ok = self.dependencies(job, chunk)
        hold_ad = self.paired_arrays(job, chunk, "-hold_jid_ad")
        # -hold_jid names whole jobs: a dependency on one task waits for its whole array.
        hold = list(dict.fromkeys(n.partition(".")[0] for n in (*after_any, *after_ok)))
        lines = [
            "#!/bin/bash",
            *script.directives(
                job,
                chunk,
                hold=hold,
                hold_ad=hold_ad,
                options=self.normalize_options(job.resources.options),
                parallel_environment=self.parallel_environment,
                memory_resource=self.memory_resource,
                gpu_resource=self.gpu_resource,
                soft_margin=self.soft_walltime_margin,
            ),
            "",
            'export REFLOW_JOB_ID="${JOB_ID:-}"',
        ]
        required = self._required(job, hold_ad)
        lines += script.guard_lines(self._qacct_path(), required, self.dependency_wait)
        return "\n".join(lines) + "\n" + self.script_body(job, chunk)

    def _qacct_path(self) -> str:
        """qacct for the job's guard: absolute, as jobs do not get the submitter's PATH."""
        program = self.command("qacct")
        return shutil.which(program) or program

    def submit_argv(self, script_path: Path, job: JobSpec, chunk: ArrayChunk | None) -> list[str]:
        """``qsub -terse SCRIPT``."""
        return [self.command("qsub"), "-terse", str(script_path)]

    def parse_job_id(self, stdout: str) -> str:
        """The id in ``-terse`` output: ``123``, or ``123`` of an array's ``123.1-20:1``."""
        lines = [line.strip() for line in stdout.splitlines() if line.strip()]
        if not lines:
            raise ValueError("qsub printed nothing")
        job_id = lines[-1].split(".", 1)[0]
        if not job_id.isdigit():
            raise ValueError(f"{lines[-1]!r} is not a Grid Engine job id")
        return job_id

    def _user(self) -> str:
        """The user the jobs run as: this process's (not $USER, which may say otherwise)."""
        try:
            return pwd.getpwuid(os.getuid()).pw_name
        except KeyError:
            return str(os.getuid())

    def query_argv(self, job_ids: Sequence[str]) -> list[list[str]]:
        """``qstat -xml -u USER`` and ``qacct -o USER -b TIME -j '*'``.

        ``TIME`` is an hour before the earliest recorded submission of
        ``job_ids`` (a week back if none is recorded), so qacct prints only
        the user's recent jobs.
        """
        times = [self.book.submit_time(job_id) for job_id in job_ids]
        known = [t for t in times if t is not None]
        if known and len(known) == len(times):
            since = min(known) - _CATCH_UP
        else:
            since = time.time() - _UNKNOWN_SPAN
        begin = time.strftime("%Y%m%d%H%M.%S", time.localtime(since))
        user = self._user()
        return [
            [self.command("qstat"), "-xml", "-u", user],
            [self.command("qacct"), "-o", user, "-b", begin, "-j", "*"],
        ]

    def parse_states(self, outputs: Sequence[str], job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """qstat's statuses, the accounting's for ended jobs, CANCELLED for deleted ones.

        A job or task reflow deleted that neither reports (deleted while it
        waited: the accounting has no record of it) is CANCELLED.
        """
        wanted = set(job_ids)
        live = parse_qstat_xml(outputs[0]) if outputs else {}
        records = parse_qacct(outputs[1]) if len(outputs) > 1 else {}
        found: dict[str, JobStatus] = {}
        for key, record in records.items():
            if record.job_id in wanted:
                cancelled = self.book.was_cancelled(record.job_id, record.task)
                found[key] = accounting_status(record, cancelled)
        found.update({key: s for key, s in live.items() if key.partition(".")[0] in wanted})
        for job_id in wanted:
            tasks = self._tasks_of(job_id)
            keys = [(element(job_id, t), t) for t in tasks] if tasks else [(job_id, None)]
            for key, task in keys:
                if key not in found and self.book.was_cancelled(job_id, task):
                    found[key] = JobStatus(JobState.CANCELLED, None, "deleted with qdel")
        return found

    def _tasks_of(self, job_id: str) -> list[int]:
        """The task ids of chunk ``job_id`` of an array we submitted ([] for a single job)."""
        array = self.arrays.load(job_id)
        if array is None:
            return []
        return [task for _, native, task in array.elements() if native == job_id]

    def cancel_argv(self, job_ids: Sequence[str]) -> list[str]:
        """``qdel ID... ID.TASK...``."""
        return [self.command("qdel"), *job_ids]

    def _cancel_native(self, natives: list[str]) -> None:
        """Record the deletion first (a qdel'ed job reads like a killed one), then qdel."""
        if natives:
            self.book.cancelled(natives)
        super()._cancel_native(natives)

    def ignorable_failure(self, error: SchedulerCommandError) -> bool:
        """qdel about jobs already gone; qacct finding no job, or no accounting file yet."""
        program = Path(error.argv[0]).name if error.argv else ""
        if program not in ("qdel", "qacct"):
            return False
        text = f"{error.stderr}\n{error.stdout if program == 'qdel' else ''}".lower()
        lines = [line for line in text.splitlines() if line.strip()]
        if program == "qacct" and lines and all(_NO_ACCOUNTING.search(x) for x in lines):
            return True  # no record of any job yet, so none of the queried ones
        return bool(lines) and all(_FORGOTTEN.search(line) for line in lines)

    # -- submission -------------------------------------------------------------------

    def _submit(self, job: JobSpec) -> str:
        """Submit as the base class does, and record each chunk's submit time for qacct."""
        started = time.time()
        job_id = super()._submit(job)
        array = self.arrays.load(job_id)
        for native in [job_id] if array is None else [native for native, _ in array.chunks]:
            self.book.submitted(native, started)
        return job_id

    def precheck(self, job: JobSpec) -> None:
        """Render the option directives, refusing bad options before any file is written."""
        script.option_directives(job, self.normalize_options(job.resources.options))

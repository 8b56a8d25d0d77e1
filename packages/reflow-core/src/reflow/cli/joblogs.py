"""Finding and following the stdout and stderr files of a task instance's job.

Every executor writes a task job's logs where the dispatcher asked
(:class:`~reflow.executors.jobs.JobSpec`): in ``<run_dir>/logs``, named
``<task>-<job id>.out`` / ``.err`` for a single job and
``<task>-<job id>_<n>.out`` for an array element, ``n`` in the scheduler's
own numbering (:meth:`reflow.runs.layout.RunLayout.task_log`).  The store
records each instance's job id (``ID`` or ``ID[index]``, with ``ID`` the
chunk ids joined by ``+`` for a split array).  An element's native number
comes from the executor's array map when the run's executor keeps one
(batch schedulers); otherwise it is the reflow index (the local executor),
and the chunk the worker ran in comes from the worker's own "started"
record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from reflow.define.labels import instance_label
from reflow.errors import ReflowError
from reflow.executors.arrays import ArrayRegistry, split_job_id
from reflow.executors.jobs import split_element_id
from reflow.runs.context import recorded_context
from reflow.runs.files import read_json
from reflow.runs.layout import RunLayout

if TYPE_CHECKING:
    from reflow.stores import RunRecord, TaskInstanceRecord

__all__ = ["follow_file", "log_candidates", "log_path"]

logger = logging.getLogger(__name__)

IN_PROCESS_EXECUTOR = "run_local"
"""The executor name ``wf.run_local()`` records: its tasks have no job and no log files."""


def _native_place(record: RunRecord, base: str, index: int) -> tuple[str, int] | None:
    """``(chunk id, native task number)`` from the run executor's array map, if it keeps one."""
    try:
        # lazy: plugin discovery only when the scheduler must be asked for a log path
        from reflow.executors.resolve import executor_from_record

        executor = executor_from_record(record.executor, record.executor_options)
    except (ReflowError, ImportError) as exc:
        logger.debug("Cannot rebuild executor %r to read its array map: %s", record.executor, exc)
        return None
    arrays = getattr(executor, "arrays", None)
    if not isinstance(arrays, ArrayRegistry):
        return None
    array = arrays.load(base)
    return None if array is None else array.locate(index)


def _started_chunk(layout: RunLayout, inst: TaskInstanceRecord) -> str | None:
    """The job id the worker saw (``REFLOW_JOB_ID``), from its started record."""
    path = layout.started_file(inst.task_name, inst.array_index)
    try:
        job = read_json(path).get("job_id")
    except (OSError, ValueError, AttributeError):
        return None
    return str(job) if job else None


def log_candidates(record: RunRecord, inst: TaskInstanceRecord, suffix: str = "out") -> list[Path]:
    """Where the instance's job wrote its ``.out`` (or ``.err``) file, most likely first.

    Raises
    ------
    ReflowError
        If the instance has no job: it ran in-process under ``run_local``,
        was a cache hit, or has not been submitted yet.
    """
    label = instance_label(inst.task_name, inst.array_index)
    if record.executor == IN_PROCESS_EXECUTOR:
        raise ReflowError(
            f"{label} of run {record.run_id} ran inside 'run_local' (no scheduler job), so it "
            "has no log files: its output went to the terminal of that command."
        )
    job_id = inst.job_id or ""
    if not job_id or job_id.startswith("pending:"):
        why = (
            "it was taken from the cache"
            if inst.cache_info.get("status") == "hit"
            else "it has not been submitted yet"
        )
        raise ReflowError(
            f"{label} of run {record.run_id} has no job ({inst.state.value}: {why}), so it "
            "has no log files."
        )
    layout = RunLayout(recorded_context(record).run_dir, record.run_id)
    base, index = split_element_id(job_id)
    places: list[tuple[str, int | None]]
    if index is None:
        places = [(native, None) for native in split_job_id(base)]
    else:
        located = _native_place(record, base, index)
        if located is not None:
            places = [located]
        else:
            chunk = _started_chunk(layout, inst)
            chunks = [chunk] if chunk else split_job_id(base)
            places = [(native, index) for native in chunks]
    return [layout.task_log(inst.task_name, native, n, suffix) for native, n in places]


def log_path(record: RunRecord, inst: TaskInstanceRecord, suffix: str = "out") -> Path:
    """The instance's existing log file.

    Raises
    ------
    ReflowError
        If there is none; the message names every path looked at.
    """
    candidates = log_candidates(record, inst, suffix)
    for path in candidates:
        if path.is_file():
            return path
    label = instance_label(inst.task_name, inst.array_index)
    raise ReflowError(
        f"No {suffix} file of {label} (job {inst.job_id}, {inst.state.value}) in run "
        f"{record.run_id}; looked at: {', '.join(str(p) for p in candidates)}. The job may not "
        "have started yet, or its log files were moved or deleted."
    )


def follow_file(
    path: Path,
    out: BinaryIO,
    finished: Callable[[], bool],
    *,
    poll: float = 0.5,
    settle: int = 2,
) -> None:
    """Copy ``path`` to ``out`` and keep copying what is appended until the job has ended.

    Parameters
    ----------
    path : Path
        The log file (it may appear later).
    out : BinaryIO
        Where to copy it.
    finished : Callable[[], bool]
        Whether the instance has ended; checked whenever the file is idle.
    poll : float
        Seconds between checks of an idle file.
    settle : int
        After ``finished()``, stop once the file has not grown for this many
        checks in a row (a job may print a little after its result is in).
    """
    while not path.exists():
        if finished():
            raise ReflowError(f"The job ended without writing {path}.")
        time.sleep(poll)
    idle_after_end = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(65536)
            if chunk:
                out.write(chunk)
                out.flush()
                idle_after_end = 0
                continue
            if finished():
                idle_after_end += 1
                if idle_after_end > settle:
                    return
            time.sleep(poll)

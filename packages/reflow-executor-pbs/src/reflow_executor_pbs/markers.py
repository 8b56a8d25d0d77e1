"""What a job left behind: its ``.start``/``.exit`` markers and the scheduler's output file.

The job script (:func:`reflow_executor_pbs.script.body`) writes ``<prefix>[.<task>].start``
(``host pid``) before the command starts and ``.exit`` (its exit status) after it ends.
:func:`refine` turns a scheduler status that lacks an exit status (the Torque wrappers
of Slurm, or a PBS Pro job the server forgot) into the job's real outcome.
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reflow.executors import (
    JobState,
    JobStatus,
)
from reflow_executor_pbs.flavor import Flavor
from reflow_executor_pbs.states import kill_state

__all__ = ["JobRecord", "JobRecords", "refine"]

_TAIL = 65536
"""Bytes read from the end of a scheduler output file when looking for the kill line."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class JobRecord:
    """One submission (a job, or one chunk of an array), as the executor recorded it.

    Attributes
    ----------
    job_id : str
        The id qsub printed.
    prefix : str
        Path and stem of the job's marker and output files.
    flavor : Flavor
        The flavour it was submitted to.
    tasks : tuple[int, ...] or None
        The native task ids of an array chunk; ``None`` for a single job.
    array : bool
        Whether the scheduler runs it as an array (a one-task PBS Pro chunk is a plain job).
    qsub_id : str
        The id as qsub printed it (``12[].srv`` for an array, whose reflow id is ``12.srv``:
        reflow keeps ``[...]`` for its element ids); ``""``: the same as ``job_id``.
    """

    job_id: str
    prefix: str
    flavor: Flavor
    tasks: tuple[int, ...] | None = None
    array: bool = False
    qsub_id: str = ""

    @property
    def scheduler_id(self) -> str:
        """The id qsub printed, for qstat, qdel and dependencies."""
        return self.qsub_id or self.job_id

    def marker(self, task: int | None, suffix: str) -> Path:
        """``<prefix>[.<task>].<suffix>``."""
        stem = self.prefix if task is None else f"{self.prefix}.{task}"
        return Path(f"{stem}.{suffix}")

    def cancelled(self, task: int | None) -> bool:
        """Whether reflow deleted the job, or this task of it (a ``.cancelled`` marker)."""
        return self.marker(None, "cancelled").exists() or (
            task is not None and self.marker(task, "cancelled").exists()
        )

    def outputs(self, task: int | None) -> list[Path]:
        """The scheduler's output files that may hold the task's kill line, best first."""
        base = f"{self.prefix}.pbs.out"
        if task is None or not self.array:
            return [Path(base)]
        if self.flavor is Flavor.PBSPRO:
            return [Path(f"{base}.{task}")]
        return [Path(f"{base}-{task}"), Path(base)]  # Torque appends -<task>; the wrappers don't

    def to_json(self) -> dict[str, Any]:
        """The record as JSON data."""
        return {
            "job_id": self.job_id,
            "prefix": self.prefix,
            "flavor": self.flavor.value,
            "tasks": None if self.tasks is None else list(self.tasks),
            "array": self.array,
            "qsub_id": self.qsub_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobRecord:
        """Inverse of :meth:`to_json`."""
        tasks = data.get("tasks")
        return cls(
            str(data["job_id"]),
            str(data["prefix"]),
            Flavor(data["flavor"]),
            None if tasks is None else tuple(int(t) for t in tasks),
            bool(data.get("array")),
            str(data.get("qsub_id") or ""),
        )


class JobRecords:
    """The :class:`JobRecord` s of submitted jobs, one JSON file each under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, job_id: str) -> Path:
        return self.directory / (_UNSAFE.sub("_", job_id) + ".json")

    def save(self, record: JobRecord) -> None:
        """Write the record (atomically); raises OSError."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(record.job_id)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(record.to_json()), encoding="utf-8")
        temporary.replace(path)

    def load(self, job_id: str) -> JobRecord | None:
        """The record of ``job_id``, or ``None`` if this executor did not submit it."""
        try:
            data = json.loads(self._path(job_id).read_text(encoding="utf-8"))
            record = JobRecord.from_json(data)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return record if record.job_id == job_id else None


def _read(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - _TAIL))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return None


def _alive(started: str, elsewhere: bool) -> bool:
    """Whether the process a ``.start`` marker names runs (``elsewhere``: on another host)."""
    host, _, pid = started.strip().partition(" ")
    if host and host not in (socket.gethostname(), socket.gethostname().split(".")[0]):
        return elsewhere  # cannot look
    return pid.isdigit() and Path(f"/proc/{pid}").exists()


def _killed(record: JobRecord, task: int | None) -> tuple[JobState, str] | None:
    for path in record.outputs(task):
        text = _read(path)
        found = kill_state(text) if text else None
        if found is not None:
            return found
    return None


def _exit_code(record: JobRecord, task: int | None) -> int | None:
    text = _read(record.marker(task, "exit"))
    if text is None or not text.strip().lstrip("-").isdigit():
        return None
    return int(text.strip())


def _ended(record: JobRecord, task: int | None, code: int) -> JobStatus:
    killed = _killed(record, task) if code else None
    if killed is not None:
        return JobStatus(killed[0], code, killed[1])
    return JobStatus(JobState.COMPLETED if code == 0 else JobState.FAILED, code)


def _refine(
    record: JobRecord,
    task: int | None,
    own: JobStatus | None,
    parent: JobStatus | None = None,
) -> JobStatus:
    """:func:`refine` before a deletion by reflow is taken into account."""
    if own is not None and (own.exit_code is not None or own.state is not JobState.COMPLETED):
        if own.state is JobState.PENDING and record.marker(task, "start").exists():
            return JobStatus(JobState.RUNNING, None, own.reason)
        if own.state in (JobState.FAILED, JobState.COMPLETED) and own.exit_code:
            killed = _killed(record, task)
            if killed is not None:
                return JobStatus(killed[0], own.exit_code, killed[1])
        return own
    code = _exit_code(record, task)
    if code is not None:
        return _ended(record, task, code)
    started = _read(record.marker(task, "start"))
    if started is not None:
        # A job qstat forgot, or lists as ended, has ended wherever it ran; only a task
        # of an array that still runs may be alive on a host we cannot look at.
        waiting = parent is not None and parent.state not in JobState.ended()
        if _alive(started, elsewhere=own is None and waiting):
            return JobStatus(JobState.RUNNING)
        code = _exit_code(record, task)  # it may have ended since the first look
        if code is not None:
            return _ended(record, task, code)
        # Its shell is gone without writing .exit: it was killed.
        killed = _killed(record, task)
        if killed is not None:
            return JobStatus(killed[0], None, killed[1])
        return JobStatus(JobState.FAILED, None, "the job was killed before it could exit")
    if own is None and parent is not None and parent.state not in JobState.ended():
        return JobStatus(JobState.PENDING, None, parent.reason)
    gone = "qstat no longer lists it" if own is None and parent is None else "no exit status"
    killed = _killed(record, task)
    if killed is not None:
        return JobStatus(killed[0], None, killed[1])
    return JobStatus(JobState.CANCELLED, None, f"the job never started ({gone})")


def refine(
    record: JobRecord,
    task: int | None,
    own: JobStatus | None,
    parent: JobStatus | None = None,
) -> JobStatus:
    """The status of a job (or array task) from qstat's view and the job's own traces.

    Parameters
    ----------
    record : JobRecord
        The submission.
    task : int or None
        The native task id of an array task; ``None`` for a single job.
    own : JobStatus or None
        What qstat said of the job or task itself (``None``: not listed).
    parent : JobStatus or None
        For an array task qstat does not list by itself (the Torque wrappers list only
        raw Slurm ids): what it said of the array.

    A status with an exit code, or of a job that has not ended, stands (a killed job's
    kill line turns it into TIMEOUT or OUT_OF_MEMORY).  Otherwise the ``.exit``
    marker gives the exit status, a ``.start`` marker of a live process means
    RUNNING, the kill line TIMEOUT or OUT_OF_MEMORY, and no marker at all a job
    that never started (or, while the array waits, a PENDING task).  A job reflow
    deleted (``qdel``) that did not succeed is CANCELLED.
    """
    status = _refine(record, task, own, parent)
    if (
        status.state in JobState.ended()
        and status.state is not JobState.CANCELLED
        and status.exit_code != 0
        and record.cancelled(task)
    ):
        return JobStatus(JobState.CANCELLED, status.exit_code, "deleted by reflow (qdel)")
    return status

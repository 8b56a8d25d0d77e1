"""The on-disk state of the local executor: job directories and status files.

Everything the local executor knows about a job lives in files under its
state directory, so any process (the submitting dispatcher, a later one, the
supervisor of a dependent job) reads the same answer without a daemon::

    <state dir>/
        last-id                 the last job id handed out (under an flock)
        slots/<n>.lock          machine-wide slots (see reflow.executors.local.slots)
        jobs/<id>/
            spec.json           the JobSpec, plus the slot count and kill grace
            supervisor.json     pid and identity token of the job's supervisor, and
                                whether it is ready (has its signal handlers)
            supervisor.log      the supervisor's own stdout and stderr
            pending             why the job has not started yet (plain text)
            status.json         the single job's status, or
            status-<i>.json     the status of array element i
            cancelled/job       marker: the whole job was cancelled
            cancelled/<i>       marker: array element i was cancelled
            final.json          every status, written once the job has ended

Status files are replaced atomically (temp file + :func:`os.replace`), so a
reader sees the old or the new version, never half of one.  A unit (the single
job, or one array element) without a status file is PENDING.

If a job has not ended but its supervisor is gone (killed, machine restarted),
:func:`load_job` settles it: surviving job processes are killed, and the
unfinished units become FAILED with the reason ``local supervisor died`` (or
CANCELLED if they had been cancelled).  Nothing stays RUNNING forever.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reflow.errors import ReflowError
from reflow.executors.jobs import ArraySpec, JobResources, JobSpec, JobState, JobStatus
from reflow.executors.local.proc import is_alive, signal_group

__all__ = [
    "STARTUP_TIMEOUT",
    "SUPERVISOR_DIED",
    "JobDir",
    "JobView",
    "LocalExecutorError",
    "Unit",
    "UnitStatus",
    "allocate_job",
    "find_job_dir",
    "load_job",
    "read_json",
    "settle_orphan",
    "spec_from_json",
    "spec_to_json",
    "summarize",
    "supervisor_alive",
    "write_json",
]

logger = logging.getLogger(__name__)

Unit = int | None
"""One schedulable unit of a job: an array element's index, or ``None`` for a single job."""

STARTUP_TIMEOUT = 60.0
"""Seconds a job may exist without a recorded supervisor before it counts as failed."""

SUPERVISOR_DIED = "local supervisor died"
"""The reason given to units whose supervisor ended before they did."""


class LocalExecutorError(ReflowError):
    """The local executor cannot submit, cancel or query a job."""


@dataclass(frozen=True)
class UnitStatus:
    """The recorded status of one unit (single job or array element).

    Attributes
    ----------
    state : JobState
        PENDING, RUNNING, COMPLETED, FAILED, CANCELLED or TIMEOUT.
    exit_code : int or None
        Exit status once the process ended; ``128 + signal`` if a signal
        killed it.
    reason : str
        Why it is pending or why it ended other than COMPLETED.
    start, end : float or None
        Start and end, in seconds since the epoch.
    pid : int or None
        Process id (and process group id) of the unit's process.
    token : str or None
        Identity token of that process (see :mod:`reflow.executors.local.proc`).
    """

    state: JobState
    exit_code: int | None = None
    reason: str = ""
    start: float | None = None
    end: float | None = None
    pid: int | None = None
    token: str | None = None

    @property
    def ended(self) -> bool:
        """Whether the unit will not run (again)."""
        return self.state in JobState.ended()

    def to_json(self) -> dict[str, Any]:
        """The status as a JSON-ready dict."""
        return {
            "state": self.state.value,
            "exit_code": self.exit_code,
            "reason": self.reason,
            "start": self.start,
            "end": self.end,
            "pid": self.pid,
            "token": self.token,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UnitStatus:
        """Inverse of :meth:`to_json`; unknown states read as UNKNOWN."""
        try:
            state = JobState(data.get("state", "UNKNOWN"))
        except ValueError:
            state = JobState.UNKNOWN
        return cls(
            state=state,
            exit_code=data.get("exit_code"),
            reason=str(data.get("reason") or ""),
            start=data.get("start"),
            end=data.get("end"),
            pid=data.get("pid"),
            token=data.get("token"),
        )


def write_json(path: Path, data: Any, *, replace: bool = True) -> None:
    """Write ``data`` as JSON to ``path`` atomically (temp file + rename).

    With ``replace=False`` an existing file is left as it is (the new one is
    linked into place, which fails if the name exists).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, default=str)
    if replace:
        tmp.replace(path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def read_json(path: Path) -> Any:
    """Return the JSON in ``path``, or ``None`` if it is missing or unreadable."""
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


class JobDir:
    """The directory of one job, and the names of the files in it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def job_id(self) -> str:
        """The job id (the directory's name)."""
        return self.path.name

    @property
    def state_dir(self) -> Path:
        """The executor's state directory the job belongs to."""
        return self.path.parent.parent

    @property
    def spec_file(self) -> Path:
        """``spec.json``."""
        return self.path / "spec.json"

    @property
    def supervisor_file(self) -> Path:
        """``supervisor.json``."""
        return self.path / "supervisor.json"

    @property
    def log_file(self) -> Path:
        """``supervisor.log``."""
        return self.path / "supervisor.log"

    @property
    def pending_file(self) -> Path:
        """``pending``: the reason the job waits."""
        return self.path / "pending"

    @property
    def final_file(self) -> Path:
        """``final.json``."""
        return self.path / "final.json"

    def status_file(self, unit: Unit) -> Path:
        """``status.json`` or ``status-<i>.json``."""
        return self.path / ("status.json" if unit is None else f"status-{unit}.json")

    @property
    def cancel_dir(self) -> Path:
        """``cancelled/``: the cancel markers."""
        return self.path / "cancelled"

    def cancel_markers(self) -> set[str]:
        """Names of the cancel markers: ``"job"`` and element indices as text."""
        try:
            return {entry.name for entry in self.cancel_dir.iterdir()}
        except OSError:
            return set()

    def is_cancelled(self, unit: Unit, markers: set[str] | None = None) -> bool:
        """Whether the job, or this unit of it, has been cancelled."""
        found = self.cancel_markers() if markers is None else markers
        return "job" in found or (unit is not None and str(unit) in found)

    def write_status(self, unit: Unit, status: UnitStatus) -> None:
        """Record the status of one unit."""
        write_json(self.status_file(unit), status.to_json())

    def write_final(self, statuses: Mapping[Unit, UnitStatus]) -> None:
        """Record every unit's final status in ``final.json``."""
        units = {_unit_key(unit): status.to_json() for unit, status in statuses.items()}
        write_json(self.final_file, {"units": units})

    def mark_cancelled(self, unit: Unit = None) -> None:
        """Create the cancel marker of the job (``unit=None``) or of one element."""
        self.cancel_dir.mkdir(exist_ok=True)
        (self.cancel_dir / _unit_key(unit)).touch()


def _unit_key(unit: Unit) -> str:
    return "job" if unit is None else str(unit)


def spec_to_json(job: JobSpec, *, slots: int, kill_grace: float) -> dict[str, Any]:
    """The job as stored in ``spec.json``, with the executor settings the supervisor needs."""
    return {
        "name": job.name,
        "command": list(job.command),
        "workdir": str(job.workdir),
        "log_dir": str(job.log_dir),
        "resources": {
            "cpus": job.resources.cpus,
            "time": job.resources.time,
            "mem": job.resources.mem,
            "options": dict(job.resources.options),
        },
        "array": None
        if job.array is None
        else {"indices": list(job.array.indices), "parallelism": job.array.parallelism},
        "after_any": list(job.after_any),
        "after_ok": list(job.after_ok),
        "env": dict(job.env),
        "log_name": job.log_name,
        "local": {"slots": slots, "kill_grace": kill_grace},
    }


def spec_from_json(data: Mapping[str, Any]) -> JobSpec:
    """Inverse of :func:`spec_to_json` (option values come back as JSON gave them)."""
    resources = data["resources"]
    array = data.get("array")
    return JobSpec(
        name=data["name"],
        command=tuple(data["command"]),
        workdir=Path(data["workdir"]),
        log_dir=Path(data["log_dir"]),
        resources=JobResources(
            cpus=int(resources["cpus"]),
            time=str(resources["time"]),
            mem=str(resources["mem"]),
            options=dict(resources.get("options") or {}),
        ),
        array=None
        if array is None
        else ArraySpec(tuple(array["indices"]), array.get("parallelism")),
        after_any=tuple(data.get("after_any") or ()),
        after_ok=tuple(data.get("after_ok") or ()),
        env=dict(data.get("env") or {}),
        log_name=str(data.get("log_name") or ""),
    )


def allocate_job(state_dir: Path) -> JobDir:
    """Hand out the next job id and create its (empty) job directory.

    Ids are increasing integers, counted in ``<state dir>/last-id`` under an
    exclusive :func:`fcntl.flock`, so concurrent submitters never share one.
    """
    jobs = state_dir / "jobs"
    jobs.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(state_dir / "last-id", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        text = os.read(fd, 64).decode(errors="replace").strip()
        last = int(text) if text.isdigit() else 0
        while True:
            last += 1
            path = jobs / str(last)
            try:
                path.mkdir(mode=0o700)
            except FileExistsError:
                continue  # the counter was reset; skip ids already used
            break
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, f"{last}\n".encode())
    finally:
        os.close(fd)  # closing drops the lock
    return JobDir(path)


def find_job_dir(state_dir: Path, job_id: str) -> JobDir | None:
    """The directory of job ``job_id``, or ``None`` if there is no such job."""
    if not job_id.isdigit():
        return None
    path = state_dir / "jobs" / job_id
    return JobDir(path) if path.is_dir() else None


def summarize(statuses: Mapping[int, UnitStatus]) -> JobStatus:
    """The status of an array job as a whole, from its elements' statuses.

    RUNNING while any element runs, or once some have ended while others wait;
    PENDING while none has started; once all have ended, COMPLETED if all
    completed, else the worst state among FAILED, TIMEOUT and CANCELLED (in
    that order).  The exit code is the highest of the elements' exit codes.
    """
    codes = [s.exit_code for s in statuses.values() if s.exit_code is not None]
    exit_code = max(codes) if codes else None
    states = [s.state for s in statuses.values()]
    total = len(states)
    if all(s.ended for s in statuses.values()):
        for state in (JobState.FAILED, JobState.TIMEOUT, JobState.CANCELLED):
            hit = [i for i, s in statuses.items() if s.state is state]
            if hit:
                what = state.value.lower()
                return JobStatus(state, exit_code, f"{len(hit)} of {total} elements {what}: {hit}")
        return JobStatus(JobState.COMPLETED, exit_code)
    ended = sum(1 for s in statuses.values() if s.ended)
    if JobState.RUNNING in states or ended:
        running = states.count(JobState.RUNNING)
        return JobStatus(JobState.RUNNING, None, f"{running} running, {ended} of {total} ended")
    reasons = {s.reason for s in statuses.values() if s.reason}
    return JobStatus(JobState.PENDING, None, "; ".join(sorted(reasons)))


@dataclass
class JobView:
    """What the state directory says about one job.

    Attributes
    ----------
    dir : JobDir
        The job's directory.
    spec : JobSpec
        The job as submitted.
    statuses : dict
        The status of every unit, keyed by element index (``None`` for a
        single job), in index order.
    """

    dir: JobDir
    spec: JobSpec
    statuses: dict[Unit, UnitStatus] = field(default_factory=dict)

    @property
    def units(self) -> list[Unit]:
        """The units: ``[None]`` for a single job, the element indices of an array."""
        return [None] if self.spec.array is None else list(self.spec.array.indices)

    @property
    def ended(self) -> bool:
        """Whether every unit has ended."""
        return all(status.ended for status in self.statuses.values())

    def job_status(self) -> JobStatus:
        """The status of the job as a whole (a summary, for an array)."""
        if self.spec.array is None:
            return _public(self.statuses[None])
        return summarize({u: s for u, s in self.statuses.items() if u is not None})

    def unit_status(self, unit: Unit) -> JobStatus:
        """The status of one unit, in the executor interface's terms."""
        return _public(self.statuses[unit])


def _public(status: UnitStatus) -> JobStatus:
    return JobStatus(status.state, status.exit_code, status.reason)


def _read_statuses(job_dir: JobDir, units: list[Unit]) -> dict[Unit, UnitStatus]:
    final = read_json(job_dir.final_file)
    if isinstance(final, dict) and isinstance(final.get("units"), dict):
        stored = final["units"]
        return {
            u: UnitStatus.from_json(stored.get(_unit_key(u)) or {"state": "UNKNOWN"})
            for u in units
        }
    try:
        pending_reason = job_dir.pending_file.read_text(encoding="utf-8").strip()
    except OSError:
        pending_reason = ""
    statuses: dict[Unit, UnitStatus] = {}
    for unit in units:
        data = read_json(job_dir.status_file(unit))
        statuses[unit] = (
            UnitStatus.from_json(data)
            if isinstance(data, dict)
            else UnitStatus(JobState.PENDING, reason=pending_reason)
        )
    return statuses


def supervisor_alive(job_dir: JobDir) -> bool:
    """Whether the job's supervisor runs (or may still be starting)."""
    data = read_json(job_dir.supervisor_file)
    if isinstance(data, dict):
        return is_alive(data.get("pid"), data.get("token"))
    try:
        age = time.time() - job_dir.spec_file.stat().st_mtime
    except OSError:
        return False
    return age < STARTUP_TIMEOUT


def load_job(state_dir: Path, job_id: str, *, settle: bool = True) -> JobView | None:
    """Read one job's state.

    Parameters
    ----------
    state_dir : Path
        The executor's state directory.
    job_id : str
        A job id (not an element id).
    settle : bool
        If the job has not ended but its supervisor is gone, kill its
        remaining processes and record its unfinished units as FAILED
        (``local supervisor died``) or, if cancelled, CANCELLED.

    Returns
    -------
    JobView or None
        ``None`` if the state directory has no such job.
    """
    job_dir = find_job_dir(state_dir, job_id)
    if job_dir is None:
        return None
    data = read_json(job_dir.spec_file)
    if not isinstance(data, dict):
        return None
    try:
        spec = spec_from_json(data)
    except (KeyError, TypeError, ValueError):
        logger.warning("Ignoring local job %s: its spec.json is not readable.", job_id)
        return None
    view = JobView(job_dir, spec)
    view.statuses = _read_statuses(job_dir, view.units)
    if settle and not view.ended and not supervisor_alive(job_dir):
        # The supervisor writes every status before it exits: read once more.
        view.statuses = _read_statuses(job_dir, view.units)
        if not view.ended:
            settle_orphan(view)
    return view


def settle_orphan(view: JobView) -> None:
    """Finish a job whose supervisor is gone: kill what is left, record why."""
    now = time.time()
    reason = f"{SUPERVISOR_DIED} (its log: {view.dir.log_file})"
    logger.warning("Local job %s: %s.", view.dir.job_id, reason)
    for unit, status in list(view.statuses.items()):
        if status.ended:
            continue
        signal_group(status.pid, status.token, signal.SIGKILL)
        if view.dir.is_cancelled(unit):
            view.statuses[unit] = UnitStatus(
                JobState.CANCELLED, None, "cancelled", status.start, now, status.pid, status.token
            )
        else:
            view.statuses[unit] = UnitStatus(
                JobState.FAILED, None, reason, status.start, now, status.pid, status.token
            )
    with contextlib.suppress(OSError):
        view.dir.write_final(view.statuses)

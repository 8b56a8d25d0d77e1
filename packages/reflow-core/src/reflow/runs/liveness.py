"""Who advances a run, and whether it still does: the LOST state.

Every run records its owner (:class:`~reflow.stores.RunOwner`): the
``run_local`` driver process (host, pid, process start time, and a heartbeat
it refreshes every few seconds), or, in scheduler mode, the run's pending
dispatcher job.  A RUNNING run whose owner is gone is shown as **LOST**, a
state derived when the run is read and never stored, so a run that is only
slow is never changed by someone looking at it:

- same host: the pid is gone, or now belongs to another process (its start
  time differs);
- another host: no heartbeat for longer than the lease (:func:`lease_seconds`);
- scheduler mode: the dispatcher job ended without chaining a successor, or
  the scheduler has not known it for longer than
  ``REFLOW_DISPATCH_FORGET_AFTER``.

``reflow cancel`` closes a lost run, ``reflow resume`` restarts a submitted
one, and the workflow's ``run`` of the same parameters takes a lost local
one over (see :func:`take_over_lost_runs`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from reflow import env
from reflow._types import RunState, TaskState
from reflow.errors import ConfigError, ReflowError
from reflow.runs.context import recorded_context
from reflow.runs.files import read_json, write_json_atomic
from reflow.runs.layout import RunLayout
from reflow.stores import RunOwner, StateUpdate

if TYPE_CHECKING:
    from reflow.stores import RunRecord, Store

__all__ = [
    "HEARTBEAT_SECONDS",
    "LOCAL_EXECUTOR",
    "LOST",
    "close_run",
    "dispatcher_lost",
    "forget_after",
    "lease_seconds",
    "lost_advice",
    "lost_reason",
    "process_start_time",
    "record_dispatcher",
    "shown_status",
    "take_over_lost_runs",
    "this_process",
]

logger = logging.getLogger(__name__)

LOST = "LOST"
"""The state shown for a RUNNING run whose owner is gone."""

LOCAL_EXECUTOR = "run_local"
"""The executor name recorded with runs made by ``Workflow.run_local``."""

HEARTBEAT_SECONDS = 5.0
"""How often ``run_local`` refreshes its heartbeat (and flushes finished instances)."""

_FORGET_AFTER = 600.0
"""Default seconds a job may stay unknown to its scheduler (REFLOW_DISPATCH_FORGET_AFTER)."""

_DEFAULT_LEASE = 120.0


def forget_after() -> float:
    """Seconds a job may stay unknown to its scheduler before its instance fails."""
    value = env.checked(env.REFLOW_DISPATCH_FORGET_AFTER)
    if value is None:
        return _FORGET_AFTER
    seconds = float(value)
    return seconds


def lease_seconds() -> float:
    """Seconds without a heartbeat after which a run owned on another host is LOST.

    Raises
    ------
    ConfigError
        If ``REFLOW_RUN_LEASE`` is set to something other than a positive number.
    """
    value = env.get(env.REFLOW_RUN_LEASE)
    if value is None:
        return _DEFAULT_LEASE
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ConfigError(f"REFLOW_RUN_LEASE must be a number of seconds > 0, not {value!r}")
    return seconds


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3 and on of Linux's ``/proc/PID/stat`` (state, ppid, ...), or ``None``."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 2 (the command name) is in parentheses and may hold spaces or
    # parentheses itself: count fields from the last closing one.
    return text.rpartition(")")[2].split()


def _host() -> str:
    """This machine's name, as ``socket.gethostname()`` says it, without importing ``socket``."""
    return os.uname().nodename


def process_start_time(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot; ``None`` if unknown.

    Reads field 22 of Linux's ``/proc/PID/stat``; a pid reused by another
    process has another start time.
    """
    fields = _stat_fields(pid)
    try:
        return None if fields is None else int(fields[22 - 3])
    except (IndexError, ValueError):
        return None


def this_process() -> RunOwner:
    """The owner record of the current process."""
    pid = os.getpid()
    return RunOwner(host=_host(), pid=pid, started=process_start_time(pid))


def _process_gone(owner: RunOwner) -> str | None:
    """Why a same-host owner process is gone, or ``None`` while it runs."""
    assert owner.pid is not None
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return f"its process {owner.pid} on {owner.host} is gone"
    except PermissionError:
        pass  # it exists, owned by another user
    fields = _stat_fields(owner.pid)
    if fields and fields[0] == "Z":  # killed, not yet reaped by its parent
        return f"its process {owner.pid} on {owner.host} is gone"
    if owner.started is not None:
        started = process_start_time(owner.pid)
        if started is not None and started != owner.started:
            return f"its process {owner.pid} on {owner.host} is gone (the pid now names another)"
    return None


def _local_lost(record: RunRecord) -> str | None:
    owner = record.owner
    if owner is None or owner.pid is None:
        return None  # recorded before reflow kept owners: cannot tell
    if owner.host == _host():
        return _process_gone(owner)
    if record.heartbeat_at is None:
        return None
    age = (datetime.now(tz=timezone.utc) - record.heartbeat_at).total_seconds()
    lease = lease_seconds()
    if age <= lease:
        return None
    return (
        f"no heartbeat from its process {owner.pid} on {owner.host} for {age:.0f} s "
        f"(lease {lease:.0f} s, REFLOW_RUN_LEASE)"
    )


def _dispatcher_job(record: RunRecord, run_dir: Path) -> str | None:
    """The run's pending dispatcher job: the recorded owner, else the run's dispatcher file."""
    if record.owner is not None and record.owner.job_id:
        return record.owner.job_id
    try:
        return str(read_json(RunLayout(run_dir, record.run_id).dispatcher_file)["job_id"])
    except (FileNotFoundError, ValueError, KeyError):
        return None


def dispatcher_lost(store: Store, run_id: str, run_dir: Path) -> str | None:
    """Why nothing advances a submitted run any more, or ``None`` if something may.

    Asks the run's executor about its pending dispatcher job.  The job must
    have ended (or be unknown to the scheduler for longer than
    ``REFLOW_DISPATCH_FORGET_AFTER``) and still be the run's dispatcher
    afterwards, so a successor chained meanwhile is never missed.
    """
    # lazy: plugin discovery only when a dispatcher job must be asked about
    from reflow.executors.jobs import JobState
    from reflow.executors.resolve import executor_from_record

    record = store.get_run_record(run_id)
    if record is None or record.status in RunState.terminal():
        return None
    job = _dispatcher_job(record, run_dir)
    if job is None or job == "DRYRUN":
        return None
    executor = executor_from_record(record.executor, record.executor_options)
    state = executor.query([job]).get(job)
    if state is None or state.state is JobState.UNKNOWN:
        since = record.heartbeat_at
        if since is None:
            return None
        age = (datetime.now(tz=timezone.utc) - since).total_seconds()
        if age <= forget_after():
            return None
        ended = f"is unknown to the scheduler ({age:.0f} s after it was submitted)"
    elif state.state in JobState.ended():
        ended = f"ended ({state.state.value})"
    else:
        return None
    again = store.get_run_record(run_id)
    if again is None or again.status in RunState.terminal():
        return None
    if _dispatcher_job(again, run_dir) != job:
        return None  # a successor was chained meanwhile
    return f"its dispatcher job {job} {ended} without advancing the run, so nothing will"


def lost_reason(store: Store, record: RunRecord) -> str | None:
    """Why ``record``'s run is LOST, or ``None`` if it has ended or its owner may be alive.

    An owner that cannot be checked (its executor plugin is not installed,
    the scheduler does not answer) counts as alive.

    Raises
    ------
    ConfigError
        If ``REFLOW_RUN_LEASE`` or ``REFLOW_DISPATCH_FORGET_AFTER`` is not a
        valid number of seconds.
    """
    if record.status not in RunState.active():
        return None
    try:
        if record.executor == LOCAL_EXECUTOR:
            return _local_lost(record)
        if not record.executor:
            return None
        return dispatcher_lost(store, record.run_id, recorded_context(record).run_dir)
    except ConfigError:
        raise
    except (ReflowError, OSError) as exc:
        logger.debug("cannot tell whether run %s is lost: %s", record.run_id, exc)
        return None


def shown_status(store: Store, record: RunRecord) -> tuple[str, str | None]:
    """The state to show for a run (``LOST`` or the stored one), and why it is lost."""
    reason = lost_reason(store, record)
    return (LOST if reason else record.status.value), reason


def lost_advice(record: RunRecord) -> str:
    """What to do with a LOST run, as one sentence."""
    run_id = record.run_id
    if record.executor == LOCAL_EXECUTOR:
        return (
            "Run the same command again to take it over from the cache, or close it: "
            f"reflow cancel {run_id}"
        )
    return f"Resume it: reflow resume {run_id}, or close it: reflow cancel {run_id}"


def record_dispatcher(
    store: Store, run_dir: Path, run_id: str, job_id: str, executor: str
) -> None:
    """Record ``job_id`` as the run's pending dispatcher: its owner, and the run's file."""
    write_json_atomic(RunLayout(run_dir, run_id).dispatcher_file, {"job_id": job_id})
    with contextlib.suppress(ReflowError):  # a run deleted meanwhile has no owner to set
        store.set_run_owner(run_id, RunOwner(job_id=job_id, executor=executor))


def close_run(store: Store, run_id: str, why: str) -> int:
    """Cancel a run that nothing advances: its unfinished instances and the run.

    Instances that finished keep their results (and stay in the cache).

    Returns
    -------
    int
        How many instances were cancelled.
    """

    def write() -> int:
        active = store.list_task_instance_records(
            run_id, states=[*TaskState.cancellable(), TaskState.RETRYING]
        )
        store.apply_state_updates(
            [StateUpdate(i.id, TaskState.CANCELLED, error_text=why) for i in active]
        )
        store.update_run_status(run_id, RunState.CANCELLED)
        return len(active)

    return store.retrying(write)


def take_over_lost_runs(store: Store, run_id: str, graph_name: str, user_id: str) -> list[str]:
    """Close the lost local runs of the same workflow, parameters and user as run ``run_id``.

    Called by ``run_local`` once its own run exists: what the lost runs
    finished is in the cache, so the new run takes their work over, and the
    old runs end as CANCELLED saying by which run.  Only the same user's: the
    cache does not serve another user's results by default, and one user's
    run must not close another's.

    Returns
    -------
    list[str]
        The ids of the runs taken over.
    """
    taken: list[str] = []
    # The active runs only, the new one among them: its record comes with the
    # others, not read (and its parameters decoded) a second time.
    active = store.list_active_run_records(graph_name, user_id)
    new = next((r for r in active if r.run_id == run_id), None)
    if new is None:  # ended already, or not this workflow's and user's
        return taken
    for record in active:
        if (
            record.run_id == new.run_id
            or record.executor != LOCAL_EXECUTOR
            or record.status not in RunState.active()
            or record.parameters != new.parameters
        ):
            continue
        reason = lost_reason(store, record)
        if reason is None:
            continue
        close_run(store, record.run_id, f"lost ({reason}); taken over by run {new.run_id}")
        logger.info(
            "run %s was lost (%s); run %s takes it over", record.run_id, reason, new.run_id
        )
        taken.append(record.run_id)
    return taken

"""Cancelling a run of either kind: submitted (its jobs) or made by ``run_local``.

A submitted run is cancelled through its executor
(:func:`reflow.engine.scheduler.submit.cancel_run`).
A ``run_local`` run has no jobs: a LOST one is closed in the store; a live
one on this host is asked to stop (``SIGTERM``, which the driver turns into
a cancelled run); a live one on another host can only be stopped there.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from typing import TYPE_CHECKING

from reflow._types import RunState, TaskState
from reflow.engine.scheduler.submit import cancel_run
from reflow.errors import ReflowError
from reflow.runs.context import recorded_context
from reflow.runs.liveness import LOCAL_EXECUTOR, close_run, lost_reason
from reflow.runs.place import RunPlace

if TYPE_CHECKING:
    from reflow.executors.base import Executor
    from reflow.stores import RunRecord, Store

__all__ = ["RunPlace", "cancel_recorded_run"]

_STOP_WAIT = 15.0
"""Seconds a live local driver is given to cancel its own run after SIGTERM."""


def _cancel_local(store: Store, record: RunRecord, task: str | None) -> int:
    run_id = record.run_id
    if record.status in RunState.terminal():
        return 0  # an ended run stays as it ended
    if task is not None:
        raise ReflowError(
            f"Run {run_id} was made by run_local, which cannot cancel one task and go on; "
            f"cancel the whole run: reflow cancel {run_id}"
        )
    reason = lost_reason(store, record)
    if reason is not None:
        return close_run(store, run_id, f"cancelled by the user: the run was lost ({reason})")
    owner = record.owner
    if owner is None or owner.pid is None or owner.host != socket.gethostname():
        where = f"process {owner.pid} on {owner.host}" if owner and owner.pid else "its driver"
        raise ReflowError(
            f"Run {run_id} is being run by {where}; stop it there (Ctrl-C), "
            "or cancel it here once it shows as LOST."
        )
    # Counted as the driver leaves them: it writes the rows of running instances
    # only every few seconds, so the store may not show them yet.
    before = _cancelled(store, run_id)
    os.kill(owner.pid, signal.SIGTERM)  # the driver cancels its run and exits
    deadline = time.monotonic() + _STOP_WAIT
    while time.monotonic() < deadline:
        now = store.get_run_record(run_id)
        if now is None or now.status in RunState.terminal():
            return max(0, _cancelled(store, run_id) - before)
        time.sleep(0.2)
    raise ReflowError(
        f"Run {run_id}: process {owner.pid} was sent SIGTERM but did not stop within "
        f"{_STOP_WAIT:.0f} s; kill it (kill -9 {owner.pid}), then cancel the run again."
    )


def _cancelled(store: Store, run_id: str) -> int:
    """The run's CANCELLED instances."""
    summary = store.task_state_summary(run_id)
    return sum(counts.get(TaskState.CANCELLED.value, 0) for counts in summary.values())


def cancel_recorded_run(
    store: Store, record: RunRecord, task: str | None = None, executor: Executor | None = None
) -> int:
    """Cancel ``record``'s run (or one task of a submitted run), whatever made it.

    Returns
    -------
    int
        How many task instances were cancelled.

    Raises
    ------
    ReflowError
        If the run cannot be cancelled from here (a live ``run_local`` run on
        another host, ``task`` given for a ``run_local`` run).
    """
    if record.executor == LOCAL_EXECUTOR:
        return _cancel_local(store, record, task)

    run_dir = recorded_context(record).run_dir
    return cancel_run(RunPlace(store, record.run_id, run_dir), task, executor)

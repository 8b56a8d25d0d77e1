"""The ``local`` executor: reflow's jobs as background processes on this machine.

:class:`LocalExecutor` behaves like a small batch scheduler without a daemon.
Each submitted job gets a directory in the executor's state directory and a
detached supervisor process (:mod:`reflow.executors.local.runner`) that waits
for the job's dependencies, runs its command (once, or once per array
element), enforces its walltime and records its states in files
(:mod:`reflow.executors.local.state`).  Because the state is on disk, a later
process (the next dispatcher) can query and cancel jobs an earlier one
submitted.  See ``docs/local-executor.md`` for the user-facing description.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from reflow import env
from reflow.define.resources import parse_walltime
from reflow.errors import ConfigError
from reflow.executors.base import Executor, check_mode
from reflow.executors.jobs import JobSpec, JobState, JobStatus, element_id, split_element_id
from reflow.executors.local.proc import identity, is_alive, reap, signal_group, spawn_detached
from reflow.executors.local.state import (
    JobDir,
    JobView,
    LocalExecutorError,
    Unit,
    UnitStatus,
    allocate_job,
    find_job_dir,
    load_job,
    read_json,
    spec_to_json,
    supervisor_alive,
    write_json,
)
from reflow.executors.taskenv import wrapped_command
from reflow.userdirs import user_cache_dir

__all__ = ["KILL_GRACE", "LocalExecutor", "LocalExecutorError", "default_slots"]

logger = logging.getLogger(__name__)

KILL_GRACE = 5.0
"""Seconds between SIGTERM and SIGKILL when a job is cancelled or runs out of time."""

_CANCEL_MARGIN = 3.0
"""Extra seconds :meth:`LocalExecutor.cancel` gives a supervisor before killing it."""


def default_slots() -> int:
    """The number of CPUs this process may run on (its affinity mask), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _default_state_dir() -> Path:
    configured = env.get(env.REFLOW_LOCAL_STATE)
    if configured is not None:
        return Path(configured).expanduser()
    return user_cache_dir() / "local-jobs"


def _configured_slots() -> int:
    configured = env.checked(env.REFLOW_LOCAL_SLOTS)
    if configured is None:
        return default_slots()
    text = configured.strip()
    return int(text)


class LocalExecutor(Executor):
    """Runs jobs as background processes on this machine.

    Parameters
    ----------
    state_dir : str or os.PathLike or None
        Where job state is kept.  ``None``: ``REFLOW_LOCAL_STATE`` if set,
        else ``local-jobs`` in reflow's user cache directory
        (``~/.cache/reflow/local-jobs`` on Linux).  Executors (and processes)
        that share a state directory see each other's jobs and share its slots.
    slots : int or None
        How many job processes may run at once on the machine (each process
        takes ``min(cpus, slots)`` slots).  ``None``: ``REFLOW_LOCAL_SLOTS`` if
        set, else the number of CPUs this process may use.
    kill_grace : float
        Seconds between SIGTERM and SIGKILL on cancel and walltime expiry.
    mode : str or None
        ``"dry-run"`` prints each job instead of submitting it (id ``DRYRUN``);
        ``"submit"`` submits; ``None`` follows ``REFLOW_MODE``.

    Raises
    ------
    ConfigError
        If ``slots`` (or ``REFLOW_LOCAL_SLOTS``) is not a positive number.

    Examples
    --------
    >>> import sys, tempfile
    >>> from pathlib import Path
    >>> from reflow.executors import JobSpec
    >>> tmp = Path(tempfile.mkdtemp())
    >>> executor = LocalExecutor(state_dir=tmp / "state", slots=2)
    >>> job_id = executor.submit(
    ...     JobSpec("hello", (sys.executable, "-c", "print('hi')"), workdir=tmp, log_dir=tmp)
    ... )
    >>> executor.query([job_id])[job_id].state in {JobState.PENDING, JobState.RUNNING,
    ...                                            JobState.COMPLETED}
    True
    """

    name: ClassVar[str] = "local"
    _KEY_ALIASES: ClassVar[dict[str, str]] = {}
    # Scheduler options mean nothing here and are ignored, so none is refused: a
    # workflow written for a cluster still runs on a laptop.
    known_options: ClassVar[frozenset[str] | None] = None

    def __init__(
        self,
        state_dir: str | os.PathLike[str] | None = None,
        slots: int | None = None,
        *,
        kill_grace: float = KILL_GRACE,
        mode: str | None = None,
    ) -> None:
        self.mode = check_mode(mode, "LocalExecutor(mode=...)")
        path = _default_state_dir() if state_dir is None else Path(state_dir).expanduser()
        self.state_dir = path.absolute()
        self.slots = _configured_slots() if slots is None else slots
        if isinstance(self.slots, bool) or not isinstance(self.slots, int) or self.slots < 1:
            raise ConfigError(
                f"LocalExecutor(slots={slots!r}): slots must be a whole number of at least 1."
            )
        if kill_grace < 0:
            raise ConfigError(f"LocalExecutor(kill_grace={kill_grace!r}) must not be negative.")
        self.kill_grace = float(kill_grace)
        self._children: list[int] = []

    def __repr__(self) -> str:
        return f"LocalExecutor(state_dir={str(self.state_dir)!r}, slots={self.slots})"

    def recorded_options(self) -> dict[str, Any]:
        """The state directory and slots, so every dispatcher of a run uses the same ones."""
        options: dict[str, Any] = {
            "state_dir": str(self.state_dir),
            "slots": self.slots,
            "kill_grace": self.kill_grace,
        }
        if self.mode is not None:  # a dry-run run stays one in its later dispatchers
            options["mode"] = self.mode
        return options

    # -- submit ----------------------------------------------------------------------

    def _submit(self, job: JobSpec) -> str:
        """Record the job and start its detached supervisor; returns the new job id."""
        self._reap()
        self._check(job)
        if job.resources.options:
            logger.debug(
                "Local job %r ignores submit options %s.", job.name, job.resources.options
            )
        try:
            # Modules, prologue and container: the same bash lines a batch job script has.
            job = replace(job, command=wrapped_command(job))
        except ValueError as exc:
            raise LocalExecutorError(f"Cannot submit local job {job.name!r}: {exc}.") from None
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        job_dir = allocate_job(self.state_dir)
        write_json(
            job_dir.spec_file, spec_to_json(job, slots=self.slots, kill_grace=self.kill_grace)
        )
        self._launch(job, job_dir)
        logger.info("Submitted local job %s (%s).", job_dir.job_id, job.name)
        return job_dir.job_id

    def _check(self, job: JobSpec) -> None:
        if not job.command:
            raise LocalExecutorError(
                f"Cannot submit local job {job.name!r}: its command is empty. "
                "Give the program to run and its arguments."
            )
        try:
            parse_walltime(job.resources.time)
        except ValueError as exc:
            raise LocalExecutorError(
                f"Cannot submit local job {job.name!r}: {exc}. "
                "Set the task's time= to a walltime such as '01:00:00'."
            ) from exc
        for dep in (*job.after_any, *job.after_ok):
            base, _ = split_element_id(dep)
            if find_job_dir(self.state_dir, base) is None:
                raise LocalExecutorError(
                    f"Cannot submit local job {job.name!r}: its dependency {dep!r} is not a job "
                    f"of the local executor with state directory {self.state_dir}. Submit the "
                    "dependency through the same state directory (REFLOW_LOCAL_STATE), or drop it."
                )
        try:
            job.log_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LocalExecutorError(
                f"Cannot submit local job {job.name!r}: its log directory {job.log_dir} cannot "
                f"be created ({exc}). Choose a writable log directory."
            ) from exc

    def _launch(self, job: JobSpec, job_dir: JobDir) -> None:
        if not sys.executable:
            raise LocalExecutorError(
                f"Cannot submit local job {job.name!r}: the Python interpreter's path is "
                "unknown (sys.executable is empty), so no supervisor can be started."
            )
        # The stable job entry point (reflow.job): a supervisor started across an
        # upgrade of reflow runs the same command line.
        args = [sys.executable, "-m", "reflow.job", "local-job", str(job_dir.path)]
        try:
            pid = spawn_detached(args, job_dir.log_file, job_dir.path)
        except OSError as exc:
            reason = f"local supervisor could not be started: {exc}"
            failed = UnitStatus(JobState.FAILED, None, reason, None, time.time())
            units: list[Unit] = [None] if job.array is None else list(job.array.indices)
            job_dir.write_final(dict.fromkeys(units, failed))
            raise LocalExecutorError(
                f"Cannot start the supervisor of local job {job_dir.job_id} ({job.name!r}) with "
                f"{sys.executable}: {exc}. Check that this interpreter can run "
                "'python -m reflow.job local-job'."
            ) from exc
        self._children.append(pid)
        # The supervisor writes the same record once it is ready; never overwrite that.
        record = {"pid": pid, "token": identity(pid)}
        write_json(job_dir.supervisor_file, record, replace=False)

    def _reap(self) -> None:
        """Collect the exit status of supervisors this process started, so none stays a zombie."""
        self._children = reap(self._children)

    # -- query -----------------------------------------------------------------------

    def query(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """Return the status of jobs and array elements from the state directory.

        One pass over the requested ids, reading each job's files once, and
        no subprocess.  A job whose supervisor has died is settled on the way
        (see :func:`reflow.executors.local.state.load_job`).

        Parameters
        ----------
        job_ids : Sequence[str]
            Job ids, and element ids ``ID[i]``.

        Returns
        -------
        dict[str, JobStatus]
            An entry for every requested id, plus ``ID[i]`` for every element
            of each requested array job; UNKNOWN for ids this state directory
            does not hold.
        """
        self._reap()
        found: dict[str, JobStatus] = {}
        views: dict[str, JobView | None] = {}
        for ident in job_ids:
            base, index = split_element_id(ident)
            if base not in views:
                views[base] = load_job(self.state_dir, base)
            view = views[base]
            if view is None:
                found[ident] = JobStatus(JobState.UNKNOWN)
            elif index is None:
                found[ident] = view.job_status()
                if view.spec.array is not None:
                    for unit in view.spec.array.indices:
                        found.setdefault(element_id(base, unit), view.unit_status(unit))
            elif view.spec.array is not None and index in view.statuses:
                found[ident] = view.unit_status(index)
            else:
                found[ident] = JobStatus(JobState.UNKNOWN)
        return found

    # -- cancel ----------------------------------------------------------------------

    def cancel(self, job_ids: Sequence[str]) -> None:
        """Cancel jobs (``ID``) and array elements (``ID[i]``), and wait until they ended.

        Each cancelled job or element gets a cancel marker; its supervisor
        then stops the processes (SIGTERM to their process groups, SIGKILL
        after the kill grace) and records CANCELLED.  If the supervisor is
        gone, or does not finish within the grace and a few seconds more,
        this method kills the process groups itself.  Unknown ids and jobs
        that already ended are ignored.
        """
        self._reap()
        targets: dict[str, set[int] | None] = {}
        for ident in job_ids:
            base, index = split_element_id(ident)
            if find_job_dir(self.state_dir, base) is None:
                logger.debug("Not cancelling %r: no such local job.", ident)
                continue
            if index is None:
                targets[base] = None
            else:
                chosen = targets.setdefault(base, set())
                if chosen is not None:
                    chosen.add(index)
        work: list[tuple[JobDir, list[Unit]]] = []
        for base, indices in targets.items():
            view = load_job(self.state_dir, base)
            if view is None:
                continue
            if indices is None:
                units = view.units
            elif view.spec.array is None:
                units = []
            else:
                units = [unit for unit in view.units if unit in indices]
            units = [unit for unit in units if not view.statuses[unit].ended]
            if not units:
                continue
            for unit in [None] if indices is None else units:
                view.dir.mark_cancelled(unit)
            self._notify_supervisor(view.dir, whole=indices is None)
            logger.info("Cancelling local job %s %s.", base, "" if indices is None else units)
            work.append((view.dir, units))
        self._await_cancelled(work)

    def _notify_supervisor(self, job_dir: JobDir, *, whole: bool) -> None:
        data = read_json(job_dir.supervisor_file)
        if not isinstance(data, dict):
            return
        pid, token = data.get("pid"), data.get("token")
        if not data.get("ready") or not isinstance(pid, int) or not is_alive(pid, token):
            return  # a supervisor that is not ready yet reads the markers before anything else
        try:
            # SIGTERM: stop the whole job; SIGUSR1: look at the element markers now.
            os.kill(pid, signal.SIGTERM if whole else signal.SIGUSR1)
        except OSError as exc:
            logger.debug("Could not signal the supervisor of local job %s: %s", job_dir, exc)

    def _await_cancelled(self, work: list[tuple[JobDir, list[Unit]]]) -> None:
        give_up = time.monotonic() + self.kill_grace + _CANCEL_MARGIN
        termed: dict[tuple[str, Unit], float] = {}
        while work:
            still: list[tuple[JobDir, list[Unit]]] = []
            for job_dir, units in work:
                left = self._left(job_dir, units)
                if left and not supervisor_alive(job_dir):
                    left = self._cancel_orphans(job_dir, self._left(job_dir, left), termed)
                if left:
                    still.append((job_dir, left))
            work = still
            if work and time.monotonic() >= give_up:
                for job_dir, units in work:
                    self._force_cancel(job_dir, units)
                return
            if work:
                time.sleep(0.02)

    def _left(self, job_dir: JobDir, units: list[Unit]) -> list[Unit]:
        view = load_job(self.state_dir, job_dir.job_id, settle=False)
        if view is None:
            return []
        return [unit for unit in units if not view.statuses[unit].ended]

    def _cancel_orphans(
        self, job_dir: JobDir, units: list[Unit], termed: dict[tuple[str, Unit], float]
    ) -> list[Unit]:
        """Cancel units whose supervisor is gone: signal them here, then record CANCELLED."""
        view = load_job(self.state_dir, job_dir.job_id, settle=False)
        if view is None:
            return []
        now = time.monotonic()
        left: list[Unit] = []
        for unit in units:
            status = view.statuses[unit]
            if is_alive(status.pid, status.token):
                key = (job_dir.job_id, unit)
                if key not in termed:
                    termed[key] = now
                    signal_group(status.pid, status.token, signal.SIGTERM)
                elif now - termed[key] >= self.kill_grace:
                    signal_group(status.pid, status.token, signal.SIGKILL)
                left.append(unit)
            else:
                self._record_cancelled(view, unit)
        if view.ended:
            job_dir.write_final(view.statuses)
        return left

    def _force_cancel(self, job_dir: JobDir, units: list[Unit]) -> None:
        """Kill a supervisor that did not finish cancelling in time, and its processes."""
        logger.warning(
            "The supervisor of local job %s did not stop within %.0f s; killing it.",
            job_dir.job_id,
            self.kill_grace + _CANCEL_MARGIN,
        )
        data = read_json(job_dir.supervisor_file)
        if isinstance(data, dict):
            signal_group(data.get("pid"), data.get("token"), signal.SIGKILL)
        view = load_job(self.state_dir, job_dir.job_id, settle=False)
        if view is None:
            return
        for unit in units:
            status = view.statuses[unit]
            signal_group(status.pid, status.token, signal.SIGKILL)
            if not status.ended:
                self._record_cancelled(view, unit)
        if view.ended:
            job_dir.write_final(view.statuses)

    @staticmethod
    def _record_cancelled(view: JobView, unit: Unit) -> None:
        old = view.statuses[unit]
        new = UnitStatus(
            JobState.CANCELLED, None, "cancelled", old.start, time.time(), old.pid, old.token
        )
        view.statuses[unit] = new
        view.dir.write_status(unit, new)

"""The supervisor of one local job: ``python -m reflow.executors.local.runner <job dir>``.

:class:`~reflow.executors.local.executor.LocalExecutor` starts one supervisor per job,
detached from the submitting process (its own session), and returns at once.
The supervisor

1. waits until every ``after_any`` dependency has ended and every ``after_ok``
   dependency has COMPLETED; if an ``after_ok`` dependency ended otherwise,
   the job ends CANCELLED (``dependency never satisfied``), as Slurm's
   ``--kill-on-invalid-dep`` does;
2. runs the command once, or once per array element with the element's index
   in ``REFLOW_ARRAY_INDEX``, at most ``array.parallelism`` at a time, each
   process in its own process group and holding machine-wide slots
   (:mod:`reflow.executors.local.slots`);
3. enforces the walltime (SIGTERM to the process group, SIGKILL after the
   kill grace, state TIMEOUT) and cancellations (the same, state CANCELLED);
4. records every state change in the job directory
   (:mod:`reflow.executors.local.state`) and ``final.json`` at the end.

It sleeps between checks, woken early by signals: SIGCHLD (a process ended),
SIGUSR1 (an element was cancelled: look at the markers) and SIGTERM or SIGINT
(cancel the whole job).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from reflow.define.resources import format_walltime, parse_walltime
from reflow.executors.environment import filtered_environment, split_export_env
from reflow.executors.jobs import ARRAY_INDEX_ENV, JobState, JobStatus, split_element_id
from reflow.executors.local.proc import identity, kill_group_after_exit, signal_name
from reflow.executors.local.slots import SlotPool
from reflow.executors.local.state import (
    JobDir,
    JobView,
    Unit,
    UnitStatus,
    find_job_dir,
    load_job,
    read_json,
    spec_from_json,
    supervisor_alive,
    write_json,
)

__all__ = ["Supervisor", "main"]

logger = logging.getLogger(__name__)

RUN_POLL = 0.5
"""Longest sleep while job processes run (exits and signals wake the supervisor sooner)."""

SLOT_POLL = 0.2
"""Sleep between attempts to get a free slot."""

DEPENDENCY_POLL = (0.02, 0.1)
"""First and longest sleep between looks at the dependencies (the sleep grows).

A look at a job that has not ended costs two small files (no ``final.json``, its
supervisor's record), not one status file per array element, so it can be frequent:
every hop of a run's chain of jobs (an array, the gather after it, the next
dispatcher) waits on average half the longest sleep after its dependency ended.
"""


@dataclass
class _Running:
    """A unit whose process has been started."""

    unit: Unit
    process: subprocess.Popen[bytes]
    token: str | None
    slots: list[int]
    start: float
    deadline: float | None
    stop: JobState | None = None
    term_at: float | None = None
    killed: bool = False


def _unended(state_dir: Path, job_id: str) -> bool:
    """Whether job ``job_id`` certainly has not ended: no ``final.json``, its supervisor alive.

    Its supervisor writes ``final.json`` before it exits; a supervisor that died
    without it is left to :func:`load_job`, which settles the job.
    """
    job_dir = find_job_dir(state_dir, job_id)
    return job_dir is not None and not job_dir.final_file.exists() and supervisor_alive(job_dir)


class _Waker:
    """Sleeps that signals cut short (through :func:`signal.set_wakeup_fd`)."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            select.select([self._read], [], [], seconds)
        with contextlib.suppress(OSError):
            while os.read(self._read, 512):
                pass


class Supervisor:
    """Runs one local job to its end; see the module docstring.

    Parameters
    ----------
    job_dir : JobDir
        The job's directory, holding ``spec.json``.
    """

    def __init__(self, job_dir: JobDir) -> None:
        self.dir = job_dir
        data = read_json(job_dir.spec_file)
        if not isinstance(data, dict):
            raise RuntimeError(f"{job_dir.spec_file} is missing or not valid JSON")
        self.spec = spec_from_json(data)
        local = data.get("local") or {}
        slots = int(local.get("slots") or os.cpu_count() or 1)
        self.kill_grace = float(local.get("kill_grace", 5.0))
        self.pool = SlotPool(job_dir.state_dir / "slots", slots)
        self.slots_each = max(1, min(self.spec.resources.cpus, self.pool.total))
        self.units: list[Unit] = (
            [None] if self.spec.array is None else list(self.spec.array.indices)
        )
        self.statuses: dict[Unit, UnitStatus] = {
            unit: UnitStatus(JobState.PENDING) for unit in self.units
        }
        self.walltime: float | None
        try:
            self.walltime = float(parse_walltime(self.spec.resources.time))
        except ValueError:
            logger.warning("No walltime enforced: %r is not a walltime.", self.spec.resources.time)
            self.walltime = None
        self.terminate = False
        self.waker: _Waker | None = None

    # -- signals and bookkeeping ---------------------------------------------------

    def _on_terminate(self, signum: int, frame: FrameType | None) -> None:
        self.terminate = True

    @staticmethod
    def _wake_only(signum: int, frame: FrameType | None) -> None:
        """A handler that only makes :class:`_Waker` return."""

    def _install_signals(self) -> None:
        self.waker = _Waker()
        signal.signal(signal.SIGTERM, self._on_terminate)
        signal.signal(signal.SIGINT, self._on_terminate)
        signal.signal(signal.SIGUSR1, self._wake_only)
        signal.signal(signal.SIGCHLD, self._wake_only)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def _sleep(self, seconds: float) -> None:
        if self.waker is None:
            time.sleep(seconds)
        else:
            self.waker.sleep(seconds)

    def _cancelled(self, unit: Unit, markers: set[str]) -> bool:
        return self.terminate or self.dir.is_cancelled(unit, markers)

    def _set(self, unit: Unit, status: UnitStatus) -> None:
        self.statuses[unit] = status
        self.dir.write_status(unit, status)

    def _set_pending_reason(self, reason: str) -> None:
        tmp = self.dir.pending_file.with_name(".pending.tmp")
        tmp.write_text(reason + "\n", encoding="utf-8")
        tmp.replace(self.dir.pending_file)

    def _end_unstarted(self, state: JobState, reason: str) -> None:
        now = time.time()
        for unit, status in self.statuses.items():
            if not status.ended:
                self._set(unit, UnitStatus(state, None, reason, None, now))

    # -- the job's life --------------------------------------------------------------

    def run(self) -> int:
        """Run the job to its end and record ``final.json``; returns the exit status."""
        self._install_signals()
        # "ready": the signal handlers are in place, so SIGUSR1 no longer kills us.
        record = {"pid": os.getpid(), "token": identity(os.getpid()), "ready": True}
        write_json(self.dir.supervisor_file, record)
        logger.info(
            "Local job %s (%s) supervised by pid %d.", self.dir.job_id, self.spec.name, os.getpid()
        )
        if self._wait_for_dependencies():
            self._run_units()
        self.dir.write_final(self.statuses)
        logger.info("Local job %s ended.", self.dir.job_id)
        return 0

    def abort(self, reason: str) -> None:
        """Kill what runs and record every unfinished unit as FAILED (after a crash)."""
        now = time.time()
        for unit, status in self.statuses.items():
            if not status.ended:
                if status.pid is not None:
                    with contextlib.suppress(OSError):
                        os.killpg(status.pid, signal.SIGKILL)
                self._set(
                    unit,
                    UnitStatus(
                        JobState.FAILED, None, reason, status.start, now, status.pid, status.token
                    ),
                )
        self.dir.write_final(self.statuses)

    def _wait_for_dependencies(self) -> bool:
        """Wait for the dependencies; ``False`` if the job ended without running."""
        waiting = list(dict.fromkeys([*self.spec.after_any, *self.spec.after_ok]))
        ok_needed = set(self.spec.after_ok)
        delay, longest = DEPENDENCY_POLL
        while True:
            if self._cancelled(None, self.dir.cancel_markers()):
                self._end_unstarted(JobState.CANCELLED, "cancelled")
                return False
            views: dict[str, JobView | None] = {}
            still: list[str] = []
            for dep in waiting:
                status = self._dependency_status(dep, views)
                if status.state is JobState.COMPLETED:
                    continue
                ended = status.state in JobState.ended() or status.state is JobState.UNKNOWN
                if ended and dep in ok_needed:
                    logger.info("Dependency %s ended %s: the job will not run.", dep, status.state)
                    self._end_unstarted(
                        JobState.CANCELLED,
                        f"dependency never satisfied: {dep} ended {status.state.value}",
                    )
                    return False
                if not ended:
                    still.append(dep)
            if not still:
                return True
            if still != waiting or delay == DEPENDENCY_POLL[0]:
                self._set_pending_reason(f"waiting for dependencies: {', '.join(still)}")
            waiting = still
            self._sleep(delay)
            delay = min(delay * 1.5, longest)

    def _dependency_status(self, dep: str, views: dict[str, JobView | None]) -> JobStatus:
        """The status of job or element ``dep``, reading each job once per round."""
        base, index = split_element_id(dep)
        if index is None and base not in views and _unended(self.dir.state_dir, base):
            return JobStatus(JobState.RUNNING)
        if base not in views:
            views[base] = load_job(self.dir.state_dir, base)
        view = views[base]
        if view is None:
            return JobStatus(JobState.UNKNOWN)
        if index is None:
            return view.job_status()
        if view.spec.array is not None and index in view.statuses:
            return view.unit_status(index)
        return JobStatus(JobState.UNKNOWN)

    def _run_units(self) -> None:
        pending = list(self.units)
        running: dict[Unit, _Running] = {}
        limit = len(self.units)
        if self.spec.array is not None and self.spec.array.parallelism:
            limit = max(1, self.spec.array.parallelism)
        self._set_pending_reason("waiting for a free slot")
        while pending or running:
            now = time.time()
            markers = self.dir.cancel_markers()
            for unit in [u for u in pending if self._cancelled(u, markers)]:
                pending.remove(unit)
                self._set(unit, UnitStatus(JobState.CANCELLED, None, "cancelled", None, now))
            for item in list(running.values()):
                self._supervise(item, now, markers)
                code = item.process.poll()
                if code is not None:
                    self._finish(item, code, markers)
                    del running[item.unit]
            starved = False
            while pending and len(running) < limit:
                fds = self.pool.try_acquire(self.slots_each)
                if fds is None:
                    starved = True
                    break
                unit = pending.pop(0)
                started = self._start(unit, fds)
                if started is not None:
                    running[unit] = started
            if pending or running:
                self._sleep(self._next_wake(running, starved))

    def _next_wake(self, running: dict[Unit, _Running], starved: bool) -> float:
        now = time.time()
        wake = SLOT_POLL if starved else RUN_POLL
        for item in running.values():
            if item.stop is None and item.deadline is not None:
                wake = min(wake, item.deadline - now)
            elif item.term_at is not None and not item.killed:
                wake = min(wake, item.term_at + self.kill_grace - now)
        return max(wake, 0.01)

    def _supervise(self, item: _Running, now: float, markers: set[str]) -> None:
        """Stop a cancelled or timed-out process; SIGKILL it once the grace is over."""
        if item.stop is None:
            if self._cancelled(item.unit, markers):
                item.stop = JobState.CANCELLED
            elif item.deadline is not None and now >= item.deadline:
                item.stop = JobState.TIMEOUT
            if item.stop is not None:
                logger.info("Stopping %s (%s).", self._label(item.unit), item.stop.value)
                item.term_at = now
                with contextlib.suppress(OSError):
                    os.killpg(item.process.pid, signal.SIGTERM)
        elif (
            item.term_at is not None and not item.killed and now >= item.term_at + self.kill_grace
        ):
            item.killed = True
            with contextlib.suppress(OSError):
                os.killpg(item.process.pid, signal.SIGKILL)

    def _label(self, unit: Unit) -> str:
        return self.dir.job_id if unit is None else f"{self.dir.job_id}[{unit}]"

    def _log_paths(self, unit: Unit) -> tuple[Path, Path]:
        name = (self.spec.log_name or self.spec.name).replace(os.sep, "_")
        stem = f"{name}-{self.dir.job_id}" + ("" if unit is None else f"_{unit}")
        return self.spec.log_dir / f"{stem}.out", self.spec.log_dir / f"{stem}.err"

    def _environment(self, unit: Unit) -> dict[str, str]:
        setting, _ = split_export_env(self.spec.resources.options)
        env = filtered_environment(setting, os.environ)
        env.pop(ARRAY_INDEX_ENV, None)
        env.update(self.spec.env)
        env["REFLOW_JOB_ID"] = str(self.dir.job_id)  # the job can tell which job it is
        if unit is not None:
            env[ARRAY_INDEX_ENV] = str(unit)
        return env

    def _start(self, unit: Unit, fds: list[int]) -> _Running | None:
        out_path, err_path = self._log_paths(unit)
        now = time.time()
        try:
            self.spec.log_dir.mkdir(parents=True, exist_ok=True)
            with out_path.open("wb") as out, err_path.open("wb") as err:
                process = subprocess.Popen(
                    list(self.spec.command),
                    cwd=self.spec.workdir,
                    env=self._environment(unit),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                )
        except OSError as exc:
            SlotPool.release(fds)
            code = 126 if isinstance(exc, PermissionError) else 127
            reason = f"could not start {self.spec.command[0]!r}: {exc}"
            logger.error("%s: %s", self._label(unit), reason)
            self._set(unit, UnitStatus(JobState.FAILED, code, reason, now, time.time()))
            return None
        token = identity(process.pid)
        deadline = None if self.walltime is None else now + self.walltime
        self._set(unit, UnitStatus(JobState.RUNNING, None, "", now, None, process.pid, token))
        logger.info("Started %s as pid %d.", self._label(unit), process.pid)
        return _Running(unit, process, token, fds, now, deadline)

    def _finish(self, item: _Running, code: int, markers: set[str]) -> None:
        SlotPool.release(item.slots)
        kill_group_after_exit(item.process.pid)
        exit_code = 128 - code if code < 0 else code
        if item.stop is JobState.CANCELLED or self._cancelled(item.unit, markers):
            state, reason = JobState.CANCELLED, "cancelled"
        elif item.stop is JobState.TIMEOUT:
            state = JobState.TIMEOUT
            reason = f"walltime {format_walltime(int(self.walltime or 0))} exceeded"
        elif code == 0:
            state, reason = JobState.COMPLETED, ""
        elif code < 0:
            state, reason = JobState.FAILED, f"killed by {signal_name(-code)}"
        else:
            state, reason = JobState.FAILED, f"exit code {code}"
        status = UnitStatus(
            state, exit_code, reason, item.start, time.time(), item.process.pid, item.token
        )
        self._set(item.unit, status)
        logger.info("%s ended %s (exit code %d).", self._label(item.unit), state.value, exit_code)


def main(argv: list[str] | None = None) -> int:
    """Entry point: supervise the job whose directory is the only argument."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m reflow.executors.local.runner JOB_DIR", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    job_dir = JobDir(Path(args[0]).absolute())
    try:
        os.chdir(job_dir.path)  # hold no other directory busy
        supervisor = Supervisor(job_dir)
    except Exception:
        logger.exception("Cannot supervise %s.", job_dir.path)
        return 1
    try:
        return supervisor.run()
    except BaseException as exc:
        logger.exception("The supervisor of local job %s failed.", job_dir.job_id)
        supervisor.abort(f"local supervisor error: {exc!r}")
        return 1


if __name__ == "__main__":
    sys.exit(main())

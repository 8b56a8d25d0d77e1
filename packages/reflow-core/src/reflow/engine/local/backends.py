"""Where run_local executes task functions: in forked worker processes.

Tasks never run in the driver's own process: a task that ends its process
(``os._exit``, a C extension calling ``exit``, the OOM killer) must fail its
instance with the reason, not end the driver with status 0 and leave the run
RUNNING.  Workers are forked lazily, when the first batch must run (a fully
cached run starts none), after every task function has been put in a
module-level registry, so workers find functions by task name: functions
defined in ``__main__``, in a notebook or inside another function all work,
and nothing but inputs and outputs crosses the process boundary.

Each worker has its own pipe and a queue of at most two batches (one
running, one waiting), so the backend always knows which batches a dead
worker took with it, and its exit status says why.
"""

from __future__ import annotations

import _thread
import contextlib
import logging
import operator
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from functools import partial
from types import FrameType
from typing import Any

from reflow.cache.filestate import DEFAULT_POLICY
from reflow.engine.local.collector import usual_collections
from reflow.engine.local.forked import Channel, Child, wait
from reflow.engine.local.lifeline import arm, die_with_parent
from reflow.engine.local.outcome import Outcome, call_task
from reflow.engine.local.usage import BatchMeter, mean_seconds, usage_line
from reflow.signals import TaskInterrupted

__all__ = ["Batch", "Finished", "ProcessBackend", "exit_text"]

logger = logging.getLogger(__name__)

Batch = tuple[str, list[tuple[int | None, dict[str, Any]]]]
"""A task name and its (index, kwargs) items, run one after the other."""

BatchUsage = tuple[str, float | None]
"""A batch's line of the usage file (``""``: no call ran) and its calls' mean wall time."""

Finished = tuple[Batch, list[Outcome], BatchUsage, str]
"""A batch, its outcomes, their usage, and why its worker died (``""`` when it did not)."""

_Wire = tuple[Any, ...]
"""An :class:`Outcome` as a plain tuple of its fields: pickled several times faster."""

_to_wire: Callable[[Outcome], _Wire] = operator.attrgetter(*Outcome.__slots__)
"""An outcome's fields as a tuple, in the order :class:`Outcome` takes them (one C call)."""

_REGISTRY: dict[str, Callable[..., Any]] = {}
_POLICIES: dict[str, str] = {}
"""Task name -> how the files its output names are hashed (see :mod:`reflow.cache.filestate`)."""
_WATCHED: dict[str, frozenset[str]] = {}
"""Task name -> the parameters whose files its identity holds, looked at before each call."""
_RETRYABLE: dict[str, tuple[type[BaseException], ...]] = {}
"""Task name -> the exception types its ``retry_on=`` lists: a worker goes on after them."""

_HOST = [""]
"""The host name the usage lines give (the driver's: workers run beside it)."""

_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}

_QUEUED_PER_WORKER = 2
"""Batches sent to one worker at a time: it starts the next while the driver records."""


def _run_batch(
    task: str, items: list[tuple[int | None, dict[str, Any]]], stop_on_failure: bool
) -> tuple[list[Outcome], BatchUsage]:
    """Worker side: run a batch with the function found in the inherited registry.

    Returns the outcomes and the usage of the calls that ran (made here, not
    in the driver, which records every batch of every worker).
    """
    func = _REGISTRY[task]
    out: list[Outcome] = []
    policy = _POLICIES.get(task, DEFAULT_POLICY)
    watched = _WATCHED.get(task, ())
    retryable = _RETRYABLE.get(task, ())
    meter = BatchMeter()  # CPU time and memory once per batch, not per call
    _RUNNING[0] = True  # SIGTERM/SIGINT now interrupt the task (see _on_stop)
    try:
        for index, kwargs in items:
            outcome = call_task(task, func, index, kwargs, policy, watched)
            out.append(outcome)
            if outcome.ok:
                continue
            if outcome.exception is not None:
                outcome.exception = _picklable(outcome.exception)
            retried = isinstance(outcome.exception, retryable)
            if outcome.interrupted or (stop_on_failure and not retried):
                break  # the rest of the batch stays unrun (and is cancelled)
    finally:
        _RUNNING[0] = False
    rows = meter.rows((o.index, o.start, o.end) for o in out if o.end)
    return out, (usage_line(task, _HOST[0], rows), mean_seconds(rows))


_RUNNING = [False]
"""Whether this worker is running a batch (set by :func:`_run_batch`)."""


def _on_stop(signum: int, frame: FrameType | None) -> None:
    """A worker's SIGTERM/SIGINT handler, installed once for its life.

    While a batch runs, the signal interrupts its task (:class:`TaskInterrupted`,
    as :func:`~reflow.signals.graceful_shutdown` raises); an idle worker told to
    stop just stops (SIGTERM, its default action) or goes on (SIGINT, which the
    driver handles).  Installing and restoring handlers around each batch cost
    ~25 µs, a chain's every task.
    """
    if _RUNNING[0]:
        raise TaskInterrupted(signum)
    if signum == signal.SIGTERM:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


def _serve(parent: int, stop_on_failure: bool, conn: Channel) -> None:
    """Worker main loop: run each batch received, send back its outcomes."""
    die_with_parent(parent)
    usual_collections()  # the driver's run collects rarely; the user's tasks as they would
    # The parent converts SIGTERM/SIGINT into exceptions; an idle worker told
    # to stop should just stop, quietly (see _on_stop).
    signal.signal(signal.SIGTERM, _on_stop)
    signal.signal(signal.SIGINT, _on_stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)  # blocked across the fork
    stopped = False
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            return
        if batch is None:
            return
        if stopped:  # a batch queued behind the first failure is not started
            conn.send(([], ("", None)))
            continue
        outcomes, usage = _run_batch(batch[0], batch[1], stop_on_failure)
        stopped = stop_on_failure and not all(
            o.ok or isinstance(o.exception, _RETRYABLE.get(batch[0], ())) for o in outcomes
        )
        conn.send(([_to_wire(o) for o in outcomes], usage))


def _picklable(exc: BaseException) -> BaseException | None:
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes, just made
    except Exception:
        return None
    return exc


def exit_text(exitcode: int | None) -> str:
    """How a worker process ended, as words: ``"exited with status 0"``."""
    if exitcode is None:
        return "stopped answering"
    if exitcode >= 0:
        return f"exited with status {exitcode}"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        name = f"signal {-exitcode}"
    why = " (killed, or out of memory)" if -exitcode == signal.SIGKILL else ""
    return f"was killed by {name}{why}"


class _Worker:
    """One forked worker process and the batches sent to it, oldest first."""

    def __init__(self, stop_on_failure: bool) -> None:
        # A stop signal arriving during the fork would raise in the middle of
        # fork handlers (logging's lock would stay held): it waits until after.
        arm()  # the worker's lifeline, found once in the driver
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            self.process = Child(partial(_serve, os.getpid(), stop_on_failure))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        self.conn = self.process.channel
        self.batches: deque[Batch] = deque()
        self.slots = 0  # worker slots (cpus) its batches take, while it holds any

    def death(self) -> str:
        """Why the worker is gone, after its pipe closed."""
        self.process.join(timeout=5)
        return exit_text(self.process.exitcode)

    def close(self, *, kill: bool) -> None:
        with contextlib.suppress(OSError):
            if not kill:
                self.conn.send(None)
        self.conn.close()


class ProcessBackend:
    """Runs batches in up to ``max_workers`` forked worker processes.

    Parameters
    ----------
    functions : dict
        Task function by task name.
    max_workers : int
        How many workers may run at once.
    stop_on_failure : bool
        A worker stops its batch at the first failed element.
    policies : mapping, optional
        Task name -> how the files its output names are hashed
        (:mod:`reflow.cache.filestate`); a task not named uses the default.
    watched : mapping, optional
        Task name -> the parameters whose files its identity holds: their
        files are looked at again right before each call (see
        :mod:`reflow.cache.seenfiles`).  Tasks not named cost nothing more.
    retryable : mapping, optional
        Task name -> exception types its ``retry_on=`` lists: the engine runs
        such a failure again (:mod:`reflow.engine.local.retrying`), so it does
        not stop the worker.
    host : str
        The host name the usage lines of the batches give.
    """

    def __init__(
        self,
        functions: dict[str, Callable[..., Any]],
        max_workers: int,
        *,
        stop_on_failure: bool = False,
        policies: Mapping[str, str] | None = None,
        watched: Mapping[str, Collection[str]] | None = None,
        retryable: Mapping[str, tuple[type[BaseException], ...]] | None = None,
        host: str = "",
    ) -> None:
        if not hasattr(os, "fork"):  # pragma: no cover
            raise RuntimeError("run_local needs os.fork (Linux, macOS)")
        _REGISTRY.clear()
        _REGISTRY.update(functions)
        _POLICIES.clear()
        _POLICIES.update(policies or {})
        _WATCHED.clear()
        _WATCHED.update({task: frozenset(names) for task, names in (watched or {}).items()})
        _RETRYABLE.clear()
        _RETRYABLE.update(retryable or {})
        _HOST[0] = host
        self._max = max_workers
        self._stop = stop_on_failure
        self._workers: list[_Worker] = []

    @property
    def slots(self) -> int:
        """How many workers may run at once."""
        return self._max

    @property
    def capacity(self) -> int:
        """How many batches may be in flight: each worker holds two, one queued."""
        return self._max * _QUEUED_PER_WORKER

    def running(self) -> int:
        return sum(len(w.batches) for w in self._workers)

    def busy(self) -> dict[str, int]:
        """Busy workers per task: each counts for the task of the batch it works on now."""
        busy: dict[str, int] = {}
        for worker in self._workers:
            if worker.batches:
                task = worker.batches[0][0]
                busy[task] = busy.get(task, 0) + 1
        return busy

    def used_slots(self) -> int:
        """Slots taken by the workers holding batches: each its batches' ``cpus``."""
        return sum(w.slots for w in self._workers if w.batches)

    def _worker_for(self, slots: int) -> _Worker | None:
        """The worker a batch taking ``slots`` goes to (``None``: a new one may be forked).

        A busy worker takes a second batch only of the same size (it runs after
        the first, taking no more slots); an idle worker or a new one takes any
        batch that fits in the free slots.
        """
        idle = [w for w in self._workers if not w.batches]
        if self.used_slots() + slots <= self._max and (idle or len(self._workers) < self._max):
            return idle[0] if idle else None
        queued = [
            w for w in self._workers if w.slots == slots and len(w.batches) < _QUEUED_PER_WORKER
        ]
        if queued:
            return min(queued, key=lambda w: len(w.batches))
        raise LookupError(slots)

    def can_take(self, slots: int = 1) -> bool:
        """Whether a batch taking ``slots`` worker slots may be submitted now."""
        try:
            self._worker_for(min(slots, self._max))
        except LookupError:
            return False
        return True

    def pids(self) -> Sequence[int]:
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    def submit(self, batch: Batch, slots: int = 1) -> None:
        """Send ``batch``, which takes ``slots`` worker slots, to a worker with room.

        Call only when :meth:`can_take` says so.  A batch asking more slots
        than there are takes them all: it runs alone.
        """
        slots = min(slots, self._max)
        worker = self._worker_for(slots)
        spare = False
        if worker is None:
            worker = _Worker(self._stop)
            self._workers.append(worker)
            spare = len(self._workers) < self._max
        worker.slots = slots
        worker.batches.append(batch)
        # A dead worker's pipe refuses the batch: collect reports it with the others it held.
        with contextlib.suppress(OSError):
            worker.conn.send(batch)
        if spare:
            # One idle worker forked ahead, while this batch runs: the next batch
            # (another element group, an independent task) does not wait for a fork.
            self._workers.append(_Worker(self._stop))

    def collect(self, timeout: float | None = None) -> list[Finished]:
        """Outcomes of the batches that finished within ``timeout`` seconds.

        A batch whose worker died has no outcomes nor usage, and the
        worker's exit status as last item; the other batches that worker held come with it.
        """
        busy = {w.conn: w for w in self._workers if w.batches}
        if not busy:
            return []
        results: list[Finished] = []
        for conn in wait(list(busy), timeout):
            worker = busy[conn]
            try:
                wire: tuple[list[_Wire], BatchUsage] = worker.conn.recv()
            except (EOFError, OSError):
                death = worker.death()
                results.extend((batch, [], ("", None), death) for batch in worker.batches)
                worker.batches.clear()
                worker.close(kill=True)
                self._workers.remove(worker)
                continue
            outcomes = [Outcome(*w) for w in wire[0]]
            results.append((worker.batches.popleft(), outcomes, wire[1], ""))
        return results

    def shutdown(self, *, kill: bool = False, grace: float = 3.0) -> None:
        """Stop the workers; with ``kill``, interrupt running tasks first.

        Running tasks get SIGTERM (``TaskInterrupted`` in the task); a worker
        still alive ``grace`` seconds later is killed, so a task that ignores
        the signal cannot hold the run open.  Without ``kill`` the workers are
        idle and told to exit: a thread waits for them (killing one still
        there after 30 s), so the run does not wait for their exit (~3 ms).
        """
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.close(kill=kill)
            if kill and worker.process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + (grace if kill else 30.0)
        if kill:
            _reap(workers, deadline)
        elif workers:
            # Not threading.Thread: its start() waits until the new thread has run
            # (1-4 ms here, while the workers exit); this one is left to start.
            _thread.start_new_thread(_reap, (workers, deadline))
        _REGISTRY.clear()


def _reap(workers: list[_Worker], deadline: float) -> None:
    """Wait for ``workers`` to end until ``deadline``, then kill those still there."""
    for worker in workers:
        worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()

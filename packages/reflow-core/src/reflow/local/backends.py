"""Where run_local executes task functions: in this process, or in worker processes.

The process backend forks its workers after every task function has been put
in a module-level registry, so workers find functions by task name: functions
defined in ``__main__``, in a notebook or inside another function all work,
and nothing but inputs and outputs crosses the process boundary.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from reflow.filestate import DEFAULT_POLICY
from reflow.local.outcome import Outcome, call_task

__all__ = ["Batch", "InlineBackend", "ProcessBackend"]

logger = logging.getLogger(__name__)

Batch = tuple[str, list[tuple[int | None, dict[str, Any]]]]
"""A task name and its (index, kwargs) items, run one after the other."""

_REGISTRY: dict[str, Callable[..., Any]] = {}
_POLICIES: dict[str, str] = {}
"""Task name -> how the files its output names are hashed (see :mod:`reflow.filestate`)."""


def _run_batch(task: str, items: list[tuple[int | None, dict[str, Any]]]) -> list[Outcome]:
    """Worker side: run a batch with the function found in the inherited registry."""
    from reflow.signals import graceful_shutdown

    func = _REGISTRY[task]
    out: list[Outcome] = []
    with graceful_shutdown():
        for index, kwargs in items:
            outcome = call_task(task, func, index, kwargs, _POLICIES.get(task, DEFAULT_POLICY))
            if outcome.exception is not None:
                outcome.exception = _picklable(outcome.exception)
            out.append(outcome)
            if outcome.interrupted:
                break
    return out


def _default_signals() -> None:
    # Workers are forked from a parent that converts SIGTERM/SIGINT into
    # exceptions; an idle worker told to stop should just stop, quietly.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _picklable(exc: BaseException) -> BaseException | None:
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes, just made
    except Exception:
        return None
    return exc


class InlineBackend:
    """Runs each batch in this process, one element after another."""

    def __init__(
        self,
        functions: dict[str, Callable[..., Any]],
        *,
        stop_on_failure: bool = False,
        policies: Mapping[str, str] | None = None,
    ) -> None:
        self._functions = functions
        self._policies = dict(policies or {})
        self._stop = stop_on_failure
        self._done: list[tuple[Batch, list[Outcome]]] = []

    @property
    def slots(self) -> int:
        return 1

    def running(self) -> int:
        return 0

    def submit(self, batch: Batch) -> None:
        task, items = batch
        func = self._functions[task]
        outcomes = []
        policy = self._policies.get(task, DEFAULT_POLICY)
        for index, kwargs in items:
            outcome = call_task(task, func, index, kwargs, policy)
            outcomes.append(outcome)
            if outcome.interrupted and isinstance(outcome.exception, BaseException):
                self._done.append((batch, outcomes))
                raise outcome.exception
            if self._stop and not outcome.ok:
                break  # the rest of the batch stays unrun, and is cancelled
        self._done.append((batch, outcomes))

    def collect(self, timeout: float | None = None) -> list[tuple[Batch, list[Outcome]]]:
        done, self._done = self._done, []
        return done

    def shutdown(self, *, kill: bool = False) -> None:
        return None


class ProcessBackend:
    """Runs batches in ``max_workers`` forked worker processes."""

    def __init__(
        self,
        functions: dict[str, Callable[..., Any]],
        max_workers: int,
        *,
        policies: Mapping[str, str] | None = None,
    ) -> None:
        _REGISTRY.clear()
        _REGISTRY.update(functions)
        _POLICIES.clear()
        _POLICIES.update(policies or {})
        methods = multiprocessing.get_all_start_methods()
        if "fork" not in methods:  # pragma: no cover - every Linux has fork
            raise RuntimeError("run_local(max_workers>1) needs the 'fork' start method")
        self._max = max_workers
        self._pool = ProcessPoolExecutor(
            max_workers=max_workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_default_signals,
        )
        self._futures: dict[Future[list[Outcome]], Batch] = {}
        self._lost: list[Batch] = []
        self._broken = False

    @property
    def slots(self) -> int:
        return self._max

    def running(self) -> int:
        return len(self._futures) + len(self._lost)

    def submit(self, batch: Batch) -> None:
        if self._broken and not self._futures:
            self._restart()
        try:
            future = self._pool.submit(_run_batch, batch[0], batch[1])
        except BrokenProcessPool:
            # A worker died since the last collect and broke the pool: this batch
            # never ran.  It is reported lost with the batches in flight (no outcome),
            # and the engine runs its elements again, one at a time.
            self._broken = True
            self._lost.append(batch)
            return
        self._futures[future] = batch

    def collect(self, timeout: float | None = None) -> list[tuple[Batch, list[Outcome]]]:
        results: list[tuple[Batch, list[Outcome]]] = [(batch, []) for batch in self._lost]
        self._lost.clear()
        if not self._futures:
            if self._broken:
                self._restart()
            return results
        done, _ = wait(list(self._futures), timeout=timeout, return_when=FIRST_COMPLETED)
        for future in done:
            batch = self._futures.pop(future)
            try:
                results.append((batch, future.result()))
            except BrokenProcessPool:
                # A worker died (killed, out of memory): every batch in flight is lost
                # and the pool is unusable.  Say so with no outcome; the engine runs
                # those elements again, one per batch, to find the one that kills.
                results.append((batch, []))
                self._broken = True
        if self._broken and not self._futures:
            self._restart()
        return results

    def _restart(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = ProcessPoolExecutor(
            max_workers=self._max,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_default_signals,
        )
        self._broken = False

    def pids(self) -> Sequence[int]:
        processes = getattr(self._pool, "_processes", None) or {}
        return list(processes)

    def shutdown(self, *, kill: bool = False, grace: float = 3.0) -> None:
        """Stop the workers; with ``kill``, interrupt running tasks first.

        Running tasks get SIGTERM (``TaskInterrupted`` in the task); a worker
        still alive ``grace`` seconds later is killed, so a task that ignores
        the signal cannot hold the run open.
        """
        if kill:
            pids = list(self.pids())
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while pids and time.monotonic() < deadline:
                pids = [pid for pid in pids if _alive(pid)]
                time.sleep(0.05)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self._pool.shutdown(wait=not kill, cancel_futures=kill)
        self._futures.clear()
        _REGISTRY.clear()


def _alive(pid: int) -> bool:
    """Whether a worker process still runs (reaping it if it has ended)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return done == 0

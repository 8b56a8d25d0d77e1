"""run_local's process backend: lazy workers, and what a worker's death reports."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from reflow.engine.local.backends import ProcessBackend


def die(i: int) -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return i


def leave(i: int) -> int:
    os._exit(i)


def same(i: int) -> int:
    return i


def drain(backend: ProcessBackend) -> list[tuple[str, list[object], str]]:
    results: list[tuple[str, list[object], str]] = []
    while backend.running():
        results.extend(
            (batch[0], [(o.index, o.ok, o.output) for o in outcomes], death)
            for batch, outcomes, _, death in backend.collect(timeout=30)
        )
    return results


def test_no_worker_is_started_until_something_must_run() -> None:
    backend = ProcessBackend({"same": same}, max_workers=2)
    try:
        assert backend.pids() == []
        assert backend.collect(timeout=0) == []
    finally:
        backend.shutdown()


def test_a_dead_worker_reports_its_batches_with_its_exit_status() -> None:
    backend = ProcessBackend({"die": die, "leave": leave, "same": same}, max_workers=1)
    try:
        backend.submit(("die", [(0, {"i": 0})]))
        backend.submit(("same", [(1, {"i": 1})]))  # queued behind it on the same worker
        assert sorted(drain(backend)) == [
            ("die", [], "was killed by SIGKILL (killed, or out of memory)"),
            ("same", [], "was killed by SIGKILL (killed, or out of memory)"),
        ]
        backend.submit(("leave", [(2, {"i": 0})]))
        assert drain(backend) == [("leave", [], "exited with status 0")]
        backend.submit(("same", [(3, {"i": 3})]))  # a fresh worker takes new work
        assert drain(backend) == [("same", [(3, True, 3)], "")]
    finally:
        backend.shutdown(kill=True)


def nap(i: int) -> int:
    import time

    time.sleep(30)
    return i


def test_a_signal_interrupts_a_running_task_and_stops_an_idle_worker() -> None:
    import time

    backend = ProcessBackend({"nap": nap, "same": same}, max_workers=1)
    try:
        backend.submit(("same", [(0, {"i": 0})]))
        assert drain(backend) == [("same", [(0, True, 0)], "")]
        [pid] = backend.pids()[:1]
        os.kill(pid, signal.SIGINT)  # idle: the driver handles Ctrl-C, the worker goes on
        time.sleep(0.2)
        backend.submit(("nap", [(1, {"i": 1})]))
        time.sleep(0.5)  # the task is asleep in the worker
        os.kill(pid, signal.SIGTERM)
        [(_, outcomes, _, death)] = backend.collect(timeout=30)
        assert death == "" and [(o.index, o.interrupted) for o in outcomes] == [(1, True)]
        backend.submit(("same", [(2, {"i": 2})]))  # the same worker runs on
        assert drain(backend) == [("same", [(2, True, 2)], "")]
        assert backend.pids()[0] == pid
        os.kill(pid, signal.SIGTERM)  # idle: it stops, by the signal
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            waited, status = os.waitpid(pid, os.WNOHANG)
            if waited == pid:
                assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the idle worker did not stop on SIGTERM")
    finally:
        backend.shutdown(kill=True)


def test_idle_workers_told_to_stop_are_reaped_after_shutdown_returns() -> None:
    """shutdown() does not wait for the workers' exit, and leaves no zombie behind."""
    import time

    backend = ProcessBackend({"same": same}, max_workers=2)
    backend.submit(("same", [(0, {"i": 0})]))
    assert drain(backend) == [("same", [(0, True, 0)], "")]
    pids = list(backend.pids())
    assert len(pids) == 2  # the worker that ran and the one forked ahead
    backend.shutdown()
    assert backend.pids() == []
    deadline = time.monotonic() + 10
    # A zombie keeps its /proc entry until its parent reaps it: the reaper does.
    entries = [Path(f"/proc/{pid}") for pid in pids]
    while any(e.exists() for e in entries) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not [e for e in entries if e.exists()]

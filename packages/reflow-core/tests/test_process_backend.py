"""run_local's process backend when a worker dies between two of the engine's steps."""

from __future__ import annotations

import os
import signal
import time

from reflow.local.backends import ProcessBackend


def die(i: int) -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return i


def same(i: int) -> int:
    return i


def test_a_batch_submitted_to_a_pool_broken_since_the_last_collect_is_reported_lost() -> None:
    backend = ProcessBackend({"die": die, "same": same}, max_workers=2)
    try:
        backend.submit(("die", [(0, {"i": 0})]))
        (future,) = backend._futures
        deadline = time.monotonic() + 30
        while not future.done() and time.monotonic() < deadline:  # the pool breaks
            time.sleep(0.05)
        assert future.done()
        backend.submit(("same", [(1, {"i": 1})]))  # must not raise BrokenProcessPool
        assert backend.running() == 2
        results = []
        while backend.running():
            results.extend(backend.collect(timeout=30))
        # Neither batch has an outcome: the engine runs their elements again, alone.
        assert sorted((batch[0], outcomes) for batch, outcomes in results) == [
            ("die", []),
            ("same", []),
        ]
        backend.submit(("same", [(2, {"i": 2})]))  # a fresh pool takes new work
        ((_, outcomes),) = backend.collect(timeout=30)
        assert [(o.index, o.ok, o.output) for o in outcomes] == [(2, True, 2)]
    finally:
        backend.shutdown(kill=True)

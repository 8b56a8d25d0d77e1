"""The driver's garbage collector during a run: collections made rare, then as they were.

A run of 10,000 tiny elements allocates a few hundred thousand container
objects in the driver (rows, updates, kwargs), almost none in cycles.  With
Python's default thresholds the collector runs some 150 times meanwhile, and
each full collection scans every object the program holds (its modules, the
workflow): about 10 % of the driver's time.  During a run the first
threshold is raised to :data:`THRESHOLD` (a collection per that many new
containers, so memory held by cycles stays bounded), and put back when the
run ends, when the usual collections take whatever cycles the run left.
Nothing is frozen (:func:`gc.freeze`): a program that calls ``run_local``
again and again would keep each run's cyclic garbage for good.  Workers,
which run the user's tasks, collect with the thresholds the driver had
(:func:`usual_collections`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["THRESHOLD", "rare_collections", "usual_collections"]

THRESHOLD = 100_000
"""New container objects between two collections of the youngest generation, during a run."""

_before: list[tuple[int, int, int]] = []
"""The thresholds in force before each run in progress (the first: the process's own)."""


@contextmanager
def rare_collections() -> Iterator[None]:
    """Collect rarely while the block runs, as before after it."""
    before = gc.get_threshold()
    _before.append(before)
    # A first threshold of 0 turns collections off: leave that choice alone.
    gc.set_threshold(max(before[0], THRESHOLD) if before[0] else 0, before[1], before[2])
    try:
        yield
    finally:
        _before.pop()
        gc.set_threshold(*before)


def usual_collections() -> None:
    """In a worker forked during a run: the thresholds the process had before it."""
    if _before:
        gc.set_threshold(*_before[0])

"""The last lines a failed job wrote to its stderr, for the failure reason.

A job that ends without writing a result (a module that would not load, a
container runtime missing on the node, a crash before the worker started)
says why only in its ``.err`` file; the dispatcher puts that file's last
lines into the instance's failure reason, so ``reflow status`` shows the
program's own words.
"""

from __future__ import annotations

from reflow.executors.arrays import ArrayRegistry, split_job_id
from reflow.executors.base import Executor
from reflow.executors.jobs import split_element_id
from reflow.runs.layout import RunLayout

__all__ = ["TAIL_BYTES", "TAIL_LINES", "stderr_tail"]

TAIL_LINES = 10
"""How many of the last non-empty lines are kept."""

TAIL_BYTES = 4096
"""How much of the end of the file is read (a job's stderr can be large)."""


def stderr_tail(layout: RunLayout, executor: Executor, task: str, job_id: str) -> str:
    """The last lines of the ``.err`` file of ``task``'s job ``job_id``; ``""`` if none is found.

    ``job_id`` is reflow's id (``ID``, or ``ID[index]`` for an array element,
    whose native number comes from the executor's array map when it keeps one).
    """
    base, index = split_element_id(job_id)
    arrays = getattr(executor, "arrays", None)
    array = arrays.load(base) if isinstance(arrays, ArrayRegistry) and index is not None else None
    located = None if array is None or index is None else array.locate(index)
    places = [located] if located else [(native, index) for native in split_job_id(base)]
    for native, number in places:
        path = layout.task_log(task, native, number, "err")
        try:
            with path.open("rb") as handle:
                size = handle.seek(0, 2)
                handle.seek(max(0, size - TAIL_BYTES))
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            continue
        lines = [line.rstrip() for line in text.splitlines() if line.strip()]
        return "\n".join(lines[-TAIL_LINES:])
    return ""

"""The one command line every job reflow queues runs: ``python -m reflow.job ...``.

A job may wait in a scheduler's queue for days, across a reflow upgrade.  So
what it runs names only this module, which keeps its sub-commands and their
arguments from release to release; where the code behind them lives may
change freely.

``python -m reflow.job dispatch <run.json>``
    One dispatcher wave of the run (:mod:`reflow.engine.scheduler.dispatcher`).
    The run's store is opened from the URL in its context
    (:class:`~reflow.runs.context.RunContext`): no store file path, no store
    class, on the command line.
``python -m reflow.job work <run.json> <task> [<pack plan>]``
    One worker: runs one instance of ``task`` (:mod:`reflow.engine.scheduler.worker`);
    the array index comes from the scheduler's environment (``REFLOW_ARRAY_INDEX``).
    With a pack plan (``pack=`` tasks, :mod:`reflow.engine.scheduler.packing`) the
    array index numbers a pack, whose elements the worker runs one after another.
``python -m reflow.job local-job <job dir>``
    The supervisor of one job of the local executor (:mod:`reflow.executors.local.runner`).

A usage error is one line on standard error and exit status 2.

Each sub-command imports its engine only when chosen: a worker of a large
array starts once per element, and must not pay for the dispatcher's and the
store's imports (measured with ``python -X importtime``: about 25-35 ms more
per worker, on top of the worker's own 40-50 ms).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from reflow.errors import ReflowError
from reflow.runs.context import read_context

__all__ = ["main"]

_USAGE = {
    "dispatch": "dispatch RUN_JSON",
    "work": "work RUN_JSON TASK [PACK_PLAN]",
    "local-job": "local-job JOB_DIR",
}


def _dispatch(args: Sequence[str]) -> int:
    # lazy: only the chosen sub-command's engine loads (a worker skips these, 25-35 ms)
    from reflow.engine.scheduler.dispatcher import run_wave
    from reflow.stores import open_store  # lazy: as above

    try:
        context = read_context(Path(args[0]))
        if not context.store_url:
            raise ReflowError(
                f"Run {context.run_id} records no store URL in {args[0]}, so its "
                "dispatcher cannot open its manifest store."
            )
        store = open_store(context.store_url)
        # Reach the store before the wave: a server that stays away past its connect
        # timeout ends this job with one line and nothing marked, so the run is LOST and
        # `reflow resume` (or the next wave) recovers it; inside the wave the failure
        # would be logged as "marked FAILED" while nothing could be written.
        store.init()
    except ReflowError as exc:
        print(f"reflow.job dispatch: {exc}", file=sys.stderr)
        return 1
    return run_wave(store, context.run_id)


def _work(args: Sequence[str]) -> int:
    # lazy: only the chosen sub-command's engine loads (see the module docstring)
    from reflow.engine.scheduler.code import code_record, job_script
    from reflow.engine.scheduler.worker import run_worker  # lazy: as above

    try:
        context = read_context(Path(args[0]))
        # The run's code as frozen now: a retried instance runs the fixed code.
        script = job_script(context, code_record(context.run_dir, context.run_id))
    except ReflowError as exc:
        print(f"reflow.job work: {exc}", file=sys.stderr)
        return 1
    plan = args[2] if len(args) > 2 else None
    return run_worker(script, context.workflow, context.run_dir, context.run_id, args[1], plan)


def _local_job(args: Sequence[str]) -> int:
    # lazy: the local supervisor needs none of the scheduler engine
    from reflow.executors.local.runner import main as supervise

    return supervise([args[0]])


_COMMANDS: dict[str, tuple[tuple[int, ...], Callable[[Sequence[str]], int]]] = {
    "dispatch": ((1,), _dispatch),
    "work": ((2, 3), _work),
    "local-job": ((1,), _local_job),
}
"""Each sub-command's numbers of arguments it takes, and what runs it."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run one job's sub-command; return the process exit status.

    Parameters
    ----------
    argv : Sequence[str] or None
        The arguments after ``python -m reflow.job`` (``sys.argv[1:]`` when ``None``).

    Returns
    -------
    int
        The sub-command's status; ``2`` for a usage error.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    command = _COMMANDS.get(args[0]) if args else None
    if command is None or len(args) - 1 not in command[0]:
        wanted = _USAGE[args[0]] if args and args[0] in _USAGE else " | ".join(_USAGE.values())
        print(f"usage: python -m reflow.job {wanted}", file=sys.stderr)
        return 2
    return command[1](args[1:])


if __name__ == "__main__":
    raise SystemExit(main())

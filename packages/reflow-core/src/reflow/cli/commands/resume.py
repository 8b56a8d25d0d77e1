"""``reflow resume RUN``: run one dispatcher wave of a submitted run, here and now.

For a LOST run, whose dispatcher job is gone (killed, cancelled by hand, or
its node died): the wave ingests what finished, reconciles with the scheduler,
submits what is runnable and chains the next dispatcher.  Nothing already
submitted is submitted again.  A run made by ``run_local`` is refused in one
line: running the same command again takes it over from the cache.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reflow.errors import ReflowError

if TYPE_CHECKING:
    import argparse

    from reflow.stores import RunRecord

__all__ = ["DESCRIPTION", "HELP", "NAME", "add_arguments", "check_submitted", "run"]

NAME = "resume"
HELP = "advance a submitted run by one dispatcher wave, in this process"
DESCRIPTION = (
    "Run one dispatcher wave of RUN in the foreground: ingest results, reconcile with the "
    "scheduler, submit what is runnable, chain the next dispatcher. Safe to repeat."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``RUN`` and ``--store-path``."""
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.runref import add_store_option

    parser.add_argument("run_id", metavar="RUN", help="run id, unique prefix/suffix, or latest")
    add_store_option(parser)


def check_submitted(record: RunRecord) -> None:
    """Refuse, in one line, a run that no dispatcher can advance.

    Raises
    ------
    ReflowError
        If the run was made by ``run_local`` or records no workflow script.
    """
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.runs.liveness import LOCAL_EXECUTOR

    run_id = record.run_id
    if record.executor == LOCAL_EXECUTOR:
        raise ReflowError(
            f"Run {run_id} was made by run_local, not submitted: resume advances submitted "
            "runs only. Run the same command again to take it over from the cache, or close "
            f"it: reflow cancel {run_id}"
        )
    if record.context is None or record.context.script is None:
        raise ReflowError(
            f"Run {run_id} records no workflow script (it was not made by submit), so no "
            f"dispatcher can advance it; close it with: reflow cancel {run_id}"
        )


def run(args: argparse.Namespace) -> int:
    """Run the wave and print the run's state."""
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.runref import open_cli_store, resolve_run
    from reflow.engine.scheduler.dispatcher import dispatch_once

    store = open_cli_store(args)
    record = resolve_run(store, args.run_id)
    check_submitted(record)
    state = dispatch_once(store, record.run_id, resume=True)
    print(f"Run {record.run_id}: {state.value}")
    return 0

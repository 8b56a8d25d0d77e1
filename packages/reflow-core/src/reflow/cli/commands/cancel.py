"""``reflow cancel RUN...``: cancel runs of any kind, lost ones included.

A submitted run's jobs and pending dispatcher are cancelled through its
executor; a ``run_local`` run that is LOST is closed in the store, a live one
on this host is asked to stop (see :mod:`reflow.engine.cancel`).  Instances that
finished keep their results, and the cache keeps them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

__all__ = ["DESCRIPTION", "HELP", "NAME", "add_arguments", "run"]

NAME = "cancel"
HELP = "cancel runs: their jobs, or a lost or local run"
DESCRIPTION = (
    "Cancel each RUN: a submitted run's jobs and dispatcher through its executor; a run_local "
    "run that is LOST is closed, a live one on this host is asked to stop. Finished instances "
    "keep their results. RUN is a run id, a unique prefix or suffix of one, or 'latest'."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``RUN...``, ``--task`` and ``--store-path``."""
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.runref import add_store_option

    parser.add_argument(
        "run_refs", metavar="RUN", nargs="+", help="run id, unique prefix/suffix, or latest"
    )
    parser.add_argument("--task", metavar="T", help="cancel only task T of a submitted run")
    add_store_option(parser)


def run(args: argparse.Namespace) -> int:
    """Cancel the runs, one line each."""
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.runref import open_cli_store, resolve_run, task_spec
    from reflow.engine.cancel import cancel_recorded_run

    store = open_cli_store(args)
    records = [resolve_run(store, ref) for ref in args.run_refs]
    for record in records:
        if args.task is not None:
            task_spec(store, record.run_id, args.task)
        n = cancel_recorded_run(store, record, args.task)
        print(f"Run {record.run_id}: cancelled {n} task instance(s).")
    return 0

"""``reflow resume RUN``: run one dispatcher wave of a submitted run, here and now.

For a run whose dispatcher job was lost (killed, cancelled by hand, or its
node died): the wave ingests what finished, reconciles with the scheduler,
submits what is runnable and chains the next dispatcher.  Nothing already
submitted is submitted again.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

__all__ = ["DESCRIPTION", "HELP", "NAME", "add_arguments", "run"]

NAME = "resume"
HELP = "advance a submitted run by one dispatcher wave, in this process"
DESCRIPTION = (
    "Run one dispatcher wave of RUN in the foreground: ingest results, reconcile with the "
    "scheduler, submit what is runnable, chain the next dispatcher. Safe to repeat."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``RUN`` and ``--store-path``."""
    parser.add_argument("run_id", metavar="RUN", help="the run id")
    parser.add_argument(
        "--store-path",
        type=Path,
        default=None,
        help="manifest database (default: the shared store, see REFLOW_STORE_PATH)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the wave and print the run's state."""
    from reflow.config import load_config
    from reflow.dispatch.dispatcher import dispatch_once
    from reflow.stores import open_store

    store = open_store(args.store_path, None if args.store_path else load_config())
    state = dispatch_once(store, args.run_id, resume=True)
    print(f"Run {args.run_id}: {state.value}")
    return 0

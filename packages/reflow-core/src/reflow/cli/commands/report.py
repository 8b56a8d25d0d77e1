"""``reflow report RUN -o report.html``: one self-contained HTML file describing a run.

The file holds the run's provenance, the task graph, the results of
``report=True`` tasks, a timeline of every task instance, per task the
resources asked for against those used (with their distributions and advice
for next time), and the failures with their tracebacks.  Everything is
inline, so it can be mailed, archived next to the results, or opened on a
laptop without network access.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from reflow.cli.runref import add_run_options

if TYPE_CHECKING:
    import argparse

__all__ = ["DESCRIPTION", "HELP", "NAME", "add_arguments", "run"]

NAME = "report"
HELP = "write a self-contained HTML report of a run (provenance, graph, results, resources)"
DESCRIPTION = (
    "Write one HTML file describing RUN: what exactly ran (command line, versions, script "
    "hash, git commit), its task graph coloured by state, the outputs of report=True tasks, "
    "a timeline of every task instance (queue wait and run time), per task the resources "
    "asked for against those used with their distributions and what to ask for next time "
    "(see also: reflow suggest), and the failures with their tracebacks. The file needs no "
    "network access to be viewed."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``RUN``, ``-o/--output`` and ``--store-path``."""
    add_run_options(parser)
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        metavar="FILE",
        help="where to write the report (default: report-RUN.html in this directory)",
    )


def run(args: argparse.Namespace) -> int:
    """Write the report and say where it is."""
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.runref import opened_run
    from reflow.report import write_report

    with opened_run(args) as (store, record):
        run_id = record.run_id
        output: Path = args.output or Path(f"report-{run_id}.html")
        data = write_report(store, run_id, output)
    size = output.stat().st_size
    print(
        f"Wrote the report of run {run_id} ({len(data.instances)} instances, "
        f"{len(data.tasks)} tasks) to {output} ({size / 1024:.0f} KiB)"
    )
    return 0

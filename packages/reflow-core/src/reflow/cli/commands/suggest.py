"""``reflow suggest RUN``: the decorator edits that would fit what a run's tasks used.

One line per edit, in the form compilers use, so an editor can jump to it::

    /home/me/pipe.py:12: square: mem="1G" -> mem="256M" (peak 51.2 MiB over 200 elements)

The figures and the rules are those of the report's advice section
(:mod:`reflow.report.advice`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reflow.cli.runref import add_run_options

if TYPE_CHECKING:
    import argparse

__all__ = ["DESCRIPTION", "HELP", "NAME", "add_arguments", "run"]

NAME = "suggest"
HELP = "print the cpus=/mem=/time= edits that fit what a run's tasks used"
DESCRIPTION = (
    "Print, for each task of RUN, the changes to its @wf.job(...) decorator that would fit "
    "what its instances used: memory from the highest peak plus 25%, walltime from twice "
    "the longest instance, CPUs from the cores busy on average. Each edit is printed as "
    "FILE:LINE: TASK: OLD -> NEW (WHY). Tasks whose instances ran under a second get none."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``RUN``, ``--json`` and ``--store-path``."""
    add_run_options(parser)
    parser.add_argument(
        "--json", action="store_true", help="print the advice as JSON, one object per task"
    )


def run(args: argparse.Namespace) -> int:
    """Print the suggested edits."""
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    import json

    # lazy: as above
    from reflow.cli.runref import opened_run

    # lazy: as above
    from reflow.report.advice import advise_all

    # lazy: as above
    from reflow.report.data import gather

    with opened_run(args) as (store, record):
        run_id = record.run_id
        data = gather(store, run_id)
    advice = advise_all(data.tasks, data.instances)
    places = data.provenance.get("tasks") or {}
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "task": a.task.name,
                        "where": places.get(a.task.name),
                        "measured": a.measured,
                        "changes": [
                            {
                                "option": c.option,
                                "current": c.current,
                                "suggested": c.suggested,
                                "reason": c.reason,
                            }
                            for c in a.changes
                        ],
                        "note": a.note,
                    }
                    for a in advice
                ],
                indent=2,
            )
        )
        return 0
    edits = [a for a in advice if a.changes]
    print(
        f"Run {run_id} ({data.run.graph_name}): "
        + (f"{sum(len(a.changes) for a in edits)} edit(s)" if edits else "nothing to change")
    )
    for a in advice:
        where = places.get(a.task.name) or "(definition not recorded)"
        for change in a.changes:
            print(
                f"{where}: {a.task.name}: {change.option}={change.current} -> "
                f"{change.edit} ({change.reason})"
            )
    for a in advice:
        if not a.changes:
            print(f"  {a.task.name}: {a.note}")
    return 0

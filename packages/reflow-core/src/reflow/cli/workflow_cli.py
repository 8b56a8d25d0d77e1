"""The command line of a workflow script (``wf.cli()``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from reflow.errors import ReflowError

if TYPE_CHECKING:
    from reflow.workflow import Workflow

__all__ = ["build_parser", "run_cli"]


def build_parser(workflow: Workflow) -> argparse.ArgumentParser:
    """The workflow's parser: one subcommand per action."""
    parser = argparse.ArgumentParser(
        prog=workflow.name,
        description=f"Command line of the reflow workflow {workflow.name!r}.",
        allow_abbrev=False,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    describe = sub.add_parser("describe", help="show tasks, wiring and parameters")
    describe.add_argument("--json", action="store_true", help="print the JSON description")
    dag = sub.add_parser("dag", help="show the task graph with its wire modes")
    dag.add_argument("--format", choices=["text", "mermaid", "dot"], default="text")
    return parser


def run_cli(workflow: Workflow, argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; return the exit status."""
    parser = build_parser(workflow)
    args = parser.parse_args(argv)
    try:
        workflow.validate()
        if args.command == "describe":
            from reflow.cli.render import describe_text

            desc = workflow.describe()
            print(json.dumps(desc, indent=2, sort_keys=True) if args.json else describe_text(desc))
        elif args.command == "dag":
            from reflow.cli.render import dag_text

            print(dag_text(workflow.describe(), args.format))
    except ReflowError as exc:
        if args.debug:
            raise
        print(f"{workflow.name}: error: {exc}", file=sys.stderr)
        return 2
    return 0

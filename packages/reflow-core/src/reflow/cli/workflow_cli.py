"""The command line of a workflow script (``wf.cli()``).

``python pipeline.py run --run-dir DIR [parameters]`` runs the workflow on
this machine; ``describe`` and ``dag`` show what it is made of.  Parameter
flags are generated from the task signatures (see :mod:`reflow.cli.params`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reflow.errors import ReflowError

if TYPE_CHECKING:
    from reflow.run import Run
    from reflow.workflow import Workflow

__all__ = ["build_parser", "run_cli"]


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks on errors",
    )
    common.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help="more log output"
    )
    return common


def build_parser(workflow: Workflow) -> argparse.ArgumentParser:
    """The workflow's parser: one subcommand per action, parameter flags on ``run``."""
    from reflow.cli.parser import add_parameter_arguments

    common = _common()
    parser = argparse.ArgumentParser(
        prog=Path(sys.argv[0]).name if sys.argv and sys.argv[0] else workflow.name,
        description=f"Command line of the reflow workflow {workflow.name!r}.",
        parents=[common],
        allow_abbrev=False,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = sub.add_parser(
        "run",
        parents=[common],
        allow_abbrev=False,
        help="run the whole workflow on this machine",
        description="Run the whole workflow on this machine, through the cache, recorded "
        "in the manifest store.",
    )
    opts = run.add_argument_group("run options")
    opts.add_argument("--run-dir", required=True, type=Path, help="the run's working directory")
    opts.add_argument(
        "--max-workers",
        type=int,
        default=1,
        help="worker processes (default: 1, everything in this process)",
    )
    opts.add_argument("--force", action="store_true", help="ignore the cache for every task")
    opts.add_argument(
        "--force-tasks",
        nargs="+",
        default=None,
        metavar="TASK",
        help="ignore the cache for these tasks",
    )
    opts.add_argument(
        "--verify",
        action="store_true",
        help="check cached outputs (files exist, verify= functions) before reuse",
    )
    opts.add_argument(
        "--on-error",
        choices=["stop", "continue"],
        default="stop",
        help="stop at the first failure, or run everything that does not "
        "depend on it (default: stop)",
    )
    opts.add_argument(
        "--store-path",
        type=Path,
        default=None,
        help="manifest database (default: the shared store, see REFLOW_STORE_PATH)",
    )
    params = run.add_argument_group("workflow parameters")
    add_parameter_arguments(params, workflow.cli_params())
    describe = sub.add_parser(
        "describe", parents=[common], help="show tasks, wiring and parameters"
    )
    describe.add_argument("--json", action="store_true", help="print the JSON description")
    dag = sub.add_parser("dag", parents=[common], help="show the task graph with its wire modes")
    dag.add_argument("--format", choices=["text", "mermaid", "dot"], default="text")
    return parser


def _show_run(workflow: Workflow, run: Run) -> None:
    run.status()
    sinks = [
        name
        for name in workflow.tasks
        if not any(name in other.dependencies for other in workflow.tasks.values())
    ]
    outputs = run.outputs()
    print()
    for name in sinks:
        if name in outputs:
            print(f"{name}: {outputs[name]!r}")


def _run(workflow: Workflow, args: argparse.Namespace) -> int:
    from reflow.cli.parser import parameters_from_namespace
    from reflow.local import TaskFailedError
    from reflow.signals import TaskInterrupted

    params = parameters_from_namespace(args, workflow.cli_params())
    store: Any = None
    if args.store_path is not None:
        from reflow.stores.sqlite import SqliteStore

        store = SqliteStore(args.store_path)
    try:
        run = workflow.run_local(
            args.run_dir,
            max_workers=args.max_workers,
            force=args.force,
            force_tasks=args.force_tasks,
            verify=args.verify,
            on_error=args.on_error,
            store=store,
            **params,
        )
    except TaskFailedError as exc:
        print(f"{workflow.name}: {exc}", file=sys.stderr)
        return 1
    except (TaskInterrupted, KeyboardInterrupt):
        print(f"{workflow.name}: interrupted; the run is CANCELLED.", file=sys.stderr)
        return 130
    _show_run(workflow, run)
    status = run.store.get_run_record(run.run_id)
    return 0 if status is not None and status.status.value == "SUCCESS" else 1


def run_cli(workflow: Workflow, argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; return the exit status."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        parser = build_parser(workflow)
    except ReflowError as exc:  # the workflow itself is invalid
        if debug:
            raise
        print(f"{workflow.name}: error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if getattr(args, "verbose", 0):
        logging.basicConfig(
            level=logging.INFO if args.verbose == 1 else logging.DEBUG,
            format="%(levelname)s %(name)s: %(message)s",
        )
    try:
        workflow.validate()
        if args.command == "run":
            return _run(workflow, args)
        if args.command == "describe":
            from reflow.cli.render import describe_text

            desc = workflow.describe()
            print(json.dumps(desc, indent=2, sort_keys=True) if args.json else describe_text(desc))
        elif args.command == "dag":
            from reflow.cli.render import dag_text

            print(dag_text(workflow.describe(), args.format))
    except ReflowError as exc:
        if getattr(args, "debug", False):
            raise
        print(f"{workflow.name}: error: {exc}", file=sys.stderr)
        return 2
    return 0

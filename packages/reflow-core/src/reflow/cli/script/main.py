"""The command line of a workflow script (``wf.cli()``).

``run`` executes the workflow on this machine; ``submit`` sends it to a
scheduler; ``status``, ``cancel``, ``retry`` and ``runs`` look after
submitted runs; ``describe`` and ``dag`` show what it is made of.  Parameter
flags are generated from the task signatures (see :mod:`reflow.define.runparams`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from reflow import env
from reflow.errors import ReflowError

if TYPE_CHECKING:
    from reflow.workflow import Workflow

__all__ = ["build_parser", "run_cli"]


def _job_cap(text: str) -> int:
    """``--max-jobs``: a whole number the run's dispatchers can keep to."""
    # lazy: the script's --help loads the parser only, not the configuration
    from reflow.config import MIN_MAX_JOBS

    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < MIN_MAX_JOBS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole number of at least {MIN_MAX_JOBS} (the running "
            "dispatcher, the next one and one task job); give e.g. --max-jobs 100"
        )
    return value


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
    common.add_argument(
        "--store-path",
        type=Path,
        default=argparse.SUPPRESS,
        help="manifest database (default: the shared store, see REFLOW_STORE_PATH)",
    )
    return common


def _cache_options(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--run-dir", required=True, type=Path, help="the run's working directory")
    group.add_argument("--force", action="store_true", help="ignore the cache for every task")
    group.add_argument(
        "--force-tasks",
        nargs="+",
        default=None,
        metavar="TASK",
        help="ignore the cache for these tasks",
    )
    group.add_argument(
        "--verify",
        action="store_true",
        help="check cached outputs (files exist, verify= functions) before reuse",
    )


def build_parser(workflow: Workflow) -> argparse.ArgumentParser:
    """The workflow's parser: one subcommand per action, parameter flags on run/submit."""
    # lazy: the script's --help loads the parser only; a command loads what it runs
    from reflow.cli.commands.runs import add_selection_arguments
    from reflow.cli.script.parser import add_parameter_arguments

    common = _common()
    parser = argparse.ArgumentParser(
        prog=Path(sys.argv[0]).name if sys.argv and sys.argv[0] else workflow.name,
        description=f"Command line of the reflow workflow {workflow.name!r}.",
        parents=[common],
        allow_abbrev=False,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    params = workflow.cli_params()

    run = sub.add_parser(
        "run",
        parents=[common],
        allow_abbrev=False,
        help="run the whole workflow on this machine",
        description="Run the whole workflow on this machine, through the cache, recorded "
        "in the manifest store.",
    )
    opts = run.add_argument_group("run options")
    _cache_options(opts)
    opts.add_argument(
        "--max-workers",
        type=int,
        default=1,
        help="worker processes tasks run in (default: 1; never this process itself)",
    )
    opts.add_argument(
        "--on-error",
        choices=["stop", "continue"],
        default="stop",
        help="stop at the first failure, or run everything that does not "
        "depend on it (default: stop)",
    )
    add_parameter_arguments(run.add_argument_group("workflow parameters"), params)

    submit = sub.add_parser(
        "submit",
        parents=[common],
        allow_abbrev=False,
        help="submit the workflow to a scheduler",
        description="Create a run and submit it: short dispatcher jobs advance it wave by "
        "wave through the executor.",
    )
    sopts = submit.add_argument_group("submit options")
    _cache_options(sopts)
    sopts.add_argument(
        "--executor",
        default=None,
        help="executor name: local, slurm, pbs, lsf, sge, flux (default: the configured one)",
    )
    sopts.add_argument(
        "--dry-run",
        action="store_true",
        help="print the jobs the run would submit, wave by wave, instead of submitting anything",
    )
    sopts.add_argument(
        "--max-jobs",
        type=_job_cap,
        default=None,
        metavar="N",
        help="at most N of the run's jobs queued at once, each array element counting "
        "as one (default: [submit] max_jobs, else no cap)",
    )
    sopts.add_argument("--wait", action="store_true", help="wait until the run ends")
    sopts.add_argument(
        "--notify",
        nargs="?",
        const="",
        default=None,
        metavar="EVENTS",
        help="notify [notify]'s webhook/email of this run: end, failure, first_failure "
        "(comma-separated; default: [notify] on)",
    )
    add_parameter_arguments(submit.add_argument_group("workflow parameters"), params)

    status = sub.add_parser("status", parents=[common], help="show a run's state")
    status.add_argument(
        "run_id", metavar="RUN", help="run id, unique prefix/suffix, or latest (this workflow's)"
    )
    status.add_argument("--task", help="one line per instance of this task")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.add_argument("--errors", action="store_true", help="show failed instances' errors")

    cancel = sub.add_parser("cancel", parents=[common], help="cancel runs (their jobs too)")
    cancel.add_argument("run_ids", metavar="RUN", nargs="+")
    cancel.add_argument("--task", help="cancel only this task")
    cancel.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    retry = sub.add_parser(
        "retry", parents=[common], help="run failed and cancelled instances again"
    )
    retry.add_argument("run_id", metavar="RUN", help="run id, unique prefix/suffix, or latest")
    retry.add_argument("--task", help="retry only this task")

    runs = sub.add_parser(
        "runs",
        parents=[common],
        help="list this workflow's runs",
        description="List this workflow's runs, newest first, with the columns of 'reflow runs'.",
    )
    add_selection_arguments(runs)

    describe = sub.add_parser(
        "describe", parents=[common], help="show tasks, wiring and parameters"
    )
    describe.add_argument("--json", action="store_true", help="print the JSON description")
    dag = sub.add_parser("dag", parents=[common], help="show the task graph with its wire modes")
    dag.add_argument("--format", choices=["text", "mermaid", "dot"], default="text")
    return parser


def _log_level(verbose: int) -> int | None:
    """The level ``-v`` asks for, else ``REFLOW_LOG_LEVEL``; checks every ``REFLOW_*`` first."""
    env.check()
    if verbose:
        return logging.INFO if verbose == 1 else logging.DEBUG
    name = env.get(env.REFLOW_LOG_LEVEL)
    return None if name is None else int(logging.getLevelName(name.strip().upper()))


def run_cli(workflow: Workflow, argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; return the exit status."""
    # lazy: the script's --help loads the parser only; a command loads what it runs
    from reflow.cli.script import commands

    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        parser = build_parser(workflow)
    except ReflowError as exc:  # the workflow itself is invalid
        if debug:
            raise
        print(f"{workflow.name}: error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        level = _log_level(getattr(args, "verbose", 0))
    except ReflowError as exc:  # a REFLOW_* typo stops the command before it acts
        print(f"{workflow.name}: error: {exc}", file=sys.stderr)
        return 2
    if level is not None:
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    handlers = {
        "run": commands.run_local_command,
        "submit": commands.submit_command,
        "status": commands.status_command,
        "cancel": commands.cancel_command,
        "retry": commands.retry_command,
        "runs": commands.runs_command,
    }
    try:
        workflow.validate()
        if args.command in handlers:
            return handlers[args.command](workflow, args)
        if args.command == "describe":
            # lazy: the script's --help loads the parser only; a command loads what it runs
            from reflow.cli.render import describe_text

            desc = workflow.describe()
            print(json.dumps(desc, indent=2, sort_keys=True) if args.json else describe_text(desc))
        elif args.command == "dag":
            # lazy: the script's --help loads the parser only; a command loads what it runs
            from reflow.cli.render import dag_text

            print(dag_text(workflow.describe(), args.format))
    except ReflowError as exc:
        if getattr(args, "debug", False):
            raise
        print(f"{workflow.name}: error: {exc}", file=sys.stderr)
        return 2
    return 0

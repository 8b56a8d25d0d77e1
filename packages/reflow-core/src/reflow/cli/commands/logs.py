"""``reflow logs RUN TASK[INDEX]``: print the stdout (or stderr) file of an instance's job.

The file is found from the run directory and the job id the store recorded
(see :mod:`reflow.cli.joblogs`), for every executor.  ``--follow`` keeps
printing what the job appends until the instance has ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reflow._types import RunState, TaskState
from reflow.runs.context import recorded_context

if TYPE_CHECKING:
    import argparse

    from reflow.stores import Store, TaskInstanceRecord

__all__ = ["DESCRIPTION", "HELP", "NAME", "add_arguments", "run"]

NAME = "logs"
HELP = "print the stdout or stderr file of a task instance's job"
DESCRIPTION = (
    "Print the log file the scheduler (or the local executor) wrote for one task instance: "
    "its stdout, or its stderr with --stderr. TASK[INDEX] names an array element "
    "(process[3]); a task alone names a singleton. --follow keeps printing until the "
    "instance ends."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``RUN``, ``TASK[INDEX]``, ``--stderr``, ``--follow``, ``--path``."""
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.runref import add_store_option

    parser.add_argument("run_ref", metavar="RUN", help="run id, unique prefix/suffix, or latest")
    parser.add_argument("instance", metavar="TASK[INDEX]", help="the instance, e.g. process[3]")
    parser.add_argument("--stderr", action="store_true", help="the .err file instead of .out")
    parser.add_argument(
        "-f", "--follow", action="store_true", help="keep printing until the instance ends"
    )
    parser.add_argument(
        "--path", action="store_true", help="print the file's path instead of its contents"
    )
    add_store_option(parser)


def run(args: argparse.Namespace) -> int:
    """Print the log (or its path)."""
    import sys

    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.joblogs import follow_file, log_candidates, log_path
    from reflow.cli.runref import find_instance, open_cli_store, parse_instance, resolve_run
    from reflow.runs.layout import RunLayout

    store = open_cli_store(args)
    record = resolve_run(store, args.run_ref)
    task, index = parse_instance(args.instance)
    if args.follow:
        try:
            _wait_for_instance(store, record.run_id, task, index)
        except KeyboardInterrupt:
            sys.stderr.write("reflow: stopped following.\n")
            return 130
    inst = find_instance(store, record.run_id, task, index)
    suffix = "err" if args.stderr else "out"
    if args.path:
        sys.stdout.write(f"{log_path(record, inst, suffix)}\n")
        return 0
    if not args.follow:
        path = log_path(record, inst, suffix)
        data = path.read_bytes()
        if index is not None:  # a packed array task's log: this element's part of it
            # lazy: as above
            from reflow.engine.scheduler.packing import element_part

            data = element_part(data, index) or data
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    try:
        inst = _wait_for_job(store, inst)
    except KeyboardInterrupt:
        sys.stderr.write("reflow: stopped following.\n")
        return 130
    candidates = log_candidates(record, inst, suffix)
    path = next((p for p in candidates if p.exists()), candidates[0])
    run_dir = recorded_context(record).run_dir
    done = RunLayout(run_dir, record.run_id).result_file(task, inst.array_index)

    def finished() -> bool:
        now = store.get_task_instance_record(record.run_id, task, inst.array_index)
        return (
            now is None
            or now.state in TaskState.terminal()
            or done.exists()
            or not _run_active(store, record.run_id)
        )

    try:
        follow_file(path, sys.stdout.buffer, finished)
    except KeyboardInterrupt:
        sys.stderr.write("reflow: stopped following.\n")
        return 130
    return 0


def _run_active(store: Store, run_id: str) -> bool:
    """Whether the run is still active.

    An ended run (a crashed dispatcher's, a cancelled one) may leave instances
    non-terminal for ever: nothing will submit or finish them any more.
    """
    record = store.get_run_record(run_id)
    return record is not None and record.status in RunState.active()


def _wait_for_job(store: Store, inst: TaskInstanceRecord) -> TaskInstanceRecord:
    """For ``--follow``: wait while the instance waits to be submitted."""
    import time

    while (not inst.job_id or inst.job_id.startswith("pending:")) and (
        inst.state not in TaskState.terminal()
    ):
        if not _run_active(store, inst.run_id):  # nothing will submit it any more
            break
        time.sleep(1.0)
        now = store.get_task_instance_record(inst.run_id, inst.task_name, inst.array_index)
        if now is None:
            break
        inst = now
    return inst


def _wait_for_instance(store: Store, run_id: str, task: str, index: int | None) -> None:
    """For ``--follow``: wait while the run is active and has not planned the instance yet."""
    import time

    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.runref import task_spec

    task_spec(store, run_id, task)  # a wrong name fails at once
    while store.get_task_instance_record(run_id, task, index) is None:
        record = store.get_run_record(run_id)
        if record is None or record.status not in RunState.active():
            return
        time.sleep(1.0)

"""``reflow explain RUN TASK[INDEX]``: why an instance was, or was not, taken from the cache.

A hit names the run and instance the result came from; a miss names what
changed since the last run of the workflow that ran it (a parameter, an
input, an upstream output, the task's version or code fingerprint), or says
the task was forced or has its cache turned off.  For an array task named
without an index, the elements are counted by cache decision and the first
element of each kind is explained.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reflow.define.labels import instance_label
from reflow.errors import ReflowError

if TYPE_CHECKING:
    import argparse

    from reflow.stores import Store, TaskInstanceRecord

__all__ = ["DESCRIPTION", "HELP", "NAME", "add_arguments", "run"]

NAME = "explain"
HELP = "say why a task instance was or was not taken from the cache"
DESCRIPTION = (
    "Explain the cache decision of one task instance of RUN: a hit names the run and "
    "instance its result came from; a miss names the parameter, input, upstream output or "
    "code change that made it run, or says it was forced or its cache is off. An array task "
    "without [INDEX] is summarised over its elements."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``RUN``, ``TASK[INDEX]`` and ``--json``."""
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.runref import add_store_option

    parser.add_argument("run_ref", metavar="RUN", help="run id, unique prefix/suffix, or latest")
    parser.add_argument(
        "instance", metavar="TASK[INDEX]", help="the instance, e.g. process[3], or a task"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    add_store_option(parser)


def _explained(store: Store, inst: TaskInstanceRecord) -> dict[str, Any]:
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cache.explain import explain_instance

    info = inst.cache_info
    return {
        "instance": instance_label(inst.task_name, inst.array_index),
        "task": inst.task_name,
        "array_index": inst.array_index,
        "state": inst.state.value,
        "cache": info.get("status"),
        "source": info.get("source"),
        "identity": inst.identity,
        "explanation": explain_instance(store, inst.run_id, inst.task_name, inst.array_index),
    }


def _array_summary(store: Store, run_id: str, task: str) -> dict[str, Any]:
    """Counts of cache decisions over the elements, and the first element of each."""
    counts: dict[str, int] = {}
    first: dict[str, TaskInstanceRecord] = {}
    for inst in store.list_task_instance_records(run_id, task):
        status = str(inst.cache_info.get("status") or "undecided")
        if "planned_code" in inst.cache_info:  # each such element gets its own example
            status += " (ran edited code)"
        if "file_changes" in inst.cache_info:
            status += " (ran with changed files)"
        counts[status] = counts.get(status, 0) + 1
        first.setdefault(status, inst)
    if not counts:
        raise ReflowError(
            f"Task {task} has no elements in run {run_id} yet (not planned: its upstream tasks "
            "have not finished, or failed)."
        )
    return {
        "task": task,
        "elements": sum(counts.values()),
        "counts": counts,
        "examples": [_explained(store, inst) for inst in first.values()],
    }


def run(args: argparse.Namespace) -> int:
    """Print the explanation."""
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.output import Line, Printer
    from reflow.cli.runref import (
        find_instance,
        open_cli_store,
        parse_instance,
        resolve_run,
        task_spec,
    )
    from reflow.runs.attempts import recorded_attempts

    store = open_cli_store(args)
    record = resolve_run(store, args.run_ref)
    task, index = parse_instance(args.instance)
    printer = Printer()
    styles = {"hit": "green", "miss": "yellow", "output_changed": "yellow", "verify_failed": "red"}
    if index is None and task_spec(store, record.run_id, task).is_array:
        summary = _array_summary(store, record.run_id, task)
        summary["run_id"] = record.run_id
        if args.json:
            printer.json(summary)
            return 0
        parts = ", ".join(f"{n} {status}" for status, n in sorted(summary["counts"].items()))
        doc = [Line(f"{task}: {summary['elements']} elements: {parts}.", "bold")]
        for example in summary["examples"]:
            doc.append(Line())
            doc += [
                Line(text, styles.get(example["cache"] or "", "") if i == 0 else "")
                for i, text in enumerate(example["explanation"].splitlines())
            ]
        printer.show(doc)
        return 0
    explained = _explained(store, find_instance(store, record.run_id, task, index))
    explained["run_id"] = record.run_id
    log = recorded_attempts(record)
    tries = log.of(task, index) if log is not None else []
    explained["attempts"] = [a.summary() for a in tries]
    if args.json:
        printer.json(explained)
        return 0
    printer.show(
        Line(text, styles.get(explained["cache"] or "", "") if i == 0 else "")
        for i, text in enumerate(explained["explanation"].splitlines())
    )
    if tries:  # why it ran more than once (reflow.runs.attempts)
        printer.show(
            [Line(), Line("Attempts:", "bold"), *(Line(f"  {t.summary()}") for t in tries)]
        )
    return 0

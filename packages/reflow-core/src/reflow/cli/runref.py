"""Naming runs and task instances on the ``reflow`` command line.

``RUN`` is a run id, any unique prefix of one, the random suffix a run id
ends with (or any unique part of at least four characters), or ``latest``
(the newest run in the store).  An instance is
``TASK`` or ``TASK[INDEX]``.  Every command that takes them opens the
store the same way: ``--store-path``, else the shared store
(``REFLOW_STORE_PATH``, the configuration, the user cache directory).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from reflow.errors import ReflowError

if TYPE_CHECKING:
    import argparse

    from reflow.stores import RunRecord, Store, TaskInstanceRecord, TaskSpecRecord

__all__ = [
    "LATEST",
    "add_run_options",
    "add_store_option",
    "find_instance",
    "init_for_reading",
    "open_cli_store",
    "opened_run",
    "parse_instance",
    "resolve_run",
    "task_spec",
]

LATEST = "latest"
"""The ``RUN`` that names the newest run in the store."""

_INSTANCE = re.compile(r"^(?P<task>[^\[\]\s]+)(?:\[(?P<index>\d+)\])?$")


def add_store_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--store-path`` (the manifest database to read)."""
    parser.add_argument(
        "--store-path",
        type=Path,
        default=None,
        metavar="FILE",
        help="manifest database (default: the shared store, see REFLOW_STORE_PATH)",
    )


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Add the ``RUN`` argument (read as ``args.run_ref``) and ``--store-path``."""
    parser.add_argument(
        "run_ref",
        metavar="RUN",
        help="a run id, a unique part of one, or 'latest' (see: reflow runs)",
    )
    add_store_option(parser)


@contextmanager
def opened_run(args: argparse.Namespace) -> Iterator[tuple[Store, RunRecord]]:
    """Open the store of :func:`add_run_options`' arguments and resolve ``RUN`` in it.

    The store is closed when the block ends, also when ``RUN`` names no run.

    Yields
    ------
    tuple of (Store, RunRecord)
        The open store and the run ``args.run_ref`` names.

    Raises
    ------
    StoreMissingError
        If there is no store (see :func:`open_cli_store`).
    ReflowError
        If ``RUN`` names no run or several (see :func:`resolve_run`).
    """
    store = open_cli_store(args)
    try:
        yield store, resolve_run(store, args.run_ref)
    finally:
        store.close()


def open_cli_store(args: argparse.Namespace) -> Store:
    """The store ``--store-path`` names, else the shared default one, opened.

    The store is never created here: the commands that open it this way read
    it (``gc`` changes only what exists), so a mistyped path must not leave an
    empty store behind.  A store the user cannot write is opened read-only.

    Raises
    ------
    StoreMissingError
        If there is no store at the path.
    """
    # lazy: `reflow --help` imports this via every command; the store loads when used
    from reflow.config import load_config
    from reflow.stores import StoreMissingError, open_store

    path = getattr(args, "store_path", None)
    if path is not None and not Path(path).expanduser().exists():
        # Opening would find no store either; name the option that was mistyped.
        raise StoreMissingError(
            f"No manifest store at {path} (--store-path); give the path of an existing "
            "store, or leave the option out to use the shared one."
        )
    store = open_store(path, None if path else load_config(), create=False)
    init_for_reading(store, [getattr(args, "run_ref", None)])
    return store


def init_for_reading(store: Store, refs: Iterable[str | None]) -> None:
    """Open a store that must exist; if it does not, name the runs the user asked for.

    Raises
    ------
    StoreMissingError
        ``No run 'RUN': there is no manifest database at ...`` when ``refs``
        names runs, else the store's own message.
    """
    # lazy: `reflow --help` imports this via every command; the store loads when used
    from reflow.stores import StoreMissingError

    try:
        store.init()
    except StoreMissingError as exc:
        named = ", ".join(repr(ref) for ref in refs if ref)
        if not named:
            raise
        text = str(exc)
        raise StoreMissingError(f"No run {named}: {text[:1].lower()}{text[1:]}") from exc


def _where(store: Store) -> str:
    path = getattr(store, "path", None)
    return f" {path}" if path else ""


def resolve_run(
    store: Store, ref: str, workflow: str | None = None, runs_command: str = "reflow runs"
) -> RunRecord:
    """The run ``ref`` names: an id, a unique prefix, suffix or part of one, or ``latest``.

    ``latest`` is the current user's newest run (the newest of any user's
    when the store holds none of theirs); an id or part of one names a run
    of any user.

    Parameters
    ----------
    store : Store
        The manifest store.
    ref : str
        What the user typed.
    workflow : str or None
        Match prefixes, suffixes and ``latest`` among this workflow's runs
        only (a workflow script's own command line); a full run id is found
        whatever its workflow.
    runs_command : str
        The command that lists the runs, for the message when none matches.

    Raises
    ------
    ReflowError
        If no run matches, or several do (the message lists them).
    """
    ref = ref.strip()
    record = store.get_run_record(ref)
    if record is not None:
        return record
    records = store.list_run_records(graph_name=workflow)
    if ref == LATEST:
        if not records:
            of = f" of workflow {workflow!r}" if workflow else ""
            raise ReflowError(f"The manifest store{_where(store)} holds no runs{of} yet.")
        # lazy: `reflow --help` imports this via every command; getpass only when used
        from reflow.runs.creation import user_name

        # In a store several users share, yours: the newest of anyone's only when you have none.
        me = user_name()
        return next((r for r in records if r.user_id == me), records[0])
    matches = [r for r in records if r.run_id.startswith(ref)] if ref else []
    if not matches and ref:
        matches = [r for r in records if r.run_id.endswith(ref)]
    if not matches and len(ref) >= 4:
        matches = [r for r in records if ref in r.run_id]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ReflowError(
            f"No run {ref!r} in the manifest store{_where(store)}. List the runs with "
            f"'{runs_command}', or point REFLOW_STORE_PATH (or --store-path) at the store the "
            "run was recorded in."
        )
    shown = ", ".join(r.run_id for r in matches[:5])
    more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
    raise ReflowError(
        f"{ref!r} matches {len(matches)} runs ({shown}{more}); give more of the run id."
    )


def parse_instance(text: str) -> tuple[str, int | None]:
    """``"process[3]"`` gives ``("process", 3)``, ``"report"`` gives ``("report", None)``.

    Raises
    ------
    ReflowError
        If the text is neither form.
    """
    match = _INSTANCE.match(text.strip())
    if match is None:
        raise ReflowError(
            f"{text!r} does not name a task instance; write TASK for a task or TASK[INDEX] "
            "for an element of an array task, for example 'process[3]'."
        )
    index = match["index"]
    return match["task"], None if index is None else int(index)


def task_spec(store: Store, run_id: str, task: str) -> TaskSpecRecord:
    """The recorded specification of ``task`` in the run.

    Raises
    ------
    ReflowError
        If the run has no such task (with the closest name, if any).
    """
    spec = store.get_task_spec_record(run_id, task)
    if spec is not None:
        return spec
    # lazy: `reflow --help` imports this via every command; the store loads when used
    from reflow.define.graph import did_you_mean

    names = [s.task_name for s in store.list_task_spec_records(run_id)]
    raise ReflowError(
        f"Run {run_id} has no task {task!r}.{did_you_mean(task, names)} "
        f"Its tasks: {', '.join(names) or 'none'}."
    )


def find_instance(store: Store, run_id: str, task: str, index: int | None) -> TaskInstanceRecord:
    """The instance ``task[index]`` of the run (``index`` ``None`` for a singleton).

    Raises
    ------
    ReflowError
        If the task does not exist, the index does not fit the task's kind,
        or the instance has not been planned.
    """
    # lazy: `reflow --help` imports this via every command; the store loads when used
    from reflow.define.labels import instance_label

    spec = task_spec(store, run_id, task)
    if spec.is_array and index is None:
        count = store.count_task_instances(run_id, task)
        span = f" ({task}[0] to {task}[{count - 1}])" if count else ""
        raise ReflowError(f"{task} is an array task: name one element{span}.")
    if not spec.is_array and index is not None:
        raise ReflowError(f"{task} is not an array task: name it without an index.")
    inst = store.get_task_instance_record(run_id, task, index)
    if inst is None:
        raise ReflowError(
            f"Run {run_id} has no instance {instance_label(task, index)} (not planned: its "
            "upstream tasks have not finished or failed, or the array is shorter)."
        )
    return inst

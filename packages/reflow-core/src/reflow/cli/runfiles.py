"""The files a run leaves in its run directory, for ``reflow gc``.

A run owns, inside its run directory (see :class:`reflow.runs.layout.RunLayout`),
``results/<run id>/`` (the workers' result files), ``.reflow/<run id>/``
(inputs, started records, dispatcher bookkeeping, the frozen code its jobs
import) and, in ``logs/``, the stdout and stderr files of its task jobs
(``<task>-<job>.out``, ``<task>-<job>_<n>.err`` ...) and of its dispatcher
jobs (``dispatch.<run id>-<job>.out`` / ``.err``).  Everything else in the
run directory (what the tasks themselves wrote, other runs' files) is left
alone.
"""

from __future__ import annotations

import contextlib
import glob
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reflow.executors.arrays import split_job_id
from reflow.executors.jobs import split_element_id
from reflow.runs.context import recorded_run_dir
from reflow.runs.layout import LEGACY_DISPATCHER_LOG_GLOB, RunLayout, task_log_parts

if TYPE_CHECKING:
    from collections.abc import Iterable

    from reflow.stores import RunRecord, Store

__all__ = ["RunFiles", "claimed_logs", "run_files"]


@dataclass(frozen=True)
class RunFiles:
    """A run's files and folders, with their count and size.

    Attributes
    ----------
    paths : tuple[Path, ...]
        Existing files and folders to remove.
    files : int
        Number of files in them.
    size : int
        Their total size in bytes.
    shared : tuple[Path, ...]
        Folders every run of the run directory shares (``results/``,
        ``.reflow/``), removed with the run's files when they are then empty.
    """

    paths: tuple[Path, ...]
    files: int
    size: int
    shared: tuple[Path, ...] = ()

    def remove(self) -> None:
        """Delete every path (folders with their contents); missing ones are skipped."""
        for path in self.paths:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        for folder in self.shared:  # once their last run is gone
            with contextlib.suppress(OSError):
                folder.rmdir()


def _layout(record: RunRecord) -> RunLayout | None:
    """Where the run's files are, or ``None`` if it recorded no run directory."""
    run_dir = recorded_run_dir(record)
    return RunLayout(run_dir, record.run_id) if run_dir is not None else None


def _job_logs(store: Store, record: RunRecord, layout: RunLayout) -> list[Path]:
    """The log files in ``logs`` of the run's task jobs (by task name and job id)."""
    logs = layout.logs_dir
    if not logs.is_dir():
        return []
    jobs: set[str] = set()
    for inst in store.list_task_instance_records(record.run_id):
        if inst.job_id and not inst.job_id.startswith("pending:"):
            jobs.update(split_job_id(split_element_id(inst.job_id)[0]))
    if not jobs:
        return []
    tasks = {s.task_name.replace("/", "_") for s in store.list_task_spec_records(record.run_id)}
    found = []
    for path in logs.iterdir():
        parts = task_log_parts(path.name)
        if parts is not None and parts[0] in tasks and parts[1] in jobs:
            found.append(path)
    return sorted(found)


def _dispatcher_logs(record: RunRecord, layout: RunLayout) -> list[Path]:
    """The run's dispatcher log files: by their name, and those of older runs by their text."""
    return sorted(layout.dispatcher_logs() + _legacy_dispatcher_logs(record, layout))


def _legacy_dispatcher_logs(record: RunRecord, layout: RunLayout) -> list[Path]:
    """The dispatcher logs of a run made before their names held the run id.

    Those are named for the workflow only (:data:`LEGACY_DISPATCHER_LOG_GLOB`),
    so the run is read from the line ``run <run id>: <state>`` each
    dispatcher logs last.  Kept so that ``reflow gc`` still cleans up such runs.
    """
    logs = layout.logs_dir
    if not logs.is_dir():
        return []
    mark = f" run {record.run_id}: ".encode()
    found = []
    pattern = LEGACY_DISPATCHER_LOG_GLOB.format(workflow=glob.escape(record.graph_name))
    for err in logs.glob(pattern):
        try:
            with err.open("rb") as handle:
                handle.seek(max(0, err.stat().st_size - 8192))
                tail = handle.read()
        except OSError:
            continue
        if mark in tail:
            found.append(err)
            out = err.with_suffix(".out")
            if out.exists():
                found.append(out)
    return sorted(found)


def _measure(path: Path) -> tuple[int, int]:
    if path.is_file() or path.is_symlink():
        return 1, path.lstat().st_size
    files = size = 0
    for item in path.rglob("*"):
        if item.is_file():
            files += 1
            size += item.lstat().st_size
    return files, size


def claimed_logs(store: Store, records: Iterable[RunRecord]) -> frozenset[Path]:
    """The log files (resolved) the runs ``records`` would count as theirs.

    Two executors that count job ids separately (two users' local executors,
    or one whose state directory was emptied) give their jobs the same ids,
    so two runs in one run directory can name the same log file: the runs
    that stay keep it.
    """
    claimed: set[Path] = set()
    for record in records:
        layout = _layout(record)
        if layout is not None:
            try:
                found = _job_logs(store, record, layout) + _dispatcher_logs(record, layout)
                claimed.update(path.resolve() for path in found)
            except OSError:  # a folder this user cannot read: nothing in it can go either
                continue
    return frozenset(claimed)


def run_files(store: Store, record: RunRecord, keep: frozenset[Path] = frozenset()) -> RunFiles:
    """The files ``record``'s run owns in its run directory (read before the run is deleted).

    Log files in ``keep`` (resolved paths, see :func:`claimed_logs`) are left out.

    Raises
    ------
    OSError
        If the run directory cannot be read (another user's, say).
    """
    layout = _layout(record)
    if layout is None or not layout.own_dirs:
        return RunFiles((), 0, 0)
    paths = [p for p in layout.own_dirs if p.exists()]
    logs = _job_logs(store, record, layout) + _dispatcher_logs(record, layout)
    paths += [p for p in logs if p.resolve() not in keep]
    files = size = 0
    for path in paths:
        n, b = _measure(path)
        files += n
        size += b
    return RunFiles(tuple(paths), files, size, (layout.results_root, layout.state_root))

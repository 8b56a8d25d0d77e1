"""The files a run leaves in its run directory, for ``reflow gc``.

A run owns, inside its run directory, ``results/<run id>/`` (the workers'
result files), ``.reflow/<run id>/`` (inputs, started records, dispatcher
bookkeeping, the frozen code its jobs import) and, in ``logs/``, the stdout
and stderr files of its task jobs (``<task>-<job>.out``,
``<task>-<job>_<n>.err`` ...) and of its dispatcher
jobs (``<workflow>.dispatch-<job>.out`` / ``.err``, recognised by the line
``run <run id>: <state>`` each dispatcher logs last).  Everything else in
the run directory (what the tasks themselves wrote, other runs' files) is
left alone.
"""

from __future__ import annotations

import contextlib
import glob
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reflow.runs.context import recorded_run_dir

if TYPE_CHECKING:
    from collections.abc import Iterable

    from reflow.stores import RunRecord, Store

__all__ = ["RunFiles", "claimed_logs", "run_files"]

_LOG = re.compile(r"^(?P<task>.+)-(?P<job>[^-_]+)(?:_\d+)?\.(?:out|err)$")


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
    """

    paths: tuple[Path, ...]
    files: int
    size: int

    def remove(self) -> None:
        """Delete every path (folders with their contents); missing ones are skipped."""
        for path in self.paths:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        for path in self.paths:  # results/ and .reflow/ once their last run is gone
            parent = path.parent
            if parent.name in ("results", ".reflow"):
                with contextlib.suppress(OSError):
                    parent.rmdir()


def _safe_name(run_id: str) -> bool:
    return bool(run_id) and "/" not in run_id and "\\" not in run_id and run_id not in (".", "..")


def _job_logs(store: Store, record: RunRecord, logs: Path) -> list[Path]:
    """The log files in ``logs`` of the run's task jobs (by task name and job id)."""
    from reflow.executors.arrays import split_job_id
    from reflow.executors.jobs import split_element_id

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
        match = _LOG.match(path.name)
        if match and match["task"] in tasks and match["job"] in jobs:
            found.append(path)
    return sorted(found)


def _dispatcher_logs(record: RunRecord, logs: Path) -> list[Path]:
    """The dispatcher jobs' log files of the run, found by the run id their stderr names."""
    if not logs.is_dir():
        return []
    mark = f" run {record.run_id}: ".encode()
    found = []
    for err in logs.glob(f"{glob.escape(record.graph_name)}.dispatch-*.err"):
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
        run_dir = recorded_run_dir(record)
        if run_dir is not None:
            logs = run_dir / "logs"
            try:
                found = _job_logs(store, record, logs) + _dispatcher_logs(record, logs)
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
    root = recorded_run_dir(record)
    if root is None or not _safe_name(record.run_id):
        return RunFiles((), 0, 0)
    paths = [
        p
        for p in (root / "results" / record.run_id, root / ".reflow" / record.run_id)
        if p.exists()
    ]
    logs = _job_logs(store, record, root / "logs") + _dispatcher_logs(record, root / "logs")
    paths += [p for p in logs if p.resolve() not in keep]
    files = size = 0
    for path in paths:
        n, b = _measure(path)
        files += n
        size += b
    return RunFiles(tuple(paths), files, size)

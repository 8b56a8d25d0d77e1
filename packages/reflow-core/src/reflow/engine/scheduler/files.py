"""The files dispatchers and workers exchange in the run directory.

``<run_dir>/.reflow/<run>/inputs/<task>/<i>.json``   what instance ``i`` receives
``<run_dir>/.reflow/<run>/started/<task>/<i>.json``  the worker started: host, pid, time
``<run_dir>/results/<run>/<task>/<i>.json``          the worker's result (output or error)

``<run>`` is the run id (several runs may share a run directory), ``<i>`` the
array index, or ``single`` for a singleton.  Every file is
written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "dispatcher_file",
    "input_file",
    "read_json",
    "result_file",
    "run_state_dir",
    "started_file",
    "write_json_atomic",
]


def _name(index: int | None) -> str:
    return "single" if index is None else str(index)


def run_state_dir(run_dir: Path, run_id: str) -> Path:
    """The run's own bookkeeping folder inside the run directory."""
    return run_dir / ".reflow" / run_id


def input_file(run_dir: Path, run_id: str, task: str, index: int | None) -> Path:
    """Where the dispatcher writes an instance's inputs."""
    return run_state_dir(run_dir, run_id) / "inputs" / task / f"{_name(index)}.json"


def started_file(run_dir: Path, run_id: str, task: str, index: int | None) -> Path:
    """Where a worker marks that it started."""
    return run_state_dir(run_dir, run_id) / "started" / task / f"{_name(index)}.json"


def result_file(run_dir: Path, run_id: str, task: str, index: int | None) -> Path:
    """Where a worker writes its result."""
    return run_dir / "results" / run_id / task / f"{_name(index)}.json"


def dispatcher_file(run_dir: Path, run_id: str) -> Path:
    """Where the id of the run's next (pending) dispatcher job is kept."""
    return run_state_dir(run_dir, run_id) / "dispatcher.json"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, separators=(",", ":"), sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any:
    """Read a JSON file; raises ``FileNotFoundError`` or ``ValueError``.

    JSON nested deeper than Python's recursion limit is a ``ValueError`` too,
    so one bad file fails its own instance, not the dispatcher reading it.
    """
    with path.open(encoding="utf-8") as handle:
        try:
            return json.load(handle)
        except RecursionError:
            raise ValueError(f"{path} is nested too deeply to read") from None

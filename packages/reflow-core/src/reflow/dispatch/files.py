"""The files dispatchers and workers exchange in the run directory.

``<run_dir>/.reflow/inputs/<task>/<i>.json``   what instance ``i`` receives (dispatcher writes)
``<run_dir>/.reflow/started/<task>/<i>.json``  the worker started: host, pid, time
``<run_dir>/results/<task>/<i>.json``          the worker's result (output or error, usage)

``<i>`` is the array index, or ``single`` for a singleton.  Every file is
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
    "started_file",
    "write_json_atomic",
]


def _name(index: int | None) -> str:
    return "single" if index is None else str(index)


def input_file(run_dir: Path, task: str, index: int | None) -> Path:
    """Where the dispatcher writes an instance's inputs."""
    return run_dir / ".reflow" / "inputs" / task / f"{_name(index)}.json"


def started_file(run_dir: Path, task: str, index: int | None) -> Path:
    """Where a worker marks that it started."""
    return run_dir / ".reflow" / "started" / task / f"{_name(index)}.json"


def result_file(run_dir: Path, task: str, index: int | None) -> Path:
    """Where a worker writes its result."""
    return run_dir / "results" / task / f"{_name(index)}.json"


def dispatcher_file(run_dir: Path) -> Path:
    """Where the id of the run's next (pending) dispatcher job is kept."""
    return run_dir / ".reflow" / "dispatcher.json"


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
    """Read a JSON file; raises ``FileNotFoundError`` or ``ValueError``."""
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)

"""Reading and writing the JSON files of a run directory, atomically.

Where each file lives is :class:`reflow.runs.layout.RunLayout`'s business.
Every file is written to a temporary name and renamed, so a reader never
sees half a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["read_json", "write_json_atomic", "write_json_plain"]


def write_json_atomic(path: Path, data: Any, *, durable: bool = True) -> None:
    """Write JSON to ``path`` through a temporary file and a rename.

    With ``durable`` the data reach the disk (``fsync``) before the rename, so
    a crash of the machine leaves the old file or the whole new one.  Files
    that a crash may lose at no cost skip it (an ``fsync`` is the dearest step
    of a small worker): a worker's result, which the dispatcher copies into the
    store (a lost or truncated one fails its instance with a reason, and
    ``retry`` runs it again), and an instance's inputs, which ``retry`` writes
    again from the store.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temporary(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            # One write: json.dump would make one per token (~60 for a result file).
            handle.write(json.dumps(data, separators=(",", ":"), sort_keys=True))
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _temporary(path: Path) -> tuple[int, Path]:
    """A new file beside ``path``, opened for writing, only the owner may read (as mkstemp).

    Not :func:`tempfile.mkstemp`: importing :mod:`tempfile` (with ``shutil``,
    ``random``, ``bz2`` and ``lzma``) costs a worker, which writes one result
    and nothing else, 3-7 ms per element (``python -X importtime``).
    """
    while True:
        tmp = path.parent / f".{path.name}.{os.getpid()}.{os.urandom(6).hex()}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), tmp
        except FileExistsError:  # pragma: no cover - 48 random bits and the pid collided
            continue


def write_json_plain(path: Path, data: Any) -> None:
    """Write JSON to ``path`` in place: no temporary file, no rename, no ``fsync``.

    For a small record every reader of which takes a missing or half-written
    file for "not yet" (a worker's started record): a rename costs as much as
    the rest of a trivial element on a busy disk.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, separators=(",", ":"), sort_keys=True), encoding="utf-8")


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

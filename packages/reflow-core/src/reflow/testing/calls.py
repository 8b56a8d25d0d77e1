"""A list that task functions can append to from worker processes.

``run_local`` runs tasks in worker processes, never in the caller's own
process, so a plain list that a test (or a notebook) hands its tasks never
sees what they append.  A :class:`CallLog` keeps each entry as one JSON line
in a file, which every process can append to.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["CallLog"]


class CallLog:
    """Entries appended by any process, read back in the order they were written.

    Parameters
    ----------
    path : Path
        The file that holds the entries; it is emptied.

    Examples
    --------
    >>> calls = CallLog(tmp_path / "calls")  # doctest: +SKIP
    >>> @wf.job()  # doctest: +SKIP
    ... def root() -> int:
    ...     calls.append("root")
    ...     return 1
    >>> wf.run_local(tmp_path / "run")  # doctest: +SKIP
    >>> calls == ["root"]  # doctest: +SKIP
    True
    """

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by content

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.clear()

    def append(self, value: Any) -> None:
        """Add ``value`` (JSON data) at the end; one ``write``, so processes do not interleave."""
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (json.dumps(value) + "\n").encode())
        finally:
            os.close(fd)

    def clear(self) -> None:
        """Remove every entry."""
        self.path.write_text("")

    def entries(self) -> list[Any]:
        """Every entry, oldest first."""
        return [json.loads(line) for line in self.path.read_text().splitlines()]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.entries())

    def __len__(self) -> int:
        return len(self.entries())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CallLog):
            return self.entries() == other.entries()
        if isinstance(other, list):
            return self.entries() == other
        return NotImplemented

    def __repr__(self) -> str:
        return f"CallLog({self.entries()!r})"

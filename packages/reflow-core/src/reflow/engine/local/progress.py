"""A one-line progress display for run_local, shown only on a terminal."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Counts of instances done, running, failed, cached and skipped.

    Drawn on standard error at most ten times a second when it is a
    terminal; silent otherwise (logs and pipes stay clean).
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total = self.done = self.running = self.failed = self.cached = self.skipped = 0
        self._last = 0.0

    def line(self) -> str:
        """The text of the display."""
        finished = self.done + self.cached + self.failed
        return (
            f"reflow: {finished}/{self.total} instances  done {self.done}  "
            f"cached {self.cached}  running {self.running}  failed {self.failed}"
            + (f"  skipped tasks {self.skipped}" if self.skipped else "")
        )

    def show(self, *, force: bool = False) -> None:
        """Redraw the line if enough time has passed (or ``force``)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        self.stream.write("\r\x1b[2K" + self.line())
        self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.enabled:
            self.show(force=True)
            self.stream.write("\n")
            self.stream.flush()

"""Drawing a run's counts: a live table on a terminal, a plain line per change otherwise."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from reflow.cli.live.counts import RunCounts, TaskCounts, format_seconds

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.live import Live

__all__ = ["LISTED", "PLAIN_EVERY", "LiveDisplay", "plain_line", "table"]

PLAIN_EVERY = 5.0
"""Seconds between two plain lines at least: a log stays readable on a long run."""

_REDRAW_EVERY = 0.1
"""Seconds between two redraws of the live table at least."""


def _task_text(name: str, counts: TaskCounts, now: float) -> str:
    if counts.first_seen is None and not counts.total:
        return f"{name} -"  # not planned yet: its number of instances is not known
    parts = [f"{name} {counts.finished}/{counts.total}"]
    for label, n in (
        ("cached", counts.cached),
        ("running", counts.running),
        ("failed", counts.failed),
        ("skipped", counts.skipped),
    ):
        if n:
            parts.append(f"{label} {n}")
    if counts.finished < counts.total:
        parts.append(f"ETA {format_seconds(counts.eta(now))}")
    return " ".join(parts)


LISTED = 8
"""Tasks a plain line names at most; a bigger workflow's line counts the rest."""


def plain_line(counts: RunCounts) -> str:
    """One line for a log: elapsed time, then each task's counts.

    A workflow of more than :data:`LISTED` tasks gets a line that stays short:
    how many tasks are done, the unfinished ones that have started (at most
    :data:`LISTED`), and how many have not started.

    Examples
    --------
    >>> run = RunCounts.of(["find"])
    >>> run.tasks["find"].total = run.tasks["find"].done = 1
    >>> line = plain_line(run)
    >>> line.startswith("reflow: [0s] find 1/1")
    True
    """
    now = time.monotonic()
    items = list(counts.tasks.items())
    if len(items) <= LISTED:
        texts = [_task_text(name, c, now) for name, c in items]
    else:
        done = sum(1 for _, c in items if c.total and c.finished >= c.total)
        unstarted = sum(1 for _, c in items if not c.total and c.first_seen is None)
        active = [(n, c) for n, c in items if c.total and c.finished < c.total]
        texts = [f"{done}/{len(items)} tasks done"]
        texts += [_task_text(name, c, now) for name, c in active[:LISTED]]
        if len(active) > LISTED:
            texts.append(f"{len(active) - LISTED} more running")
        if unstarted:
            texts.append(f"{unstarted} not started")
    return f"reflow: [{format_seconds(counts.elapsed)}] {' | '.join(texts)}"


def table(counts: RunCounts, title: str | None = None) -> RenderableType:
    """The live table: per task a bar, done/total, cached, running, failed, elapsed and ETA."""
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    now = time.monotonic()
    view = Table(
        title=title,
        title_justify="left",
        caption=f"elapsed {format_seconds(counts.elapsed)}",
        caption_justify="left",
        box=None,
        pad_edge=False,
    )
    for header in ("TASK", "", "DONE", "CACHED", "RUNNING", "FAILED", "ELAPSED", "ETA"):
        view.add_column(header, justify="left" if header in ("TASK", "") else "right")
    for name, c in counts.tasks.items():
        open_ = c.finished < c.total
        view.add_row(
            name,
            ProgressBar(total=max(c.total, 1), completed=c.finished, width=24),
            f"{c.finished}/{c.total}",
            str(c.cached or ""),
            str(c.running or ""),
            f"[red]{c.failed}[/red]" if c.failed else "",
            format_seconds(now - c.first_seen) if open_ and c.first_seen is not None else "",
            format_seconds(c.eta(now)) if open_ else "",
        )
    return view


class LiveDisplay:
    """Shows :class:`RunCounts` as they change, on ``stream`` (standard error by default).

    On a terminal, a table redrawn in place (rich); otherwise one
    :func:`plain_line` per change, at most every :data:`PLAIN_EVERY` seconds,
    and nothing else.  Use as a context manager: leaving it draws the last
    state.
    """

    def __init__(
        self, stream: TextIO | None = None, title: str | None = None, *, enabled: bool = True
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.title = title
        self.enabled = enabled
        self.terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self._live: Live | None = None
        self._last_draw = 0.0
        self._last_key: object = None

    def __enter__(self) -> LiveDisplay:
        if self.enabled and self.terminal:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.stream, highlight=False)
            self._live = Live(
                console=console,
                auto_refresh=False,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()
        return self

    def update(self, counts: RunCounts, *, force: bool = False) -> None:
        """Draw ``counts`` if it is time (``force``: now, if anything changed)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if self._live is not None:
            if force or now - self._last_draw >= _REDRAW_EVERY:
                self._live.update(table(counts, self.title), refresh=True)
                self._last_draw = now
            return
        if not force and now - self._last_draw < PLAIN_EVERY:
            return  # before the key: building it walks every task (each loop turn of run_local)
        key = counts.key()
        if key == self._last_key:
            return
        self.stream.write(plain_line(counts) + "\n")
        self.stream.flush()
        self._last_key, self._last_draw = key, now

    def close(self, counts: RunCounts | None = None) -> None:
        """Draw the last state (if given) and release the terminal."""
        if counts is not None:
            self.update(counts, force=True)
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

"""run_local's progress hook: per-task counts, drawn by :class:`reflow.cli.live.LiveDisplay`.

The engine calls :meth:`Progress.add` as instances are planned and finish,
:meth:`Progress.busy` with what its workers hold, and :meth:`Progress.show`
each turn of its loop; what is drawn, and how, is the display's business.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TextIO

from reflow.cli.live.counts import RunCounts
from reflow.cli.live.display import LiveDisplay

__all__ = ["Progress"]


class Progress:
    """Counts of a run_local run's instances, per task, shown as they change.

    Parameters
    ----------
    tasks : sequence of str
        The run's tasks, in run order (the display lists them so).
    stream : TextIO, optional
        Where to draw (standard error by default): a live table on a
        terminal, a plain line per change at most every few seconds otherwise.
    """

    def __init__(self, tasks: Sequence[str] = (), stream: TextIO | None = None) -> None:
        self.counts = RunCounts.of(tasks)
        self.display = LiveDisplay(stream)
        self._busy: dict[str, int] = {}

    def add(
        self,
        task: str,
        *,
        total: int = 0,
        done: int = 0,
        cached: int = 0,
        failed: int = 0,
        skipped: int = 0,
    ) -> None:
        """Count ``task``'s instances: ``total`` new ones, and those that ended so."""
        counts = self.counts.task(task)
        counts.grow(total)
        counts.done += done
        counts.cached += cached
        counts.failed += failed
        counts.skipped += skipped

    def busy(self, running: Mapping[str, int]) -> None:
        """What runs now, per task (busy workers).

        Only the tasks busy now or at the last call are touched: the engine calls
        this every turn of its loop, and a chain of thousands of tasks would
        otherwise pay for every task on every turn.
        """
        for name in self._busy.keys() - running.keys():
            self.counts.task(name).running = 0
        for name, count in running.items():
            self.counts.task(name).running = count
        self._busy = dict(running)

    def show(self, *, force: bool = False) -> None:
        """Redraw if it is time (``force``: now)."""
        self.display.update(self.counts, force=force)

    def __enter__(self) -> Progress:
        self.display.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.busy({})
        self.display.close(self.counts)

"""What each ``run_local`` instance used: its times, CPU time and peak memory.

Scheduler-mode workers write these figures into their result files
(:mod:`reflow.engine.scheduler.worker`).  ``run_local`` has no result files, so it
appends them, one JSON line per finished batch, to
``<run_dir>/.reflow/<run>/usage.jsonl``
(:attr:`~reflow.runs.layout.RunLayout.usage_file`)::

    {"task": "square", "host": "node1", "rows": [[index, start, end, cpu_time, peak_rss_kb], ...]}

``index`` is ``null`` for a singleton; ``start`` and ``end`` are seconds
since the epoch; ``cpu_time`` is user + system seconds of the process that
ran the instance and of the children it waited for; ``peak_rss_kb`` is that
process's high-water mark of resident memory (kB) when the instance ended, an
upper bound for the instance itself, since a worker process runs many
instances one after another.
"""

from __future__ import annotations

import json
import logging
import resource
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "BatchMeter",
    "Usage",
    "UsageRow",
    "append_lines",
    "mean_seconds",
    "read_usage",
    "usage_line",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Usage:
    """The figures measured around one call of a task function.

    Attributes
    ----------
    start, end : float
        When the call began and ended, seconds since the epoch.
    cpu_time : float
        User + system CPU seconds spent meanwhile (own process and waited-for children).
    peak_rss_kb : int
        The process's peak resident memory when the call ended, in kB.
    """

    start: float
    end: float
    cpu_time: float
    peak_rss_kb: int


def _cpu() -> tuple[float, int]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    return cpu, max(own.ru_maxrss, kids.ru_maxrss)


UsageRow = list[Any]
"""``[index, start, end, cpu_time, peak_rss_kb]``: one instance's line item."""


class BatchMeter:
    """Measures CPU time and peak memory once around a batch of timed calls.

    Four ``getrusage`` calls per call cost more than a trivial task itself.
    The batch's CPU time is shared among its calls in proportion to their
    wall time (exact for a batch of one call); the peak memory of each is the
    process's high-water mark at the end of the batch, an upper bound as for
    any call in a worker that runs many.
    """

    __slots__ = ("_cpu",)

    def __init__(self) -> None:
        self._cpu = _cpu()[0]

    def rows(self, calls: Iterable[tuple[int | None, float, float]]) -> list[UsageRow]:
        """The usage rows of the batch's calls, given as ``(index, start, end)``.

        Made in the worker, rounded as the usage file keeps them, so the
        driver only writes them.
        """
        cpu, peak = _cpu()
        spent = max(0.0, cpu - self._cpu)
        timed = list(calls)
        wall = sum(end - start for _, start, end in timed)
        share = spent / len(timed) if timed and wall <= 0 else 0.0
        scale = spent / wall if wall > 0 else 0.0
        return [
            [
                index,
                round(start, 6),
                round(end, 6),
                round(share or scale * (end - start), 6),
                int(peak),
            ]
            for index, start, end in timed
        ]


def usage_line(task: str, host: str, rows: list[UsageRow]) -> str:
    """The line holding the usage rows of some instances of ``task`` (``""`` for none)."""
    if not rows:
        return ""
    return json.dumps({"task": task, "host": host, "rows": rows}, separators=(",", ":"))


def mean_seconds(rows: list[UsageRow]) -> float | None:
    """The mean wall time of the calls in ``rows`` (``None`` for none)."""
    if not rows:
        return None
    return float(sum(row[2] - row[1] for row in rows)) / len(rows)


def append_lines(path: Path, lines: Iterable[str]) -> None:
    """Append usage lines (from :func:`usage_line`) to ``path`` in one write.

    A failure to write is logged and ignored: it must never fail the run.
    """
    text = "".join(line + "\n" for line in lines if line)
    if not text:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        logger.warning("could not record resource usage in %s: %s", path, exc)


def read_usage(path: Path) -> Iterator[tuple[str, int | None, str, Usage]]:
    """Yield ``(task, index, host, usage)`` for each instance recorded in ``path``.

    A missing file yields nothing; a damaged line (a run killed mid-write) is skipped.
    """
    try:
        handle = path.open(encoding="utf-8")
    except FileNotFoundError:
        return
    with handle:
        for line in handle:
            try:
                entry = json.loads(line)
                task, host = str(entry["task"]), str(entry.get("host", ""))
                rows = [
                    (
                        None if r[0] is None else int(r[0]),
                        Usage(float(r[1]), float(r[2]), float(r[3]), int(r[4])),
                    )
                    for r in entry["rows"]
                ]
            except (ValueError, KeyError, TypeError, IndexError):
                continue
            for index, usage in rows:
                yield task, index, host, usage

"""What a user sees while a run runs and when it ends.

:mod:`.counts` holds per-task counts (from ``run_local``'s own loop, or from
the store and the run directory for a submitted run), :mod:`.display` draws
them (a live table on a terminal, a plain line per change otherwise),
:mod:`.follow` follows a run in the store (``submit --wait``, ``status
--watch``), and :mod:`.summary` says at the end what ran, came from the
cache, failed and was skipped, and what to type next.
"""

from __future__ import annotations

from reflow.cli.live.counts import RunCounts, TaskCounts
from reflow.cli.live.display import LiveDisplay

__all__ = ["LiveDisplay", "RunCounts", "TaskCounts"]

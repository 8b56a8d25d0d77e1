"""The colour of each task state, shared by the DAG, the timeline and the legend."""

from __future__ import annotations

__all__ = ["CACHED", "STATE_COLOURS", "WAIT", "dominant_state", "state_colour"]

STATE_COLOURS: dict[str, str] = {
    "SUCCESS": "#2e9e5b",
    "FAILED": "#d64545",
    "RUNNING": "#2f7ed8",
    "SUBMITTED": "#8fb8ea",
    "PENDING": "#b8b8b8",
    "RETRYING": "#e0a030",
    "CANCELLED": "#8a6d9e",
    "SKIPPED": "#d8d0c0",
}
"""Fill colour per state name."""

CACHED = "#7cc49a"
"""Instances taken from the cache."""

WAIT = "#e4e8ee"
"""Queue wait (queued to started) on the timeline."""

_PRIORITY = ("FAILED", "RUNNING", "SUBMITTED", "RETRYING", "PENDING", "CANCELLED", "SKIPPED")


def state_colour(state: str) -> str:
    """The colour of ``state`` (grey for an unknown name)."""
    return STATE_COLOURS.get(state, "#999999")


def dominant_state(counts: dict[str, int]) -> str:
    """The state a task is shown in: the most telling one any instance is in.

    A task with a failed instance is FAILED, else RUNNING if one runs, and so
    on; SUCCESS only when every instance succeeded; PENDING with no instances.
    """
    for state in _PRIORITY:
        if counts.get(state):
            return state
    return "SUCCESS" if counts.get("SUCCESS") else "PENDING"

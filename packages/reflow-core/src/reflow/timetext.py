"""Ages and dates as the ``reflow`` command reads and writes them.

Durations are a number and a unit: ``90s``, ``45m``, ``12h``, ``30d``,
``2w``.  A point in time is such a duration (that long ago) or an ISO date
or date-time (``2026-11-01``, ``2026-11-01T08:00``; UTC unless it names its
zone).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from reflow.errors import ReflowError

__all__ = ["format_age", "parse_duration", "parse_since"]

_DURATION = re.compile(r"^\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>s|m|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str, option: str) -> timedelta:
    """``"30d"`` -> 30 days.

    Raises
    ------
    ReflowError
        If the text is not a number followed by s, m, h, d or w (naming ``option``).
    """
    match = _DURATION.match(text)
    if match is None:
        raise ReflowError(
            f"{option} {text!r} is not a duration; write a number and a unit: "
            "90s, 45m, 12h, 30d or 2w."
        )
    try:
        delta = timedelta(seconds=float(match["n"]) * _UNITS[match["unit"].lower()])
        datetime.now(timezone.utc) - delta  # an age must reach back to a date
    except OverflowError:
        raise ReflowError(
            f"{option} {text!r} reaches back before year 1; give a shorter duration."
        ) from None
    return delta


def parse_since(text: str, option: str, now: datetime | None = None) -> datetime:
    """A duration ago (``"2d"``) or an ISO date / date-time, as an aware UTC datetime.

    Raises
    ------
    ReflowError
        If the text is neither (naming ``option``).
    """
    now = now or datetime.now(timezone.utc)
    if _DURATION.match(text):
        return now - parse_duration(text, option)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ReflowError(
            f"{option} {text!r} is neither a date (2026-11-01, 2026-11-01T08:00) nor a "
            "duration ago (12h, 2d)."
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def format_age(when: datetime, now: datetime | None = None) -> str:
    """How long ago ``when`` was, in its largest unit: ``42s``, ``5m``, ``3h``, ``12d``."""
    now = now or datetime.now(timezone.utc)
    seconds = max(0, int((now - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"

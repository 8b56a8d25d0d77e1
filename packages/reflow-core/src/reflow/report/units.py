"""How the report writes durations, sizes, percentages and times."""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["duration", "kib", "percent", "timestamp"]


def duration(seconds: float | None) -> str:
    """``"0.21 s"``, ``"3m 05s"``, ``"2h 01m"``; ``"-"`` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 24:
        days, hours = divmod(hours, 24)
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"


def kib(kilobytes: float | None) -> str:
    """A size given in kB (1024 bytes) in binary units: ``"19.4 MiB"``; ``"-"`` when unknown."""
    if kilobytes is None:
        return "-"
    value = float(kilobytes)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "KiB" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def percent(fraction: float | None) -> str:
    """``"42.0%"`` (below 1%: two decimals); ``"-"`` when unknown."""
    if fraction is None:
        return "-"
    value = fraction * 100
    return f"{value:.2f}%" if value < 1 else f"{value:.1f}%"


def timestamp(epoch: float | None) -> str:
    """UTC time of day with the date: ``"2026-11-22 04:02:09 UTC"``; ``"-"`` when unknown."""
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")

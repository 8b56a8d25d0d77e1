"""Parsing of the resource requests written in ``@wf.job(...)``.

Walltimes and memory sizes are checked when a task is registered, so a typo
fails on the login node, not after a night in the queue.  Executors turn the
parsed values into their scheduler's own syntax.
"""

from __future__ import annotations

import re

__all__ = ["format_walltime", "parse_memory", "parse_walltime"]

_WALLTIME = re.compile(
    r"^(?:(?P<days>\d+)-)?(?:(?P<a>\d+):)?(?:(?P<b>\d+):)?(?P<c>\d+)$",
)
_MEMORY = re.compile(r"^(?P<n>\d+(?:\.\d+)?)\s*(?:(?P<unit>[KMGTP])(?:I?B)?)?$", re.IGNORECASE)
_UNITS = {"": 1024**2, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}


def parse_walltime(value: str) -> int:
    """Return a walltime in seconds.

    Accepts the forms batch schedulers share: ``MM``, ``MM:SS``,
    ``HH:MM:SS``, ``D-HH``, ``D-HH:MM`` and ``D-HH:MM:SS``.

    Raises
    ------
    ValueError
        If the text is not one of those forms, or is zero.
    """
    text = str(value).strip()
    match = _WALLTIME.match(text)
    if not match:
        raise ValueError(
            f"invalid walltime {value!r}: use HH:MM:SS (for example '02:00:00'), "
            "MM:SS, minutes, or D-HH:MM:SS"
        )
    days = int(match["days"] or 0)
    parts = [int(p) for p in (match["a"], match["b"], match["c"]) if p is not None]
    if days:
        # With a day count the fields read HH, HH:MM or HH:MM:SS.
        parts += [0] * (3 - len(parts))
        hours, minutes, seconds = parts
    elif len(parts) == 3:
        hours, minutes, seconds = parts
    elif len(parts) == 2:
        hours, (minutes, seconds) = 0, parts
    else:
        hours, minutes, seconds = 0, parts[0], 0
    if seconds >= 60 or (minutes >= 60 and (days or len(parts) == 3)):
        raise ValueError(f"invalid walltime {value!r}: minutes and seconds must be below 60")
    if days and hours >= 24:
        raise ValueError(f"invalid walltime {value!r}: with a day count, hours must be below 24")
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if total <= 0:
        raise ValueError(f"invalid walltime {value!r}: it must be longer than zero")
    return total


def format_walltime(seconds: int) -> str:
    """Format seconds as ``HH:MM:SS`` (hours may exceed 24)."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


def parse_memory(value: str | int) -> int:
    """Return a memory request in bytes.

    ``"16G"``, ``"16GB"``, ``"16GiB"``, ``"512M"`` and ``"1.5T"`` use binary
    units, as batch schedulers do; a bare number means megabytes, as in
    Slurm's ``--mem``.

    Raises
    ------
    ValueError
        If the text is not a size, or is zero.
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid memory {value!r}: use a size such as '4G' or '512M'")
    if isinstance(value, int):
        value = str(value)
    match = _MEMORY.match(str(value).strip())
    if not match:
        raise ValueError(f"invalid memory {value!r}: use a size such as '4G' or '512M'")
    size = int(float(match["n"]) * _UNITS[(match["unit"] or "").upper()])
    if size <= 0:
        raise ValueError(f"invalid memory {value!r}: it must be larger than zero")
    return size

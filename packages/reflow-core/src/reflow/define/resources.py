"""Parsing of the resource requests written in ``@wf.job(...)``.

Walltimes (``"2h"``, ``"1h30m"``, ``"02:00:00"``...) and memory sizes are
checked when a task is registered, so a typo fails on the login node, not
after a night in the queue.  Executors turn the
parsed values into their scheduler's own syntax.
"""

from __future__ import annotations

import re

__all__ = ["format_walltime", "parse_memory", "parse_walltime"]

_WALLTIME = re.compile(
    r"^(?:(?P<days>\d+)-)?(?:(?P<a>\d+):)?(?:(?P<b>\d+):)?(?P<c>\d+)$",
)
_WALLTIME_UNITS = re.compile(
    r"^(?:(?P<d>\d+)\s*d)?\s*(?:(?P<h>\d+)\s*h)?\s*(?:(?P<m>\d+)\s*m)?\s*(?:(?P<s>\d+)\s*s)?$",
    re.IGNORECASE,
)
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_WALLTIME_FORMS = (
    "use a duration with units such as '2h', '90m', '1h30m' or '1d', or a scheduler "
    "form: HH:MM:SS, MM:SS, MM (minutes), D-HH, D-HH:MM or D-HH:MM:SS"
)
_MEMORY = re.compile(r"^(?P<n>\d+(?:\.\d+)?)\s*(?:(?P<unit>[KMGTP])(?:I?B)?)?$", re.IGNORECASE)
_UNITS = {"": 1024**2, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}


def parse_walltime(value: object) -> int:
    """Return a walltime in seconds.

    Accepts a duration with units, ``s``, ``m``, ``h`` and ``d``, alone or
    combined from largest to smallest (``"2h"``, ``"90m"``, ``"1h30m"``,
    ``"1d"``, ``"45s"``), and the forms batch schedulers share: ``MM``,
    ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM`` and ``D-HH:MM:SS`` (so a
    bare ``"90"`` is 90 minutes, as in Slurm).

    A number that is not a string (``time=3600``) is refused: Slurm would read
    it as minutes, a reader as seconds, and a walltime off by a factor of 60
    fails only hours later.  The message shows how to write it.

    Raises
    ------
    ValueError
        If the value is not text in one of those forms, or is zero.

    Examples
    --------
    >>> parse_walltime("1h30m"), parse_walltime("90"), parse_walltime("1-02:00:00")
    (5400, 5400, 93600)
    """
    if not isinstance(value, str):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            example = f"'{value}s' or '{value}m'" if isinstance(value, int) else "'90m'"
            raise ValueError(
                f"invalid walltime {value!r}: a bare number is ambiguous (Slurm reads "
                f"minutes); write it as text with a unit, e.g. {example}"
            )
        raise ValueError(f"invalid walltime {value!r}: {_WALLTIME_FORMS}")
    text = value.strip()
    units = _WALLTIME_UNITS.match(text)
    if units is not None and text:
        total = sum(int(units[unit] or 0) * size for unit, size in _UNIT_SECONDS.items())
    else:
        total = _scheduler_walltime(value, text)
    if total <= 0:
        raise ValueError(f"invalid walltime {value!r}: it must be longer than zero")
    return total


def _scheduler_walltime(value: str, text: str) -> int:
    """Seconds of a walltime in the batch schedulers' ``[D-][HH:]MM[:SS]`` forms."""
    match = _WALLTIME.match(text)
    if not match:
        raise ValueError(f"invalid walltime {value!r}: {_WALLTIME_FORMS}")
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
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


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

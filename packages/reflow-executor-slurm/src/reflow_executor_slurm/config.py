"""The site's array limits, from ``scontrol show config``.

``MaxArraySize`` bounds the highest array task id (``MaxArraySize - 1``),
not only the number of tasks; ``max_array_tasks=N`` in
``SchedulerParameters`` bounds the number of tasks of one array.  Chunks of
a split array are numbered from 0 again, so both limits bound the highest
task id of a chunk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from reflow.executors import (
    ReflowError,
)

__all__ = ["DEFAULT_MAX_ARRAY_SIZE", "SiteConfig", "array_limits", "parse_show_config"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_ARRAY_SIZE = 1001
"""Slurm's ``MaxArraySize`` when slurm.conf does not set it."""


def parse_show_config(text: str) -> dict[str, str]:
    """``Key = Value`` lines of ``scontrol show config`` as a dict (the first of repeated keys).

    Examples
    --------
    >>> parse_show_config("MaxArraySize            = 10001\\nMinJobAge = 300 sec\\n")
    {'MaxArraySize': '10001', 'MinJobAge': '300 sec'}
    """
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        key = key.strip()
        if sep and key and " " not in key:
            found.setdefault(key, value.strip())
    return found


def _number(text: str | None) -> int | None:
    try:
        return None if text is None else int(text.split()[0])
    except (ValueError, IndexError):
        return None


def array_limits(config: dict[str, str]) -> tuple[int, int | None]:
    """``MaxArraySize`` and ``max_array_tasks`` (``None`` if not set) of a parsed config."""
    size = _number(config.get("MaxArraySize"))
    tasks = None
    for item in (config.get("SchedulerParameters") or "").split(","):
        key, _, value = item.strip().partition("=")
        if key == "max_array_tasks":
            tasks = _number(value)
    return (DEFAULT_MAX_ARRAY_SIZE if size is None else size), tasks


class SiteConfig:
    """``scontrol show config``, read once and kept.

    Parameters
    ----------
    read : callable
        Returns the output of ``scontrol show config``; may raise
        :class:`~reflow.errors.ReflowError`.
    max_array_size : int or None
        The site's ``MaxArraySize``, given instead of reading it.
    """

    def __init__(self, read: Callable[[], str], max_array_size: int | None = None) -> None:
        self._read = read
        self._max_array_size = max_array_size
        self._limits: tuple[int, int | None] | None = None

    def limits(self) -> tuple[int, int | None]:
        """``(MaxArraySize, max_array_tasks)``; Slurm's default 1001 if scontrol fails."""
        if self._max_array_size is not None:
            return self._max_array_size, None
        if self._limits is None:
            try:
                self._limits = array_limits(parse_show_config(self._read()))
            except ReflowError as exc:
                logger.warning(
                    "Cannot read the site's MaxArraySize (%s); assuming Slurm's default %d. "
                    "Pass max_array_size= to SlurmExecutor to set it.",
                    exc,
                    DEFAULT_MAX_ARRAY_SIZE,
                )
                self._limits = (DEFAULT_MAX_ARRAY_SIZE, None)
        return self._limits

    def max_array_index(self) -> int:
        """The highest task id one array may have: ``min(MaxArraySize, max_array_tasks) - 1``."""
        size, tasks = self.limits()
        return min(size, size if tasks is None else tasks) - 1

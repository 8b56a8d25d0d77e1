"""The cell's array limit, from ``qconf -sconf``.

``max_aj_tasks`` in the global configuration bounds the number of tasks of
one array job, and so (task ids start at 1) its highest task id; 0 means no
limit.  Grid Engine's default is 75000.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from reflow.executors import (
    ReflowError,
)

__all__ = ["DEFAULT_MAX_AJ_TASKS", "CellConfig", "parse_sconf"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_AJ_TASKS = 75000
"""Grid Engine's ``max_aj_tasks`` when the configuration does not say."""


def parse_sconf(text: str) -> dict[str, str]:
    """``name value`` lines of ``qconf -sconf`` as a dict; ``\\`` continues a value.

    Examples
    --------
    >>> parse_sconf("#global:\\nmax_aj_tasks                 75000\\nmin_uid 0\\n")
    {'max_aj_tasks': '75000', 'min_uid': '0'}
    """
    found: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line[0].isspace() and key:  # continuation of the previous value
            found[key] = (found[key].removesuffix("\\").strip() + " " + line.strip()).strip()
            continue
        key, _, value = line.partition(" ")
        found.setdefault(key, value.strip())
    return {k: v.removesuffix("\\").strip() for k, v in found.items()}


class CellConfig:
    """``qconf -sconf``, read once and kept.

    Parameters
    ----------
    read : callable
        Returns the output of ``qconf -sconf``; may raise
        :class:`~reflow.errors.ReflowError`.
    max_array_tasks : int or None
        The cell's ``max_aj_tasks``, given instead of reading it (0: no limit).
    """

    def __init__(self, read: Callable[[], str], max_array_tasks: int | None = None) -> None:
        self._read = read
        self._given = max_array_tasks
        self._tasks: int | None = None

    def max_array_tasks(self) -> int:
        """``max_aj_tasks`` (0: no limit); Grid Engine's default 75000 if qconf fails."""
        if self._given is not None:
            return self._given
        if self._tasks is None:
            try:
                text = parse_sconf(self._read()).get("max_aj_tasks", "")
                self._tasks = int(text) if text.isdigit() else DEFAULT_MAX_AJ_TASKS
            except ReflowError as exc:
                logger.warning(
                    "Cannot read the cell's max_aj_tasks (%s); assuming Grid Engine's default "
                    "%d. Pass max_array_tasks= to SGEExecutor to set it.",
                    exc,
                    DEFAULT_MAX_AJ_TASKS,
                )
                self._tasks = DEFAULT_MAX_AJ_TASKS
        return self._tasks

    def max_array_index(self) -> int | None:
        """The highest task id one array may have (ids start at 1); ``None``: no limit."""
        tasks = self.max_array_tasks()
        return None if tasks <= 0 else tasks

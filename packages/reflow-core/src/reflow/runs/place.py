"""Where a run is: its store, its id and its run directory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from reflow.stores import Store

__all__ = ["RunPlace"]


@dataclass(frozen=True)
class RunPlace:
    """What acting on a run by its id needs: the store, the id and the run directory.

    The engines return one for the run they made; the user-facing
    :class:`~reflow.run.Run` is built on top of it by ``Workflow``.
    """

    store: Store
    run_id: str
    run_dir: Path

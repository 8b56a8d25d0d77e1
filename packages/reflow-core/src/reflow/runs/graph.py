"""The task graph's wiring, recorded with a run so views of it need no script.

Every run stores it among its parameters under :data:`WIRING_KEY` (see
:func:`reflow.runs.creation.create_run`), as
``{task: {parameter: {"steps": [...], "modes": [...]}}}``.  ``reflow dag RUN``
and ``reflow report`` read it back to label the edges with their wire modes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reflow.define.wiring import ParamWiring

__all__ = ["WIRING_KEY", "recorded_wiring"]

WIRING_KEY = "__wiring__"
"""Key, in a run's recorded parameters, of its tasks' wiring."""


def recorded_wiring(
    wiring: Mapping[str, Mapping[str, ParamWiring]],
) -> dict[str, dict[str, dict[str, list[str]]]]:
    """The JSON-safe form of ``Workflow.wiring()`` that is stored with a run."""
    return {
        task: {
            param: {"steps": list(w.steps), "modes": [m.value for m in w.modes]}
            for param, w in params.items()
        }
        for task, params in wiring.items()
        if params
    }

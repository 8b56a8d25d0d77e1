"""The task graph recorded with a run (its wiring, its tasks in order), so views need no script.

Every run stores it among its parameters under :data:`WIRING_KEY` (see
:func:`reflow.runs.creation.create_run`), as
``{task: {parameter: {"steps": [...], "modes": [...]}}}``.  ``reflow dag RUN``
and ``reflow report`` read it back to label the edges with their wire modes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from reflow.define.graph import topological_order
from reflow.errors import ReflowError

if TYPE_CHECKING:
    from reflow.define.wiring import ParamWiring
    from reflow.stores import Store, TaskSpecRecord

__all__ = ["WIRING_KEY", "ordered_specs", "recorded_wiring"]

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


def ordered_specs(store: Store, run_id: str) -> list[TaskSpecRecord]:
    """The run's task specifications in run order (each after the tasks it waits for)."""
    specs = {s.task_name: s for s in store.list_task_spec_records(run_id)}
    try:
        order = topological_order({n: s.dependencies for n, s in specs.items()})
    except ReflowError:  # a damaged record: show the tasks anyway
        order = sorted(specs)
    return [specs[name] for name in order]

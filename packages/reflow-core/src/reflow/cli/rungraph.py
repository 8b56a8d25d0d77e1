"""The task graph of a recorded run, without the workflow's script.

:func:`run_description` rebuilds, from the task specifications and the
wiring a run recorded, the part of :meth:`Workflow.describe() <reflow.workflow.Workflow.describe>`
that :func:`reflow.cli.render.dag_text` draws: tasks in run order, array
or not, each ``Result`` parameter's upstream steps and wire modes, and
``after`` dependencies.  :func:`task_state` sums up a task's instances in
one state for colouring the graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from reflow.runs.graph import WIRING_KEY, ordered_specs

if TYPE_CHECKING:
    from reflow.stores import RunRecord, Store

__all__ = ["ordered_specs", "run_description", "task_state"]

NOT_PLANNED = "NOT_PLANNED"
"""The state of a task with no instance yet."""


def run_description(store: Store, run: RunRecord) -> dict[str, Any]:
    """A ``describe()``-shaped dictionary of the run's task graph.

    The wire modes come from the wiring recorded with the run's parameters;
    a run recorded without it gets ``Result`` edges labelled
    ``<upstream>: result``, from the dependencies alone.
    """
    recorded = run.parameters.get(WIRING_KEY)
    tasks = []
    for spec in ordered_specs(store, run.run_id):
        name = spec.task_name
        after = [str(d) for d in spec.config.get("after", ()) or ()]
        if isinstance(recorded, dict):
            wiring = recorded.get(name, {})
        else:
            wiring = {
                d: {"steps": [d], "modes": ["result"]} for d in spec.dependencies if d not in after
            }
        tasks.append(
            {
                "name": name,
                "is_array": spec.is_array,
                "config": {"after": after},
                "result_deps": {
                    param: {"steps": list(w["steps"]), "modes": list(w["modes"])}
                    for param, w in wiring.items()
                },
            }
        )
    return {"name": run.graph_name, "tasks": tasks}


_PRIORITY = ("FAILED", "RUNNING", "SUBMITTED", "RETRYING", "PENDING", "CANCELLED", "SKIPPED")


def task_state(counts: Mapping[str, int]) -> str:
    """One state for a task: ``SUCCESS`` when every instance succeeded, else the most urgent.

    ``FAILED`` wins over running, running over waiting, waiting over
    cancelled and skipped; a task without instances is ``NOT_PLANNED``.
    """
    present = {state for state, n in counts.items() if n}
    if not present:
        return NOT_PLANNED
    if present == {"SUCCESS"}:
        return "SUCCESS"
    for state in _PRIORITY:
        if state in present:
            return state
    return sorted(present)[0]

"""Graph validation: references, cycles, wiring and run parameters."""

from __future__ import annotations

import inspect
from collections.abc import Mapping

from reflow.define.flow import TaskSpec
from reflow.define.graph import did_you_mean, topological_order
from reflow.define.markers import extract_base_type, list_element_type, type_repr
from reflow.define.wiring import ParamWiring, WireMode, infer_wire_mode
from reflow.errors import UnknownTaskError, WiringError, WorkflowDefinitionError

__all__ = ["check_references", "infer_wiring", "order_tasks"]


def check_references(tasks: Mapping[str, TaskSpec]) -> None:
    """Every ``Result`` step and ``after=`` entry must name a task."""
    for spec in tasks.values():
        for pname, result in spec.result_deps.items():
            for step in result.steps:
                if step not in tasks:
                    raise UnknownTaskError(
                        f"Task {spec.name!r} parameter {pname!r} references unknown task "
                        f"{step!r}.{did_you_mean(step, tasks)}"
                    )
        for dep in spec.config.after:
            if dep not in tasks:
                raise UnknownTaskError(
                    f"Task {spec.name!r} after=[{dep!r}] references unknown task "
                    f"{dep!r}.{did_you_mean(dep, tasks)}"
                )


def order_tasks(tasks: Mapping[str, TaskSpec]) -> list[str]:
    """Topological order of the tasks (raises :class:`CycleError`)."""
    return topological_order({name: spec.dependencies for name, spec in tasks.items()})


def _param_wiring(spec: TaskSpec, pname: str, tasks: Mapping[str, TaskSpec]) -> ParamWiring:
    result = spec.result_deps[pname]
    param_type = extract_base_type(spec.hints.get(pname, inspect.Parameter.empty))
    modes = tuple(
        infer_wire_mode(
            task=spec.name,
            param=pname,
            step=step,
            upstream_type=tasks[step].return_type,
            upstream_is_array=tasks[step].config.array,
            param_type=param_type,
            downstream_is_array=spec.config.array,
            broadcast=result.broadcast,
        )
        for step in result.steps
    )
    where = f"Task {spec.name!r} parameter {pname!r}"
    if len({m.drives_array for m in modes}) > 1:
        detail = ", ".join(f"{s} ({m})" for s, m in zip(result.steps, modes, strict=True))
        raise WiringError(
            f"{where} combines steps wired in different ways: {detail}. Steps of one "
            "Result are concatenated, so each must give elements (fan-out or chain) or "
            "each a whole value; split them into two parameters."
        )
    whole_values = any(m in (WireMode.DIRECT, WireMode.BROADCAST) for m in modes)
    param_is_list = list_element_type(param_type) is not None
    typed = param_type is not inspect.Parameter.empty
    if len(modes) > 1 and whole_values and not param_is_list and typed:
        raise WiringError(
            f"{where} ({type_repr(param_type)}) receives several steps "
            f"{result.steps!r}, whose outputs are concatenated: annotate it as a "
            "list, or use one step."
        )
    return ParamWiring(
        param=pname, steps=tuple(result.steps), modes=modes, broadcast=result.broadcast
    )


def infer_wiring(tasks: Mapping[str, TaskSpec]) -> dict[str, dict[str, ParamWiring]]:
    """Wire every ``Result`` parameter; check array tasks have elements to run."""
    wiring: dict[str, dict[str, ParamWiring]] = {}
    for spec in tasks.values():
        wiring[spec.name] = {p: _param_wiring(spec, p, tasks) for p in spec.result_deps}
        if spec.config.array and not any(w.drives_array for w in wiring[spec.name].values()):
            if spec.result_deps:
                have = f"its Result parameters {sorted(spec.result_deps)!r} are all broadcast"
                inferred = [
                    f"{p!r} receives the whole output of {w.steps[0]!r} "
                    f"({type_repr(tasks[w.steps[0]].return_type)}) in every element"
                    for p, w in wiring[spec.name].items()
                    if not w.broadcast
                ]
                if inferred:
                    have += " (" + "; ".join(inferred) + ")"
            else:
                have = "it has no Result parameter"
            raise WorkflowDefinitionError(
                f"Task {spec.name!r} is an array task but {have}, so nothing gives it its "
                "elements. Wire a parameter with Result(step=...) to a task that returns "
                "a list of the parameter's type (fan-out) or to another array task "
                "(chain), or drop array=True."
            )
    return wiring

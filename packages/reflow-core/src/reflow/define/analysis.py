"""The :class:`Analysis` of a flow: what validating its graph finds out.

Validating a flow resolves every annotation and orders, wires and collects the
run parameters of its tasks.  Engines need exactly those facts to plan and run
it, so they take a flow together with its :class:`Analysis` (computed once by
:func:`analyse`, or ``Workflow.analyse()``) rather than recomputing them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reflow.define.runparams import (
    ResolvedParam,
    check_reserved_names,
    collect_cli_params,
    merge_resolved_params,
)
from reflow.define.validate import check_references, infer_wiring, order_tasks

if TYPE_CHECKING:
    from reflow.define.flow import Flow
    from reflow.define.wiring import ParamWiring

__all__ = ["Analysis", "analyse", "task_param_dests"]


def task_param_dests(params: Iterable[ResolvedParam]) -> dict[str, dict[str, str]]:
    """task -> {parameter name -> key in the run's parameters}."""
    out: dict[str, dict[str, str]] = {}
    for rp in params:
        for task in rp.tasks:
            out.setdefault(task, {})[rp.name] = rp.dest
    return out


@dataclass(frozen=True)
class Analysis:
    """The validated shape of a flow: task order, wiring and run parameters.

    Parameters
    ----------
    order : tuple[str, ...]
        Task names in a topological order (every task after the tasks it
        depends on).
    wiring : Mapping[str, Mapping[str, ParamWiring]]
        Per task, the wiring of each of its ``Result`` parameters.
    params : tuple[ResolvedParam, ...]
        The run parameters, one per generated command-line flag, in task order.
    """

    order: tuple[str, ...]
    wiring: Mapping[str, Mapping[str, ParamWiring]]
    params: tuple[ResolvedParam, ...]
    param_dests: Mapping[str, Mapping[str, str]] = field(init=False, repr=False)
    """Per task, each run parameter's name -> its key in the run's parameter values."""

    def __post_init__(self) -> None:
        # Derived once here: every engine looks it up per task instance.
        object.__setattr__(self, "param_dests", task_param_dests(self.params))


def analyse(flow: Flow) -> Analysis:
    """Validate ``flow`` and return its :class:`Analysis`.

    Raises
    ------
    UnknownTaskError
        A ``Result`` or ``after=`` names a task that does not exist.
    CycleError
        The graph has a cycle.
    AnnotationError
        An annotation cannot be resolved, or cannot be a CLI flag.
    WiringError
        An upstream output type cannot feed the parameter wired to it.
    WorkflowDefinitionError
        Any other definition problem.
    """
    for spec in flow.tasks.values():
        spec.resolve(strict=True)
        check_reserved_names(spec)
    check_references(flow.tasks)
    order = order_tasks(flow.tasks)
    wiring = infer_wiring(flow.tasks)
    collected: list[ResolvedParam] = []
    for name in order:
        spec = flow.tasks[name]
        collected.extend(
            collect_cli_params(
                spec.name,
                spec.func,
                spec.signature,
                spec.hints,
                skip=spec.given_params,
            )
        )
    return Analysis(tuple(order), wiring, tuple(merge_resolved_params(collected)))

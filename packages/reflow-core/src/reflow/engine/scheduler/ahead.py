"""The wave plan of a run: which tasks each dispatcher wave can submit, with which dependencies.

A task's jobs can be handed to the scheduler as soon as their *shape* is
known: a singleton always has one instance; an array task chained 1:1 onto
another array has as many elements as that array.  Only an array fanned out
over a list a task returns (``FAN_OUT``, ``CHAIN_FLATTEN``) waits until that
task has ended and a dispatcher has read its output: that is a *dynamic
boundary*, and the number of waves of a run is the number of such boundaries
on its longest path plus one, not the depth of its graph (design §5).

:func:`wave_plan` computes that plan from the definition alone, and says for
each edge between two tasks of one wave which scheduler dependency carries it
(:class:`Dependency`): a 1:1 chain of arrays is ``after_corr`` (element ``i``
waits for element ``i`` upstream) where the executor supports element-wise
dependencies, else ``after_ok`` on the whole upstream array; a gather, a
direct edge and an ``after=`` ordering are ``after_ok`` (reflow runs a task
ordered ``after=`` another only when that one succeeded).  ``submit --dry-run``
prints it (:func:`describe_plan`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from reflow.define.wiring import WireMode

if TYPE_CHECKING:
    from reflow.define.flow import TaskSpec
    from reflow.define.wiring import ParamWiring

__all__ = [
    "Dependency",
    "DependencyKind",
    "PlannedTask",
    "describe_plan",
    "edge_kind",
    "wave_plan",
]

_DYNAMIC = frozenset({WireMode.FAN_OUT, WireMode.CHAIN_FLATTEN})
"""Modes whose element count comes from the value of an upstream output."""


class DependencyKind(str, Enum):
    """The scheduler dependency that carries one edge (:class:`~reflow.executors.JobSpec`)."""

    AFTER_OK = "after_ok"
    AFTER_CORR = "after_corr"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Dependency:
    """One edge from a task submitted in the same wave.

    Attributes
    ----------
    upstream : str
        The upstream task.
    kind : DependencyKind
        ``after_corr`` (element-wise) or ``after_ok`` (the whole upstream job).
    """

    upstream: str
    kind: DependencyKind


@dataclass(frozen=True)
class PlannedTask:
    """One task's place in the wave plan.

    Attributes
    ----------
    task : str
        The task.
    wave : int
        The dispatcher wave that submits it, from 1.
    array : bool
        Whether it is an array task.
    sized_by : str or None
        For an array, the task whose element count it takes: the task whose
        list it fans out over (known when that task has ended) or, along a 1:1
        chain, the first array of the chain.  ``None`` for a singleton.
    after : tuple[Dependency, ...]
        Its dependencies on tasks submitted in the same wave; tasks of earlier
        waves have ended (successfully) before this wave runs.
    """

    task: str
    wave: int
    array: bool
    sized_by: str | None
    after: tuple[Dependency, ...]


def _dependencies(spec: TaskSpec, wiring: Mapping[str, ParamWiring]) -> list[str]:
    deps = [s for w in wiring.values() for s in w.steps]
    deps.extend(spec.config.after)
    return list(dict.fromkeys(deps))


def edge_kind(
    task: str,
    upstream: str,
    specs: Mapping[str, TaskSpec],
    wiring: Mapping[str, ParamWiring],
    element_wise: bool,
) -> DependencyKind:
    """``after_corr`` only when every use of ``upstream`` is a lone 1:1 chain driving ``task``.

    A chain over several steps concatenates arrays, so element ``i`` of
    ``task`` is not element ``i`` of each; a broadcast or a gather needs the
    whole upstream; both wait for the whole array.
    """
    if not element_wise or not (specs[task].config.array and specs[upstream].config.array):
        return DependencyKind.AFTER_OK
    uses = [w for w in wiring.values() if upstream in w.steps]
    corr = bool(uses) and all(
        w.steps == (upstream,) and w.modes == (WireMode.CHAIN,) for w in uses
    )
    if corr and upstream not in specs[task].config.after:
        return DependencyKind.AFTER_CORR
    return DependencyKind.AFTER_OK


def wave_plan(
    specs: Mapping[str, TaskSpec],
    order: Sequence[str],
    wiring: Mapping[str, Mapping[str, ParamWiring]],
    *,
    element_wise: bool,
    done: Collection[str] = (),
    ahead: bool = True,
) -> list[PlannedTask]:
    """Every task not in ``done``, with the wave that submits it and its dependencies.

    Parameters
    ----------
    specs : mapping
        The workflow's tasks by name.
    order : sequence of str
        The tasks in topological order (:attr:`~reflow.define.analysis.Analysis.order`).
    wiring : mapping
        Each task's ``Result`` wiring.
    element_wise : bool
        Whether the executor supports ``after_corr``
        (:attr:`~reflow.executors.Executor.supports_after_corr`).
    done : collection of str
        Tasks that have ended already (wave 1 is the next dispatcher's wave).
    ahead : bool
        Whether the executor's jobs may be submitted ahead (see
        :data:`reflow.engine.scheduler.forward.NEVER_END`); without, every
        task waits for a wave after its upstream tasks' wave.

    Returns
    -------
    list[PlannedTask]
        In ``order``; a task's wave is never before that of a task it depends on.
    """
    waves: dict[str, int] = dict.fromkeys(done, 0)
    sized: dict[str, str | None] = {}
    plan: list[PlannedTask] = []
    for name in order:
        if name in waves:
            continue
        spec = specs[name]
        deps = _dependencies(spec, wiring[name])
        wave = max((waves[d] + (0 if ahead else 1) for d in deps), default=0)
        wave = max(wave, 1)
        sized_by: str | None = None
        if spec.config.array:
            for w in wiring[name].values():
                for step, mode in zip(w.steps, w.modes, strict=True):
                    if mode in _DYNAMIC:
                        # The list exists once ``step`` ended: the wave after its own.
                        wave = max(wave, waves[step] + 1)
                        sized_by = step
                    elif mode is WireMode.CHAIN and sized_by is None:
                        sized_by = sized.get(step) or step
        waves[name] = wave
        sized[name] = sized_by
        after = tuple(
            Dependency(d, edge_kind(name, d, specs, wiring[name], element_wise))
            for d in deps
            if waves[d] == wave
        )
        plan.append(PlannedTask(name, wave, spec.config.array, sized_by, after))
    return plan


def describe_plan(
    plan: Sequence[PlannedTask], workflow: str, packs: Mapping[str, str] | None = None
) -> list[str]:
    """Lines saying what each wave submits: ``submit --dry-run`` prints them.

    Parameters
    ----------
    plan : sequence of PlannedTask
        What :func:`wave_plan` returned.
    workflow : str
        The workflow's name (its jobs are named ``<workflow>.<task>``).
    packs : mapping or None
        Packed tasks' notes, e.g. ``pack 10`` or ``pack auto = 100 (...)``
        (:func:`reflow.engine.scheduler.autopack.pack_notes`).
    """
    packs = packs or {}
    lines: list[str] = []
    last = max((p.wave for p in plan), default=0)
    for wave in range(1, last + 1):
        lines.append(f"wave {wave}: dispatcher job {workflow}.dispatch")
        for p in (p for p in plan if p.wave == wave):
            shape = f"array sized by {p.sized_by}" if p.array else "one job"
            deps = ", ".join(f"{d.kind} {workflow}.{d.upstream}" for d in p.after)
            notes = [n for n in (deps, packs.get(p.task, "")) if n]
            lines.append(f"  {workflow}.{p.task}: {shape}" + "".join(f"; {n}" for n in notes))
    if last:
        lines.append(
            f"{last} wave(s) submit jobs; one more dispatcher, after every job, records the end."
        )
    return lines

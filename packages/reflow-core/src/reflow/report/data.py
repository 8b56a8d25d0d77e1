"""Everything a report shows about one run, gathered from the store and the run directory.

The store gives the run, its task specifications (with the resources each
task asked for) and every instance with its state, job id, error text,
cache information and the time it was created (queued).  What the instances
used comes from the run directory: a scheduler-mode worker writes its host,
start and end times, CPU time and peak memory into its result file
(:mod:`reflow.engine.scheduler.worker`), or at least a start marker when it was
killed before finishing; ``run_local`` appends the same figures to its usage
file (:mod:`reflow.engine.local.usage`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reflow._types import TaskState
from reflow.define.graph import topological_order
from reflow.define.labels import instance_label
from reflow.define.resources import parse_memory, parse_walltime
from reflow.engine.local.usage import read_usage
from reflow.errors import ReflowError
from reflow.runs.context import read_context, recorded_run_dir
from reflow.runs.files import read_json
from reflow.runs.graph import WIRING_KEY
from reflow.runs.layout import RunLayout

if TYPE_CHECKING:
    from reflow.stores import RunRecord, Store, TaskInstanceRecord, TaskSpecRecord

__all__ = ["Edge", "InstanceInfo", "ReportData", "Requested", "TaskInfo", "gather"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Requested:
    """The resources a task asked for, as written and parsed.

    Attributes
    ----------
    cpus : int
        CPUs per instance.
    mem : str
        Memory as written (``"4G"``); ``mem_bytes`` is ``None`` if it cannot be parsed.
    time : str
        Walltime as written (``"00:30:00"``); ``time_s`` is ``None`` if it cannot be parsed.
    """

    cpus: int
    mem: str
    time: str
    mem_bytes: int | None
    time_s: int | None

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Requested:
        """Read the request out of a stored task configuration."""
        cpus = config.get("cpus", 1)
        mem, walltime = str(config.get("mem", "")), str(config.get("time", ""))
        try:
            mem_bytes: int | None = parse_memory(mem)
        except ValueError:
            mem_bytes = None
        try:
            time_s: int | None = parse_walltime(walltime)
        except ValueError:
            time_s = None
        return cls(int(cpus) if isinstance(cpus, int) else 1, mem, walltime, mem_bytes, time_s)


@dataclass(frozen=True)
class TaskInfo:
    """One task of the run.

    Attributes
    ----------
    name : str
        Task name.
    is_array : bool
        Whether it is an array task.
    dependencies : list[str]
        Tasks it waits for.
    requested : Requested
        Its resource request.
    counts : dict[str, int]
        Instances per state name (only non-zero counts).
    report : bool
        Whether its output is shown in the report (``report=True`` on the job).
    """

    name: str
    is_array: bool
    dependencies: list[str]
    requested: Requested
    counts: dict[str, int]
    report: bool = False

    @property
    def total(self) -> int:
        """How many instances the task has."""
        return sum(self.counts.values())


@dataclass(frozen=True)
class Edge:
    """One edge of the task graph.

    Attributes
    ----------
    source, target : str
        Upstream and downstream task.
    label : str
        ``"param: mode"``, ``"after"``, or ``""`` when the wiring was not recorded.
    """

    source: str
    target: str
    label: str


@dataclass
class InstanceInfo:
    """One task instance, with its times and what it used.

    Attributes
    ----------
    task : str
        Task name.
    index : int or None
        Array index, ``None`` for a singleton.
    state : str
        State name (``SUCCESS``, ``FAILED`` ...).
    job_id : str
        Scheduler job id, ``""`` if none.
    queued : float
        When the instance was created, ready to be submitted (seconds since the epoch).
    updated : float
        When its state last changed.
    start, end : float or None
        When the task function started and ended, if known.
    host : str
        Where it ran, ``""`` if unknown.
    cpu_time : float or None
        User + system CPU seconds, if known.
    peak_rss_kb : int or None
        Peak resident memory in kB, if known.
    cached_from : str
        The run a cache hit was taken from, ``""`` if it was not a cache hit.
    error : str
        Error text (traceback, or why it was cancelled or skipped).
    """

    task: str
    index: int | None
    state: str
    job_id: str
    queued: float
    updated: float
    start: float | None = None
    end: float | None = None
    host: str = ""
    cpu_time: float | None = None
    peak_rss_kb: int | None = None
    cached_from: str = ""
    error: str = ""

    @property
    def label(self) -> str:
        """``task[index]`` or ``task``."""
        return instance_label(self.task, self.index)

    @property
    def cached(self) -> bool:
        """Whether the instance was taken from the cache."""
        return bool(self.cached_from)

    @property
    def elapsed(self) -> float | None:
        """Run time in seconds, when both ends are known."""
        if self.start is None or self.end is None:
            return None
        return max(0.0, self.end - self.start)

    @property
    def wait(self) -> float | None:
        """Seconds from queued to started, when the start is known."""
        return None if self.start is None else max(0.0, self.start - self.queued)


@dataclass
class ReportData:
    """Everything the report shows about one run.

    Attributes
    ----------
    run : RunRecord
        The run.
    run_dir : Path or None
        Its run directory, if recorded.
    tasks : list[TaskInfo]
        Its tasks, in run (topological) order.
    edges : list[Edge]
        The task graph's edges.
    instances : list[InstanceInfo]
        Every instance, in task order then by index.
    generated : float
        When the data was gathered (seconds since the epoch).
    notes : list[str]
        What the report could not find or had to leave out.
    provenance : dict[str, Any]
        What exactly ran (:func:`reflow.runs.provenance.collect_provenance`);
        empty for runs recorded before it was.
    outputs : dict[str, list[tuple[int | None, Any]]]
        The outputs of the successful instances of each ``report=True`` task.
    """

    run: RunRecord
    run_dir: Path | None
    tasks: list[TaskInfo]
    edges: list[Edge]
    instances: list[InstanceInfo]
    generated: float
    notes: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, list[tuple[int | None, Any]]] = field(default_factory=dict)

    @property
    def wiring_recorded(self) -> bool:
        """Whether the edges carry their wire modes."""
        return all(edge.label for edge in self.edges)


def _ordered(specs: list[TaskSpecRecord]) -> list[TaskSpecRecord]:
    by_name = {s.task_name: s for s in specs}
    order = topological_order({s.task_name: s.dependencies for s in specs})
    return [by_name[name] for name in order]


def _edges(specs: list[TaskSpecRecord], wiring: Any) -> list[Edge]:
    edges: list[Edge] = []
    recorded = wiring if isinstance(wiring, dict) else {}
    for spec in specs:
        covered: set[str] = set()
        for param, wire in sorted((recorded.get(spec.task_name) or {}).items()):
            for step, mode in zip(wire.get("steps", []), wire.get("modes", []), strict=False):
                edges.append(Edge(str(step), spec.task_name, f"{param}: {mode}"))
                covered.add(str(step))
        for dep in spec.config.get("after") or []:
            edges.append(Edge(str(dep), spec.task_name, "after"))
            covered.add(str(dep))
        edges.extend(
            Edge(dep, spec.task_name, "") for dep in spec.dependencies if dep not in covered
        )
    return edges


def _instance(record: TaskInstanceRecord) -> InstanceInfo:
    source = record.cache_info.get("source") or {}
    hit = record.cache_info.get("status") == "hit" and record.state is TaskState.SUCCESS
    return InstanceInfo(
        task=record.task_name,
        index=record.array_index,
        state=record.state.value,
        job_id=record.job_id or "",
        queued=record.created_at.timestamp(),
        updated=record.updated_at.timestamp(),
        cached_from=str(source.get("run_id") or "another run") if hit else "",
        error=record.error_text or "",
    )


def _from_usage_file(layout: RunLayout, found: dict[tuple[str, int | None], InstanceInfo]) -> int:
    """Fill in what run_local recorded; return how many instances got figures."""
    filled = 0
    for task, index, host, usage in read_usage(layout.usage_file):
        info = found.get((task, index))
        if info is None or info.cached:
            continue
        info.start, info.end = usage.start, usage.end
        info.cpu_time, info.peak_rss_kb, info.host = usage.cpu_time, usage.peak_rss_kb, host
        filled += 1
    return filled


def _number(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    return (
        float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    )


def _from_worker_files(layout: RunLayout, info: InstanceInfo) -> None:
    """Fill in what a scheduler-mode worker wrote: its result file, else its start marker."""
    for path in (
        layout.result_file(info.task, info.index),
        layout.started_file(info.task, info.index),
    ):
        try:
            data = read_json(path)
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        info.start = _number(data, "start")
        info.end = _number(data, "end")
        info.host = str(data.get("host") or "")
        info.cpu_time = _number(data, "cpu_time")
        peak = _number(data, "peak_rss_kb")
        info.peak_rss_kb = None if peak is None else int(peak)
        return


def _provenance(run: RunRecord, run_dir: Path | None) -> dict[str, Any]:
    """The run's provenance, from its ``run.json`` (the store does not keep it)."""
    if run_dir is None:
        return {}
    try:
        return read_context(RunLayout(run_dir, run.run_id).context_file).provenance
    except ReflowError:
        return {}


def gather(store: Store, run_id: str) -> ReportData:
    """Collect everything the report of ``run_id`` shows.

    Parameters
    ----------
    store : Store
        The manifest store holding the run.
    run_id : str
        The run.

    Returns
    -------
    ReportData
        The run, its tasks and edges, and every instance with its times and usage.

    Raises
    ------
    ReflowError
        If the store has no such run.
    """
    run = store.get_run_record(run_id)
    if run is None:
        raise ReflowError(
            f"No run {run_id!r} in the manifest store {getattr(store, 'path', '')}. "
            "List the runs with: reflow runs (or give the store with --store-path)."
        )
    specs = _ordered(store.list_task_spec_records(run_id))
    records = store.list_task_instance_records(run_id)
    instances = [_instance(r) for r in records]
    position = {spec.task_name: i for i, spec in enumerate(specs)}
    instances.sort(key=lambda i: (position.get(i.task, len(position)), i.index or 0))
    counts: dict[str, dict[str, int]] = {}
    for info in instances:
        per_task = counts.setdefault(info.task, {})
        per_task[info.state] = per_task.get(info.state, 0) + 1
    tasks = [
        TaskInfo(
            name=spec.task_name,
            is_array=spec.is_array,
            dependencies=list(spec.dependencies),
            requested=Requested.from_config(spec.config),
            counts=counts.get(spec.task_name, {}),
            report=spec.config.get("report") is True,
        )
        for spec in specs
    ]
    notes: list[str] = []
    wiring = run.parameters.get(WIRING_KEY)
    if wiring is None and any(spec.dependencies for spec in specs):
        notes.append(
            "This run did not record its wire modes (it was recorded by an older reflow); "
            "edges show the dependency alone."
        )
    run_dir = recorded_run_dir(run)
    shown = {task.name for task in tasks if task.report}
    outputs: dict[str, list[tuple[int | None, Any]]] = {}
    for record in records:
        if record.task_name in shown and record.state is TaskState.SUCCESS:
            outputs.setdefault(record.task_name, []).append((record.array_index, record.output))
    for values in outputs.values():
        values.sort(key=lambda item: item[0] or 0)
    data = ReportData(
        run=run,
        run_dir=run_dir,
        tasks=tasks,
        edges=_edges(specs, wiring),
        instances=instances,
        generated=time.time(),
        notes=notes,
        provenance=_provenance(run, run_dir),
        outputs=outputs,
    )
    if run_dir is None or not run_dir.is_dir():
        notes.append(
            f"The run directory {run_dir or '(not recorded)'} is not readable here: "
            "start and end times, CPU time and memory are missing."
        )
        return data
    layout = RunLayout(run_dir, run_id)
    by_key = {(i.task, i.index): i for i in instances}
    _from_usage_file(layout, by_key)
    for info in instances:
        if info.start is None and not info.cached and info.state != TaskState.SKIPPED.value:
            _from_worker_files(layout, info)
    return data

"""Submitting tasks ahead of their inputs, with scheduler dependencies (design §5).

After a wave has submitted the instances that are ready, every task whose
number of instances is known and whose unfinished upstream instances are
each in one job submitted already is submitted too, with dependencies
instead of another wave (:mod:`reflow.engine.scheduler.ahead` says which):
``after_corr`` along a 1:1 chain where the executor pairs array elements,
``after_ok`` on the whole upstream job otherwise.  Only a fan-out over a list
a task returns waits for the next wave.

Guarantees kept:

- **Cache.** Such an instance is recorded with ``cache_info`` status
  ``"ahead"`` and no identity.  Its task's ahead file holds the upstream
  outputs known now and the task's earlier outputs by identity; the worker
  resolves its inputs when it starts (:mod:`reflow.engine.scheduler.resolve`)
  and reuses a cached output whose identity matches.  The next dispatcher
  computes the identity again from the store (:meth:`AheadJobs.settle`),
  records it with the usual ``cache_info`` (``hit`` or ``miss``) and writes
  the resolved inputs file, so ``reflow explain`` and the result checks read
  what they read for any instance.
- **Failures.** A job whose upstream failed never runs: the scheduler ends it
  (Slurm's ``--kill-on-invalid-dep=yes``, the local executor, Grid Engine's
  accounting check, PBS, Flux); its instances are recorded CANCELLED.  LSF
  keeps such jobs pending, so nothing is submitted ahead there.  ``retry``
  runs the failed instances again and resubmits their cancelled dependants
  with dependencies on the new jobs.
- **Resuming.** Instances are inserted, then the task is marked planned,
  then each job is marked and submitted as the dispatcher does for any job:
  a dispatcher killed in between submits nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from reflow._types import TaskState
from reflow.cache.expand import Expansion, expand
from reflow.cache.filestate import task_policies
from reflow.cache.identity import identity_with
from reflow.define.labels import instance_label
from reflow.define.wiring import WireMode
from reflow.engine.scheduler.ahead import DependencyKind, edge_kind
from reflow.engine.scheduler.packing import array_tasks
from reflow.engine.scheduler.upstream import upstream_outputs, wiring_to_json
from reflow.errors import ReflowError
from reflow.executors.jobs import split_element_id
from reflow.manifest import CODEC
from reflow.runs.creation import recorded_parts
from reflow.runs.files import read_json, write_json_atomic
from reflow.stores import NewTaskInstance, StateUpdate

if TYPE_CHECKING:
    from reflow.engine.scheduler.dispatcher import Dispatcher
    from reflow.stores import TaskInstanceRecord

__all__ = ["AHEAD", "INDEX_SHARDS", "NEVER_END", "AheadJobs", "is_ahead"]

logger = logging.getLogger(__name__)

AHEAD = "ahead"
"""The ``cache_info`` status of an instance submitted ahead and not yet settled."""

NEVER_END = frozenset({"lsf"})
"""Executors whose scheduler keeps a job whose dependency failed pending for ever."""

INDEX_SHARDS = 2
"""Hex digits of an identity naming its index shard: at most 256 shards per task."""

_DONE = TaskState.SUCCESS
_ACTIVE = (TaskState.SUBMITTED, TaskState.RUNNING)
_WAITING = (TaskState.PENDING, TaskState.RETRYING)
_BROKEN = (TaskState.FAILED, TaskState.CANCELLED, TaskState.SKIPPED)


def is_ahead(inst: TaskInstanceRecord) -> bool:
    """Whether ``inst`` was submitted ahead of its inputs and not yet settled."""
    return inst.cache_info.get("status") == AHEAD


class AheadJobs:
    """The ahead submissions of one dispatcher wave.

    Parameters
    ----------
    dispatcher : Dispatcher
        The wave (its store, run, workflow, executor and submit path).
    """

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.d = dispatcher
        self._records: dict[str, list[TaskInstanceRecord]] = {}

    # -- what is known ----------------------------------------------------------------

    def _instances(self, task: str) -> list[TaskInstanceRecord]:
        if task not in self._records:
            self._records[task] = self.d.store.list_task_instance_records(
                self.d.run_id, task_name=task
            )
        return self._records[task]

    def _deps(self, task: str) -> list[str]:
        spec = self.d.wf.tasks[task]
        wiring = self.d._analyse().wiring[task]
        return list(
            dict.fromkeys([*(s for w in wiring.values() for s in w.steps), *spec.config.after])
        )

    def _job_of(self, task: str, planned: Mapping[str, Any]) -> tuple[str, dict[int, int]] | None:
        """The one job holding every unfinished instance of ``task``, and where each runs.

        The mapping gives each unfinished element's array task number in that
        job: its own index, or its pack's number when the task was packed.
        ``("", {})`` when the task has ended successfully; ``None`` when it
        is not planned, has an instance waiting, failed or in several jobs.
        """
        if task not in planned:
            return None
        insts = self._instances(task)
        if len(insts) != planned[task]["count"]:
            return None
        bases: set[str] = set()
        tasks: dict[int, int] = {}
        for inst in insts:
            if inst.state is _DONE:
                continue
            job = inst.job_id or ""
            if inst.state not in _ACTIVE or not job or job.startswith("pending:"):
                return None
            base, number = split_element_id(job)
            bases.add(base)
            if inst.array_index is not None and number is not None:
                tasks[inst.array_index] = number
        if len(bases) > 1:
            return None
        return (bases.pop() if bases else "", tasks)

    def _count(self, task: str, planned: Mapping[str, Any]) -> int | None:
        """Instances ``task`` will have, if its shape is known without a new wave."""
        spec = self.d.wf.tasks[task]
        if not spec.config.array:
            return 1
        sizes: set[int] = set()
        for w in self.d._analyse().wiring[task].values():
            if not w.drives_array:
                continue
            if any(m is not WireMode.CHAIN for m in w.modes):
                return None  # over a list: its length is known once it was read
            if any(s not in planned for s in w.steps):
                return None
            sizes.add(sum(int(planned[s]["count"]) for s in w.steps))
        return sizes.pop() if len(sizes) == 1 else None

    # -- submitting ------------------------------------------------------------------

    def submit(self) -> list[str]:
        """Submit every task that can go ahead this wave; return the new job ids."""
        d = self.d
        if d.executor.name in NEVER_END:
            return []
        self._records = {}
        planned = d._planned()
        unsent = {i.id for i in d._unsent()}  # marked by a wave that died (one rule)
        submitted: list[str] = []
        for name in d._analyse().order:
            deps = self._deps(name)
            if not deps:
                continue
            waiting = [
                i
                for i in self._instances(name)
                if is_ahead(i) and (i.state in _WAITING or i.id in unsent)
            ]
            if name in planned and not waiting:
                continue
            if any(self._broken(dep) for dep in deps):
                self._cancel(name, waiting)
                continue
            jobs = {dep: self._job_of(dep, planned) for dep in deps}
            if any(j is None for j in jobs.values()):
                continue
            if name not in planned:
                count = self._count(name, planned)
                if count is None or (
                    (room := d._room(jobs_needed := d._jobs(name, count))) is not None
                    and room < jobs_needed
                ):
                    continue
                waiting = self._insert(name, count)
                planned[name] = {"count": count, AHEAD: True}
                d._mark_planned(planned)
            # An upstream task that has ended (no job) is no dependency: "" is no job id.
            job_id = self._submit_task(
                name, waiting, {k: v for k, v in jobs.items() if v and v[0]}
            )
            if job_id is not None:
                submitted.append(job_id)
                self._records.pop(name, None)
        return submitted

    def _broken(self, task: str) -> bool:
        return any(i.state in _BROKEN for i in self._instances(task))

    def _cancel(self, task: str, waiting: Sequence[TaskInstanceRecord]) -> None:
        """Waiting instances whose upstream failed: cancelled, as their jobs would be."""
        if waiting:
            text = "not run: an upstream instance failed; retry the run once it is fixed"
            self.d.store.apply_state_updates(
                [StateUpdate(i.id, TaskState.CANCELLED, error_text=text) for i in waiting]
            )

    def _insert(self, name: str, count: int) -> list[TaskInstanceRecord]:
        """Insert the instances of ``name`` not inserted yet (a wave killed mid-way)."""
        spec = self.d.wf.tasks[name]
        existing = {i.array_index for i in self._instances(name)}
        indices: list[int | None] = list(range(count)) if spec.config.array else [None]
        news = [
            NewTaskInstance(
                name, i, TaskState.PENDING, {}, identity="", cache_info={"status": AHEAD}
            )
            for i in indices
            if i not in existing
        ]
        with self.d.store.transaction():
            self.d.store.insert_task_instances(self.d.run_id, news)
        self._records.pop(name, None)
        return [i for i in self._instances(name) if i.state in _WAITING]

    def _submit_task(
        self,
        name: str,
        insts: list[TaskInstanceRecord],
        jobs: Mapping[str, tuple[str, dict[int, int]]],
    ) -> str | None:
        d = self.d
        if not insts:
            return None
        # In order first: a slice within the cap is the first elements, in whole packs.
        insts.sort(key=lambda r: -1 if r.array_index is None else r.array_index)
        room = d._room(d._jobs(name, len(insts)))
        if room is not None:  # whole array tasks within the cap: a pack counts once
            insts = insts[: room * d._pack_size(name)]
            if not insts:
                return None
        write_json_atomic(d.layout.ahead_file(name), self._ahead_payload(name))
        payload = self._input_payload(name)
        for inst in insts:
            write_json_atomic(d.layout.input_file(name, inst.array_index), payload)
        job, pack, token = d._packed_job(name, insts)
        # Where each element runs in this job: array task k of a pack waits, with
        # after_corr, for array task k upstream, which must hold the very elements
        # it reads (a 1:1 chain reads element i upstream for element i).
        mine = array_tasks(pack, [i.array_index for i in insts])
        wiring = d._analyse().wiring[name]
        corr: list[str] = []
        ok: list[str] = []
        for dep, (upstream_job, dep_tasks) in jobs.items():
            kind = edge_kind(name, dep, d.wf.tasks, wiring, d.executor.supports_after_corr)
            paired = kind is DependencyKind.AFTER_CORR and dep_tasks == mine
            (corr if paired else ok).append(upstream_job)
        job = replace(job, after_ok=tuple(ok), after_corr=tuple(corr))
        # An executor may still refuse to pair two arrays (one split in chunks):
        # the whole upstream array is then waited for.
        whole = replace(job, after_ok=tuple(ok + corr), after_corr=()) if corr else None
        logger.info(
            "%s: %d instance(s) submitted ahead%s (after_ok %s, after_corr %s)",
            name,
            len(insts),
            "" if pack is None else f" in {len(pack.groups)} pack(s)",
            ok,
            corr,
        )
        return d._submit_job(name, insts, job, whole, pack=pack, token=token)

    def _ahead_payload(self, name: str) -> dict[str, Any]:
        """The task's ahead file: how to resolve its inputs, and its earlier outputs."""
        d = self.d
        spec = d.wf.tasks[name]
        policies = task_policies(d.wf)
        planned = d._planned()
        deps = self._deps(name)
        known: dict[str, dict[str, list[str]]] = {}
        for dep in deps:
            known[dep] = {
                "-" if i.array_index is None else str(i.array_index): [
                    CODEC.dumps(i.output),
                    i.output_hash or "",
                ]
                for i in self._instances(dep)
                if i.state is _DONE
            }
        payload: dict[str, Any] = {
            "array": spec.config.array,
            "wiring": wiring_to_json(d._analyse().wiring[name]),
            "after": list(spec.config.after),
            "shapes": {
                dep: [d.wf.tasks[dep].config.array, int(planned[dep]["count"])] for dep in deps
            },
            "policies": {dep: policies[dep] for dep in deps},
            "policy": policies[name],
            "known": known,
        }
        lookup, _ = d._planner().cache_mode(name)
        if lookup and not d.context.verify:
            parts = recorded_parts(d.store, d.run_id).get(name)
            if parts is not None:
                if name in d._code():
                    parts = replace(parts, code=d._code()[name])
                payload["parts"] = parts.to_dict()
                payload["index_shards"] = self._write_index(name)
        return payload

    def _write_index(self, name: str) -> int:
        """Write the task's earlier outputs in shards by identity prefix; return the prefix length.

        The index holds every identity the task ever had: one file would be
        read whole by every worker, each needing one entry.  Shards named by the
        identity's first :data:`INDEX_SHARDS` hex digits keep a read small; a
        shard left by an earlier submission and no longer written is removed.
        """
        layout = self.d.layout
        shards: dict[str, dict[str, dict[str, Any]]] = {}
        for identity, entry in self._earlier_outputs(name).items():
            shards.setdefault(identity[:INDEX_SHARDS], {})[identity] = entry
        for shard, entries in shards.items():
            write_json_atomic(layout.ahead_index_file(name, shard), entries, durable=False)
        folder = layout.ahead_index_file(name, "x").parent
        if folder.is_dir():
            for path in folder.glob("*.json"):
                if path.stem not in shards:
                    path.unlink(missing_ok=True)
        return INDEX_SHARDS

    def _earlier_outputs(self, name: str) -> dict[str, dict[str, Any]]:
        """Successful outputs of ``name`` by identity: what a cache lookup would find for each.

        One row per identity, the newest, in any run of any workflow whose
        results this run may reuse (``[store] share_cache``), as ``run_local``'s
        lookups find them (:meth:`~reflow.stores.Store.newest_outputs`).
        """
        d = self.d
        found = d.store.newest_outputs(name, user_id=d._planner().cache_user)
        return {
            identity: {
                "output": CODEC.dumps(inst.output),
                "output_hash": inst.output_hash or "",
                "source": {
                    "run_id": inst.run_id,
                    "instance_id": inst.id,
                    "array_index": inst.array_index,
                },
            }
            for identity, inst in found.items()
        }

    def _input_payload(self, name: str) -> dict[str, Any]:
        d = self.d
        values = d.record.parameters
        dests = d._analyse().param_dests.get(name, {})
        fixed = {p: values[k] for p, k in dests.items() if k in values}
        return {
            "argv": d.argv,
            "run_id": d.run_id,
            "kwargs": CODEC.dumps(fixed),
            "run_dir_params": list(d.wf.tasks[name].run_dir_params),
            AHEAD: True,
        }

    # -- ingesting ---------------------------------------------------------------------

    def cancelled_upstream(
        self, inst: TaskInstanceRecord, summary: Mapping[str, Mapping[str, int]]
    ) -> str | None:
        """Why an ahead instance whose job ended without a result never ran, if it is that.

        ``summary`` is the run's :meth:`~reflow.stores.Store.task_state_summary`.
        """
        if not is_ahead(inst):
            return None
        for dep in self._deps(inst.task_name):
            bad = sorted(s for s in summary.get(dep, {}) if s in ("FAILED", "CANCELLED"))
            if bad:
                return (
                    f"not run: {dep} has {' and '.join(bad).lower()} instances and this job "
                    "depended on them; retry the run once they are fixed"
                )
        return None

    def upstream_retrying(
        self, inst: TaskInstanceRecord, summary: Mapping[str, Mapping[str, int]]
    ) -> str | None:
        """The upstream task an ended ahead instance waited on that is being retried, if any.

        Its job was cancelled with the failed attempt it depended on; the retry
        (``retries=``) runs again, and so must the instance, after it.
        """
        if not is_ahead(inst):
            return None
        return next(
            (dep for dep in self._deps(inst.task_name) if summary.get(dep, {}).get("RETRYING")),
            None,
        )

    def settle(self, name: str, insts: Sequence[TaskInstanceRecord]) -> list[TaskInstanceRecord]:
        """Record the identity of each finished ahead instance, computed from the store.

        The worker's own computation only chose whether to reuse a cached
        output; a hit it claims under another identity than the store gives is
        refused (the instance fails and can be retried).  Returns the
        instances with their identity, for the result to be ingested.
        """
        d = self.d
        done = {i.id for i in insts if d.layout.result_file(name, i.array_index).exists()}
        if not done:
            return list(insts)
        try:
            exp = self._expansion(name)
        except (ReflowError, KeyError, IndexError) as exc:
            logger.warning("%s: inputs not settled yet: %s", name, exc)
            return list(insts)
        spec = d.wf.tasks[name]
        prefix = d._planner().prefixes.get(name)
        _, fixed = d._planner().cache_mode(name)
        moves: dict[int, tuple[str, dict[str, Any]]] = {}
        failed: list[StateUpdate] = []
        out: list[TaskInstanceRecord] = []
        for inst in insts:
            if inst.id not in done:
                out.append(inst)
                continue
            hashes = exp.hashes(inst.array_index or 0)
            identity = identity_with(prefix, hashes) if spec.config.cache and prefix else ""
            info: dict[str, Any] = {"inputs": hashes}
            if name in d._code():
                info["code"] = d._code()[name]
            data = self._result(inst)
            claimed = data.get("cached") if isinstance(data.get("cached"), dict) else None
            stale = [str(p) for p in data.get("stale_inputs") or ()]
            if stale:  # its files changed after they were hashed: keep, never serve
                identity = ""
                info["status"] = "miss"
                info["file_changes"] = _stale_lines(stale, data.get("files") or {})
                logger.warning(
                    "%s ran with changed files (%s); its result is kept for this run but "
                    "never reused from the cache",
                    instance_label(name, inst.array_index),
                    "; ".join(info["file_changes"]),
                )
            elif claimed is not None and claimed.get("identity") == identity:
                source = {k: claimed.get(k) for k in ("run_id", "instance_id", "array_index")}
                info.update(status="hit", source=source)
            elif claimed is not None:
                failed.append(
                    StateUpdate(
                        inst.id,
                        TaskState.FAILED,
                        error_text="its worker reused a cached output for other inputs than "
                        "the store records; retry the run",
                    )
                )
                continue
            else:
                info.update(fixed or {"status": "miss"})
            moves[inst.id] = (identity, info)
            d._write_inputs(name, exp, [inst.array_index], data.get("files"))
            out.append(replace(inst, identity=identity, cache_info=info))
        with d.store.transaction():
            if moves:
                d.store.set_identity_many(moves)
            if failed:
                d.store.apply_state_updates(failed)
        return out

    def _result(self, inst: TaskInstanceRecord) -> dict[str, Any]:
        """The instance's result file as written (``{}`` if unreadable: ingest reports it)."""
        try:
            data = read_json(self.d.layout.result_file(inst.task_name, inst.array_index))
        except (FileNotFoundError, ValueError):
            return {}
        return dict(data) if isinstance(data, dict) and data.get("ok") else {}

    def _expansion(self, name: str) -> Expansion:
        """The inputs of ``name`` from the store, each upstream element read on use."""
        d = self.d
        spec = d.wf.tasks[name]
        planned = d._planned()
        deps = self._deps(name)
        outputs: dict[tuple[str, int | None], tuple[Any, str]] = {}
        for dep in deps:
            for i in d.store.list_task_instance_records(d.run_id, task_name=dep, states=[_DONE]):
                outputs[(dep, i.array_index)] = (i.output, i.output_hash or "")

        def fetch(dep: str, index: int | None) -> tuple[Any, str]:
            if (dep, index) not in outputs:
                raise ReflowError(f"{instance_label(dep, index)} has not succeeded")
            return outputs[(dep, index)]

        shapes = {dep: (d.wf.tasks[dep].config.array, int(planned[dep]["count"])) for dep in deps}
        ups = upstream_outputs(shapes, task_policies(d.wf), fetch)
        return expand(name, spec.config.array, d._analyse().wiring[name], ups, spec.config.after)


def _stale_lines(params: Sequence[str], seen: Mapping[str, Any]) -> list[str]:
    """``reflow explain``'s words for inputs whose files changed after they were hashed."""
    lines = []
    for param in params:
        paths = [
            str(state.get("path")) for state in seen.get(param, []) if isinstance(state, dict)
        ]
        for path in paths or ["(unknown)"]:
            lines.append(f"input {param!r} file {path} changed after its upstream task ended")
    return lines

"""Why a task instance was, or was not, taken from the cache.

The run records, for every instance, a ``cache_info`` entry: its status
(``hit``, ``miss``, ``forced``, ``disabled``, ``verify_failed``), the hit's
source, and the hashes of its inputs; the task-level parts of the identity
(version, code fingerprint, parameter hashes) are recorded once with the
task's specification.  A miss is explained by comparing those parts with the
same task in the most recent earlier run of the same workflow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reflow.cache.filechanges import input_file_change, stale_output_text
from reflow.cache.identity import IdentityParts
from reflow.define.labels import instance_label
from reflow.errors import ReflowError
from reflow.runs.graph import WIRING_KEY

if TYPE_CHECKING:
    from reflow.stores import Store, TaskInstanceRecord

__all__ = ["CACHE_PARTS_KEY", "explain_instance", "identity_parts"]

CACHE_PARTS_KEY = "__cache_parts__"
"""Key, in a task specification's stored config, of its identity's task-level parts."""


def identity_parts(store: Store, run_id: str, record: TaskInstanceRecord) -> IdentityParts | None:
    """Rebuild the identity parts of a stored instance (``None`` if not recorded)."""
    spec = store.get_task_spec_record(run_id, record.task_name)
    if spec is None or CACHE_PARTS_KEY not in spec.config:
        return None
    task_parts = dict(spec.config[CACHE_PARTS_KEY])
    inputs = record.cache_info.get("inputs")
    source = record.cache_info.get("source", {})
    seen = {record.id}
    while inputs is None and source.get("run_id"):
        # A copied array element: same identity, so the same inputs as its source.
        origin = store.get_task_instance_record(
            source["run_id"], record.task_name, source.get("array_index", record.array_index)
        )
        if origin is None or origin.id in seen:
            break
        seen.add(origin.id)
        inputs = origin.cache_info.get("inputs")
        source = origin.cache_info.get("source", {})
    task_parts["inputs"] = dict(inputs or {})
    if "code" in record.cache_info:  # ran, or was retried with, other code than submitted
        task_parts["code"] = record.cache_info["code"]
    if "ran_params" in record.cache_info:  # its job read other files than planned
        task_parts["params"] = {**task_parts.get("params", {}), **record.cache_info["ran_params"]}
        task_parts["files"] = {**task_parts.get("files", {}), **record.cache_info["ran_files"]}
    return IdentityParts.from_dict(task_parts)


def _code_lines(info: dict[str, Any]) -> list[str]:
    """What ``explain`` says when an instance's code or files are not the ones planned."""
    return _ran_code_lines(info) + _ran_files_lines(info)


def _ran_files_lines(info: dict[str, Any]) -> list[str]:
    changes = info.get("file_changes")
    if not changes:
        return []
    fate = (
        "its result is recorded under the identity of the files it read"
        if "ran_params" in info
        else "its result is kept for this run but never reused from the cache"
    )
    return [f"  ran with changed files: {'; '.join(changes)}; {fate}."]


def _ran_code_lines(info: dict[str, Any]) -> list[str]:
    if "planned_code" in info and not info.get("code"):
        return [
            "  its job did not say which code it ran, so its result is kept for this run "
            "but never reused from the cache."
        ]
    if "planned_code" in info:
        return [
            f"  ran edited code: planned fingerprint {str(info['planned_code'])[:12]}, ran "
            f"{str(info['code'])[:12]}. The job loaded other code than the run was planned with "
            "(for example a module outside the run's frozen copy was edited while the job "
            "waited); the result is recorded under the identity of the code that ran, never "
            "under the planned one."
        ]
    if "code" in info:
        return [
            f"  ran the code as it was at retry (fingerprint {str(info['code'])[:12]}), not "
            "the code the run was submitted with; the identity is that code's."
        ]
    return []


def _previous(
    store: Store, run_id: str, task: str, index: int | None
) -> tuple[str, TaskInstanceRecord] | None:
    run = store.get_run_record(run_id)
    if run is None:
        return None
    for other in store.list_run_records(graph_name=run.graph_name):
        if other.run_id == run_id or other.created_at > run.created_at:
            continue
        record = store.get_task_instance_record(other.run_id, task, index)
        if record is not None and record.cache_info:
            return other.run_id, record
    return None


def _input_detail(
    store: Store, runs: tuple[str, str], task: str, index: int | None
) -> Callable[[str], str | None]:
    """Name the upstream file behind a changed input (see :mod:`reflow.cache.filechanges`)."""
    run = store.get_run_record(runs[0])
    wiring = run.parameters.get(WIRING_KEY, {}) if run is not None else {}
    return lambda param: input_file_change(store, wiring, runs, task, index, param)


def explain_instance(store: Store, run_id: str, task: str, index: int | None) -> str:
    """Return a few lines saying why the instance was or was not a cache hit.

    Raises
    ------
    ReflowError
        If the run has no such instance.
    """
    label = instance_label(task, index)
    record = store.get_task_instance_record(run_id, task, index)
    if record is None:
        raise ReflowError(f"Run {run_id} has no instance {label}.")
    info: dict[str, Any] = record.cache_info
    status = info.get("status")
    ident = record.identity[:12] if record.identity else "-"
    if status == "hit":
        source = info.get("source", {})
        origin = instance_label(task, source.get("array_index", index))
        instance = f" (instance {source['instance_id']})" if "instance_id" in source else ""
        return (
            f"{label}: cache hit (identity {ident}). Reused the result of {origin} in run "
            f"{source.get('run_id')}{instance}: same task version, code, parameters and "
            "upstream outputs."
        ) + _bytecode_note(identity_parts(store, run_id, record))
    if status == "disabled":
        return "\n".join(
            [
                f"{label}: not cached: the task is defined with cache=False, so it always runs.",
                *_code_lines(info),
            ]
        )
    if status == "forced":
        why = info.get("reason", "forced")
        return "\n".join(
            [f"{label}: ran without looking in the cache: {why}.", *_code_lines(info)]
        )
    if not status:
        return f"{label}: no cache decision recorded (state {record.state.value})."
    if status == "ahead":  # reflow.engine.scheduler.forward: its worker decides, then a wave
        return (
            f"{label}: submitted ahead of its inputs (state {record.state.value}); its cache "
            "decision is recorded by the dispatcher after its job has run."
        )
    if status == "output_changed":
        return stale_output_text(label, info)
    lines = []
    if status == "verify_failed":
        lines.append(
            f"{label}: cache miss: a cached result existed but failed verification: "
            f"{info.get('reason', 'no reason recorded')}."
        )
    else:
        lines.append(
            f"{label}: cache miss (identity {ident}): no earlier successful instance "
            "had this identity."
        )
    lines.extend(_code_lines(info))
    previous = _previous(store, run_id, task, index)
    mine = identity_parts(store, run_id, record)
    if previous is None or mine is None:
        lines.append("  No earlier run of this workflow ran this instance to compare with.")
        return "\n".join(lines) + _bytecode_note(mine)
    prev_run, prev_record = previous
    theirs = identity_parts(store, prev_run, prev_record)
    changes = (
        mine.differences(theirs, _input_detail(store, (run_id, prev_run), task, index))
        if theirs is not None
        else []
    )
    if changes:
        lines.append(f"  Compared with run {prev_run}:")
        lines.extend(f"  - {change}" for change in changes)
    elif prev_record.state.value != "SUCCESS":
        lines.append(
            f"  Run {prev_run} had the same inputs but its instance ended "
            f"{prev_record.state.value}, so there was no result to reuse."
        )
    else:
        lines.append(f"  Run {prev_run} had the same identity parts; its result was not reusable.")
    return "\n".join(lines) + _bytecode_note(mine)


def _bytecode_note(parts: IdentityParts | None) -> str:
    """A line saying the code was fingerprinted from bytecode, which a Python upgrade changes."""
    source = parts.code_parts.get("source", "ast") if parts is not None else "ast"
    if source == "ast":
        return ""
    return (
        f"\n  Note: fingerprinted from bytecode ({source.removeprefix('bytecode: ')}): "
        "a new Python version will be a cache miss."
    )

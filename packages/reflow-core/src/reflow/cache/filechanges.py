"""What ``reflow explain`` says about files: an input file rewritten, a cached output changed.

Two cases are told here, apart from the rest of :mod:`reflow.cache.explain`:

* an input whose hash changed while the upstream output still names the
  same files: the files themselves changed (the upstream task ran again and
  wrote them again, or someone edited them);
* a cached result that was not reused because a file it names was changed
  or deleted after it was recorded (status ``output_changed``).

A parameter's file change is told by :meth:`reflow.cache.identity.IdentityParts.differences`
from the states recorded with the run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reflow.cache.filestate import paths_in
from reflow.manifest import CODEC

if TYPE_CHECKING:
    from reflow.stores import Store

__all__ = ["input_file_change", "stale_output_text"]

_SHOWN = 5
"""At most this many files are named in one line; the rest are counted."""


def _names(paths: Sequence[str]) -> str:
    shown = ", ".join(paths[:_SHOWN])
    more = len(paths) - _SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _now(state: Mapping[str, Any]) -> str:
    kind = state.get("kind")
    if kind == "missing":
        return f"{state.get('path')} (deleted)"
    if kind == "dir":
        return f"{state.get('path')} (directory, now {state.get('files')} files)"
    return f"{state.get('path')} (now {state.get('size')} bytes)"


def stale_output_text(label: str, info: Mapping[str, Any]) -> str:
    """The explanation of an ``output_changed`` miss, from its ``cache_info``."""
    cached = info.get("cached", {})
    states = list(info.get("files", []))
    # Deleted files first: they are the usual reason, and the one users look for.
    states.sort(key=lambda s: s.get("kind") != "missing")
    return (
        f"{label}: cache miss: the cached result of run {cached.get('run_id')} names "
        f"files that are not as they were when it was recorded: "
        f"{_names([_now(s) for s in states])}; so the task ran again."
    )


def _outputs(
    store: Store, run_id: str, step: str, mode: str, index: int | None
) -> tuple[list[Any], bool] | None:
    """The upstream values an input received in ``run_id``, and whether they were re-run there."""
    if mode in ("direct", "broadcast", "fan_out"):
        records = [store.get_task_instance_record(run_id, step, None)]
    elif mode == "chain":
        records = [store.get_task_instance_record(run_id, step, index)]
    else:  # gather, gather_flatten, chain_flatten: every element
        records = list(store.list_task_instance_records(run_id, task_name=step))
    if not records or any(r is None or r.state.value != "SUCCESS" for r in records):
        return None
    values = [r.output for r in records if r is not None]
    if mode == "fan_out":
        whole = values[0]
        if not isinstance(whole, (list, tuple)) or index is None or index >= len(whole):
            return None
        values = [whole[index]]
    ran = any(r is not None and r.cache_info.get("status") != "hit" for r in records)
    return values, ran


def input_file_change(
    store: Store,
    wiring: Mapping[str, Any],
    runs: tuple[str, str],
    task: str,
    index: int | None,
    param: str,
) -> str | None:
    """Say which upstream file changed when input ``param`` changed but names the same files.

    ``runs`` is (this run, the earlier run compared with); ``wiring`` is the
    run's recorded wiring.  ``None`` when the upstream values themselves
    differ (the plain words then say it) or nothing can be told.
    """
    spec = wiring.get(task, {}).get(param)
    if not spec:
        return None
    steps, modes = list(spec.get("steps", [])), list(spec.get("modes", []))
    if len(steps) > 1 and set(modes) & {"fan_out", "chain", "chain_flatten"}:
        return None  # the element index counts over all steps together
    paths: list[str] = []
    ran: list[str] = []  # upstream tasks that ran in this run: the likely writers
    for step, mode in zip(steps, modes, strict=False):
        now, before = (_outputs(store, run, step, mode, index) for run in runs)
        if now is None or before is None:
            return None
        if CODEC.canonical_dumps(now[0]) != CODEC.canonical_dumps(before[0]):
            return None  # another value, not only other files
        named = [str(p) for p in paths_in(now[0])]
        paths.extend(named)
        if now[1] and named:
            ran.append(step)
    if not paths:
        return None
    said = f"input {param!r} changed: upstream output file {_names(paths)} changed"
    if ran:  # said as a fact, not as the cause: a lister that ran wrote no file
        said += f" ({', '.join(repr(s) for s in ran)} ran again in this run)"
    return said

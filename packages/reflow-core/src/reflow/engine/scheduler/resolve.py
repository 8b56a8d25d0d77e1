"""The worker's side of an instance submitted ahead of its inputs: resolve them, look up the cache.

The dispatcher submitted the instance with a scheduler dependency on its
upstream jobs (:mod:`reflow.engine.scheduler.forward`), before their outputs
existed.  When it starts, its upstream instances have succeeded: the worker
reads their outputs (from the ahead file where the dispatcher knew them
already, else from their result files), computes the instance's inputs and
input hashes as planning does (:func:`~reflow.cache.expand.expand`), and from
them its Merkle identity.  If the ahead file's index of the task's earlier
outputs holds that identity (and the files the output names are unchanged),
the worker writes that output as its result instead of running the task: the
next dispatcher records it as a cache hit, after computing the identity again
from the store.  Workers still never open the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from reflow.cache.expand import expand
from reflow.cache.filestate import holds_path
from reflow.cache.identity import IdentityParts, hash_with_files, value_hash
from reflow.define.labels import instance_label
from reflow.engine.scheduler.upstream import Fetch, upstream_outputs, wiring_from_json
from reflow.errors import ReflowError
from reflow.runs.files import read_json
from reflow.runs.layout import RunLayout

__all__ = ["Resolved", "resolve_ahead"]


@dataclass(frozen=True)
class Resolved:
    """The inputs of one instance submitted ahead, and its cache hit if any.

    Attributes
    ----------
    values : dict
        The ``Result`` parameters' values.
    identity : str
        Its identity (``""`` for a task with ``cache=False``).
    hit : dict or None
        The result file of the cached output to reuse, or ``None``: run.
    stale : list of str
        Inputs whose files changed since their upstream task's output was
        hashed: their hashes no longer say what the task reads, so the
        instance runs and its result gets no identity.
    """

    values: dict[str, Any]
    identity: str
    hit: dict[str, Any] | None
    stale: list[str] = field(default_factory=list)


def resolve_ahead(layout: RunLayout, task: str, index: int | None, codec: Any) -> Resolved:
    """Resolve instance ``index`` of ``task`` from its ahead file and upstream results.

    ``codec`` decodes outputs (:func:`~reflow.engine.scheduler.code.workflow_codec`).

    Raises
    ------
    ReflowError
        An upstream instance left no successful result (its job should not
        have let this one start).
    """
    ahead = read_json(layout.ahead_file(task))
    known: dict[str, dict[str, list[str]]] = ahead.get("known", {})

    def fetch(dep: str, i: int | None) -> tuple[Any, str]:
        key = "-" if i is None else str(i)
        if key in known.get(dep, {}):
            encoded, digest = known[dep][key]
            return codec.loads(encoded), digest
        try:
            data = read_json(layout.result_file(dep, i))
        except (FileNotFoundError, ValueError) as exc:
            raise ReflowError(
                f"{instance_label(dep, i)} left no readable result for {task}: {exc}"
            ) from exc
        if not data.get("ok"):
            raise ReflowError(f"{instance_label(dep, i)} did not succeed; {task} cannot run.")
        return codec.loads(data["output"]), str(data["output_hash"])

    shapes = {dep: (bool(a), int(n)) for dep, (a, n) in ahead["shapes"].items()}
    ups = upstream_outputs(shapes, ahead.get("policies", {}), fetch)
    exp = expand(
        task, bool(ahead["array"]), wiring_from_json(ahead["wiring"]), ups, ahead.get("after", ())
    )
    position = index or 0
    values = exp.values(position)
    stale = _stale(task, ahead, shapes, fetch, exp.hashes(position), values, position)
    parts = ahead.get("parts")
    if not parts or stale:
        return Resolved(values, "", None, stale)
    identity = replace(IdentityParts.from_dict(parts), inputs=exp.hashes(position)).identity()
    entry = _indexed(layout, task, ahead, identity)
    if entry is None:
        return Resolved(values, identity, None)
    output = codec.loads(entry["output"])
    if holds_path(output):
        digest, _ = hash_with_files(output, ahead.get("policy", "stat"))
        if digest != entry["output_hash"]:  # a file it names changed: not what the task left
            return Resolved(values, identity, None)
    hit = {
        "ok": True,
        "output": entry["output"],
        "output_hash": entry["output_hash"],
        "cached": {**entry["source"], "identity": identity},
    }
    return Resolved(values, identity, hit)


def _indexed(
    layout: RunLayout, task: str, ahead: dict[str, Any], identity: str
) -> dict[str, Any] | None:
    """The index entry of ``identity``: from its shard, or the ahead file's own index.

    An ahead file written before the index was sharded holds it whole (``index``).
    """
    if "index" in ahead:
        found = ahead["index"].get(identity)
        return found if isinstance(found, dict) else None
    digits = ahead.get("index_shards")
    if not isinstance(digits, int) or not identity:
        return None
    try:
        shard = read_json(layout.ahead_index_file(task, identity[:digits]))
    except (FileNotFoundError, ValueError):
        return None  # no earlier output starts so: the instance runs
    found = shard.get(identity) if isinstance(shard, dict) else None
    return found if isinstance(found, dict) else None


def _stale(
    task: str,
    ahead: dict[str, Any],
    shapes: dict[str, tuple[bool, int]],
    fetch: Fetch,
    hashes: dict[str, str],
    values: dict[str, Any],
    position: int,
) -> list[str]:
    """The inputs naming files whose state is not the one their upstream output was hashed with.

    Planning records the states of an input's files when it plans the
    instance; an instance submitted ahead is planned by its worker, so the
    worker hashes the upstream outputs again, now, and compares.  Only
    inputs that name files can differ.
    """
    if not any(holds_path(v) for v in values.values()):
        return []
    policies: dict[str, str] = ahead.get("policies", {})

    def fresh(dep: str, i: int | None) -> tuple[Any, str]:
        value = fetch(dep, i)[0]
        return value, value_hash(value, policy=policies.get(dep, "stat"))

    again = expand(
        task,
        bool(ahead["array"]),
        wiring_from_json(ahead["wiring"]),
        upstream_outputs(shapes, policies, fresh),
        ahead.get("after", ()),
    ).hashes(position)
    return sorted(p for p in values if again.get(p) != hashes.get(p))

"""The state of the files a value names, as it enters identities and output hashes.

A ``Path`` anywhere in a parameter, an input or an output (in a list, tuple,
dict, dataclass, nested to any depth) stands for what is on disk there, not
only for its name.  How much of it counts is the *policy*:

``"stat"`` (the default)
    size and modification time (ns) of a file; for a directory, the relative
    name, size and modification time of every file below it.
``"content"``
    a SHA-256 of each file's bytes (a directory: of every file below it, by
    relative name); touching a file without changing it is not a change.
``"path"``
    the path alone, as reflow did before it looked at files.

A path that names nothing hashes as ``missing``, so creating it later is a
change.  The states are JSON-safe dicts, so they can also be recorded and
compared by ``reflow explain``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reflow.define.filepolicy import DEFAULT_POLICY, POLICIES, check_policy

if TYPE_CHECKING:
    from reflow.workflow import Workflow

__all__ = [
    "DEFAULT_POLICY",
    "POLICIES",
    "absolute",
    "changed_files",
    "check_policy",
    "describe_change",
    "file_states",
    "holds_path",
    "paths_in",
    "state_of",
    "task_policies",
]

# Types that can never hold a Path: the walk stops at once on them, which
# keeps hashing Path-free values (a fan-out over ints) almost free.
_LEAVES = (str, int, float, bool, type(None), bytes)
_CHUNK = 1 << 20


def task_policies(workflow: Workflow) -> dict[str, str]:
    """Each task's policy: its own ``cache_inputs``, else ``[cache] inputs``, else ``"stat"``."""
    default = workflow.config.cache_inputs
    return {name: spec.config.cache_inputs or default for name, spec in workflow.tasks.items()}


def _walk(value: Any) -> Iterator[Path]:
    if isinstance(value, _LEAVES):
        return
    if isinstance(value, Path):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            if not isinstance(item, _LEAVES):
                yield from _walk(item)
    elif isinstance(value, dict):
        # By sorted key, as the canonical text has them: the same dict built in
        # another order must give the same states in the same order.
        for key in sorted(value):
            if not isinstance(value[key], _LEAVES):
                yield from _walk(value[key])
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _walk(getattr(value, f.name))


def paths_in(value: Any) -> list[Path]:
    """Every ``Path`` in ``value``, in a fixed order (a dict's by sorted key)."""
    return list(_walk(value))


def holds_path(value: Any) -> bool:
    """Whether ``value`` holds a ``Path`` anywhere (stops at the first one)."""
    if isinstance(value, _LEAVES):  # the common case, without making a generator
        return False
    return next(_walk(value), None) is not None


def absolute(path: str | os.PathLike[str]) -> Path:
    """``path`` made absolute against the current directory, ``..`` folded, links kept."""
    return Path(os.path.normpath(Path(path).absolute()))


def _sha256(path: Path) -> str:
    """The file's SHA-256, or ``"unreadable"`` (no permission, or gone meanwhile).

    An unreadable file must not stop a run: the task that reads it fails and
    says why; here it only counts as a state of its own.
    """
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while block := handle.read(_CHUNK):
                digest.update(block)
    except OSError:
        return "unreadable"
    return digest.hexdigest()


def _tree(root: Path) -> Iterator[tuple[str, Path, os.stat_result]]:
    """(relative name, full name, stat) of every file below ``root``, sorted by name."""
    for top, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            full = Path(top) / name
            try:
                info = full.stat()
            except OSError:  # a dangling symbolic link: no file there
                continue
            if stat.S_ISREG(info.st_mode):
                yield os.path.relpath(full, root), full, info


def _dir_state(where: Path, policy: str) -> dict[str, Any]:
    digest = hashlib.sha256()
    count = total = newest = 0
    for rel, full, info in _tree(where):
        count += 1
        total += info.st_size
        newest = max(newest, info.st_mtime_ns)
        what = _sha256(full) if policy == "content" else f"{info.st_size}:{info.st_mtime_ns}"
        digest.update(f"{rel}\0{what}\n".encode())
    state: dict[str, Any] = {"path": str(where), "kind": "dir", "files": count, "size": total}
    if policy == "stat":
        state["mtime_ns"] = newest
    state["digest"] = digest.hexdigest()
    return state


def state_of(path: Path, policy: str = DEFAULT_POLICY) -> dict[str, Any]:
    """What is at ``path`` now, as a JSON-safe dict (``kind`` is file, dir, missing or other).

    A relative path is taken against the current directory, and recorded
    absolute, so the same name in two directories is two states.
    """
    where = absolute(path)
    name = str(where)
    try:
        info = where.stat()
    except OSError:
        return {"path": name, "kind": "missing"}
    if stat.S_ISDIR(info.st_mode):
        return _dir_state(where, policy)
    if not stat.S_ISREG(info.st_mode):  # a FIFO or a device: its name is all there is
        return {"path": name, "kind": "other"}
    state: dict[str, Any] = {"path": name, "kind": "file", "size": info.st_size}
    if policy == "content":
        state["sha256"] = _sha256(where)
    else:
        state["mtime_ns"] = info.st_mtime_ns
    return state


def file_states(value: Any, policy: str = DEFAULT_POLICY) -> list[dict[str, Any]]:
    """The state of every file ``value`` names (``[]`` under the ``"path"`` policy)."""
    if policy == "path":
        return []
    return [state_of(path, policy) for path in _walk(value)]


def _when(ns: int) -> str:
    from datetime import datetime, timezone

    # Milliseconds: a file rewritten by a re-run is often changed within the second.
    when = datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def describe_change(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> str:
    """Say in words how one file's state changed: ``file /a/in.txt changed (size 10 -> 14)``."""
    if new is None or old is None:
        state = new or old or {}
        return f"file {state.get('path', '?')} is {'new' if old is None else 'no longer named'}"
    path = new.get("path", "?")
    kind, before = new.get("kind"), old.get("kind")
    if kind == "missing":
        return f"file {path} was deleted"
    if before == "missing":
        return f"file {path} was created"
    noun = "directory" if kind == "dir" else "file"
    details = []
    if kind == "dir" and old.get("files") != new.get("files"):
        details.append(f"{old.get('files')} -> {new.get('files')} files")
    if old.get("size") != new.get("size"):
        details.append(f"size {old.get('size')} -> {new.get('size')}")
    if old.get("mtime_ns") != new.get("mtime_ns") and new.get("mtime_ns") is not None:
        details.append(
            f"modified {_when(int(old.get('mtime_ns') or 0))} -> {_when(int(new['mtime_ns']))}"
        )
    if old.get("sha256") != new.get("sha256") and new.get("sha256"):
        details.append("content differs")
    if kind == "dir" and not details and old.get("digest") != new.get("digest"):
        details.append("a file in it changed")
    return f"{noun} {path} changed" + (f" ({', '.join(details)})" if details else "")


def changed_files(old: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per file whose state differs between two lists of states, by path."""
    before = {str(s.get("path")): s for s in old}
    after = {str(s.get("path")): s for s in new}
    return [
        describe_change(before.get(path), after.get(path))
        for path in sorted(set(before) | set(after))
        if before.get(path) != after.get(path)
    ]

"""The files a task instance read, checked against the states it was planned with.

An identity takes the state of the files a ``Path`` parameter or input names
when the instance is planned (at submit or at the start of ``run_local``,
for parameters).  A job may start hours later, or be retried after an edit:
it then reads other files than its identity names.  So whoever calls the
function (the worker of scheduler mode, a ``run_local`` worker process)
takes the states again right before the call; the caller's driver compares
them with the planned ones and, on a difference, records the output under
the identity of the files that were read, or under none when that cannot be
recomputed (see :mod:`reflow.engine.scheduler.results` and
:mod:`reflow.engine.local.engine`).  Values without a ``Path`` cost one type check.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from reflow.cache.filestate import changed_files, file_states, holds_path
from reflow.cache.identity import hash_with_states

__all__ = ["FileDrift", "FileStates", "check_files", "file_drift", "seen_files"]

FileStates = dict[str, list[dict[str, Any]]]
"""Parameter name -> the states of the files its value names."""


def seen_files(kwargs: Mapping[str, Any], policy: str) -> FileStates:
    """The states now, under ``policy``, of the files each keyword argument names.

    Arguments that name no file are left out, so a Path-free call gives ``{}``.
    """
    if policy == "path":
        return {}
    return {
        name: file_states(value, policy) for name, value in kwargs.items() if holds_path(value)
    }


def file_drift(planned: FileStates, seen: FileStates, params: Collection[str]) -> list[str]:
    """One line per file whose state differs between planning and the call.

    ``params`` are the names that are run parameters (the others are
    ``Result`` inputs), so the line can say which is which:
    ``parameter 'source' file /abs/in.txt changed (size 3 -> 5) while the job waited``.
    """
    lines: list[str] = []
    for name in sorted(set(planned) | set(seen)):
        before, after = planned.get(name, []), seen.get(name, [])
        if before == after:
            continue
        label = "parameter" if name in params else "input"
        lines.extend(
            f"{label} {name!r} {line} while the job waited"
            for line in changed_files(before, after) or ["file states differ"]
        )
    return lines


@dataclass(frozen=True)
class FileDrift:
    """How the files an instance read differ from the planned ones.

    Attributes
    ----------
    lines : list of str
        What changed, in words (see :func:`file_drift`).
    params : dict or None
        The hashes the changed parameters have with the files that were read,
        to replace the planned ones in the identity; ``None`` when an input's
        files changed (an input's hash is a Merkle hash of upstream outputs,
        which one element's files cannot redo): the result then has no identity.
    seen : FileStates
        The states of the changed parameters' files, as read.
    """

    lines: list[str]
    params: dict[str, str] | None
    seen: FileStates

    def note(self, info: dict[str, Any]) -> None:
        """Record the change in an instance's ``cache_info``, for ``reflow explain``."""
        info["file_changes"] = self.lines
        if self.params:
            info["ran_params"] = self.params
            info["ran_files"] = self.seen

    def warning(self, label: str, kept: bool) -> str:
        """The log line: which files changed and what became of the result."""
        fate = (
            "recorded under the identity of the files it read"
            if kept
            else "kept for this run but never reused from the cache"
        )
        return f"{label} ran with changed files ({'; '.join(self.lines)}); its result is {fate}"


def check_files(
    planned: FileStates,
    seen: FileStates,
    params: Collection[str],
    values: Mapping[str, Any],
    policy: str,
) -> FileDrift | None:
    """Compare the files read with the planned ones (``None``: the same).

    Parameters
    ----------
    planned, seen : FileStates
        The states the identity was computed with, and the states read.
    params : collection of str
        The names that are run parameters.
    values : mapping
        The values the function received, by name (to hash a changed
        parameter again with the states read, without touching the disk).
    policy : str
        The task's file policy.
    """
    lines = file_drift(planned, seen, params)
    if not lines:
        return None
    changed = [n for n in sorted(set(planned) | set(seen)) if planned.get(n) != seen.get(n)]
    if any(n not in params or n not in values for n in changed):
        return FileDrift(lines, None, {})
    hashes = {n: hash_with_states(values[n], policy, seen.get(n, [])) for n in changed}
    return FileDrift(lines, hashes, {n: seen.get(n, []) for n in changed})

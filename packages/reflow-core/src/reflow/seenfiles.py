"""The files a task instance read, checked against the states it was planned with.

An identity takes the state of the files a ``Path`` parameter or input names
when the instance is planned (at submit, for parameters).  A job may start
hours later, or be retried after an edit: it then reads other files than its
identity names.  So whoever runs the function (the worker of scheduler mode)
takes the states again right before the call, and reports them; the
dispatcher compares them with the planned ones and, on a difference, records
the output under the identity of the files that were read (see
:mod:`reflow.dispatch.results`).  Values without a ``Path`` cost one type
check each.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from reflow.filestate import changed_files, file_states, holds_path

__all__ = ["FileStates", "file_drift", "seen_files"]

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

"""Calling one task function and capturing what happened, for any executor."""

from __future__ import annotations

import copy
import traceback
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from reflow.cache.filestate import DEFAULT_POLICY
from reflow.cache.identity import value_hash
from reflow.cache.seenfiles import FileStates, seen_files
from reflow.engine.local.usage import Usage, UsageMeter, WallMeter
from reflow.manifest import unstorable_output_message
from reflow.signals import TaskInterrupted

__all__ = ["Outcome", "call_task"]

_IMMUTABLE = frozenset({int, float, complex, str, bytes, bool, type(None)})
"""Input types no task can change in place: such inputs need no copy (most array elements)."""


@dataclass
class Outcome:
    """The result of one task instance.

    Attributes
    ----------
    index : int or None
        Array index (``None`` for a singleton).
    ok : bool
        Whether the function returned.
    output : Any
        What it returned.
    output_hash : str
        Hash of the output's canonical encoding and of the files it names.
    error : str
        The traceback text when it failed.
    interrupted : bool
        Whether a termination signal stopped it.
    exception : BaseException or None
        The exception itself, when it could be kept (in-process or picklable).
    usage : Usage or None
        Times, CPU time and peak memory of the call (``None`` if it was not run).
    files : dict or None
        The states of the files the watched arguments named right before the
        call (see :mod:`reflow.cache.seenfiles`); ``None`` when none were watched,
        so a Path-free outcome carries nothing more across the pipe.
    """

    index: int | None
    ok: bool
    output: Any = None
    output_hash: str = ""
    error: str = ""
    interrupted: bool = False
    exception: BaseException | None = None
    usage: Usage | None = None
    files: FileStates | None = None


def call_task(
    task: str,
    func: Callable[..., Any],
    index: int | None,
    kwargs: dict[str, Any],
    policy: str = DEFAULT_POLICY,
    watch: Collection[str] = (),
    *,
    full_meter: bool = True,
) -> Outcome:
    """Run ``func(**kwargs)`` and return its :class:`Outcome`; never raises for task errors.

    A :class:`KeyboardInterrupt` or :class:`TaskInterrupted` gives an
    interrupted outcome.  An output that cannot be stored (not encodable by
    the manifest codec) is a failure that says so.  The output hash covers
    the files the output names, under ``policy`` (see
    :mod:`reflow.cache.filestate`), taken right after the function returned: a task
    that rewrites a file under the same name changes its output hash.  The
    files the arguments named in ``watch`` name are looked at right before
    the call, so the driver can tell whether they are the files the
    instance's identity was planned with.  With ``full_meter=False`` the
    usage holds the call's times only: the caller measures CPU time and
    memory around many calls (:class:`~reflow.engine.local.usage.BatchMeter`).
    """
    if not all(type(v) in _IMMUTABLE for v in kwargs.values()):
        try:
            # Each call gets its own copy: a task that changes its input in place
            # must not change what another instance, or the cache, sees.
            kwargs = copy.deepcopy(kwargs)
        except Exception:  # pragma: no cover - manifest values always copy
            kwargs = dict(kwargs)
    files = seen_files({n: kwargs[n] for n in watch if n in kwargs}, policy) if watch else None
    meter = UsageMeter() if full_meter else WallMeter()
    try:
        output = func(**kwargs)
    except (TaskInterrupted, KeyboardInterrupt) as exc:
        text = f"interrupted: {exc}"
        return Outcome(index, False, error=text, interrupted=True, exception=exc)
    except SystemExit as exc:
        text = f"the task called sys.exit({exc.code!r})"
        return Outcome(index, False, error=text, exception=RuntimeError(text), usage=meter.stop())
    except Exception as exc:
        text = traceback.format_exc()
        return Outcome(index, False, error=text, exception=exc, usage=meter.stop())
    usage = meter.stop()
    try:
        digest = value_hash(output, policy=policy)
    except (TypeError, ValueError) as exc:
        label = f"{task}[{index}]" if index is not None else task
        text = unstorable_output_message(label, exc)
        return Outcome(index, False, error=text, exception=TypeError(text), usage=usage)
    return Outcome(index, True, output=output, output_hash=digest, usage=usage, files=files)

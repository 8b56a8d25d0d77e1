"""Calling one task function and capturing what happened, for any executor."""

from __future__ import annotations

import copy
import time
import traceback
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from reflow.cache.filestate import DEFAULT_POLICY
from reflow.cache.identity import encode_with_files
from reflow.cache.seenfiles import FileStates, seen_files
from reflow.manifest import unstorable_output_message
from reflow.signals import TaskInterrupted

__all__ = ["Outcome", "call_task"]

_IMMUTABLE = frozenset({int, float, complex, str, bytes, bool, type(None)})
"""Input types no task can change in place: such inputs need no copy (most array elements)."""

TEXT_LIMIT = 1 << 16
"""Longest output text an outcome carries beside the output (characters).

The store writes that text instead of encoding the output again; a longer
one is not sent through the worker's pipe twice (the driver encodes it).
"""


@dataclass(slots=True)
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
    files : dict or None
        The states of the files the watched arguments named right before the
        call (see :mod:`reflow.cache.seenfiles`); ``None`` when none were watched,
        so a Path-free outcome carries nothing more across the pipe.
    output_text : str or None
        The output's manifest-codec text (hashed for ``output_hash``), for the
        store; ``None`` when the output is ``None``, failed, or its text is
        longer than :data:`TEXT_LIMIT`.
    start, end : float
        When the call began and ended, seconds since the epoch (``0.0``: not run).
    """

    index: int | None
    ok: bool
    output: Any = None
    output_hash: str = ""
    error: str = ""
    interrupted: bool = False
    exception: BaseException | None = None
    files: FileStates | None = None
    output_text: str | None = None
    start: float = 0.0
    end: float = 0.0


def call_task(
    task: str,
    func: Callable[..., Any],
    index: int | None,
    kwargs: dict[str, Any],
    policy: str = DEFAULT_POLICY,
    watch: Collection[str] = (),
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
    instance's identity was planned with.  The outcome holds the call's wall
    times; its CPU time and memory are measured around many calls
    (:class:`~reflow.engine.local.usage.BatchMeter`): four ``getrusage`` calls
    per call cost more than a trivial task itself.
    """
    if not all(type(v) in _IMMUTABLE for v in kwargs.values()):
        try:
            # Each call gets its own copy: a task that changes its input in place
            # must not change what another instance, or the cache, sees.
            kwargs = copy.deepcopy(kwargs)
        except Exception:  # pragma: no cover - manifest values always copy
            kwargs = dict(kwargs)
    files = seen_files({n: kwargs[n] for n in watch if n in kwargs}, policy) if watch else None
    start = time.time()
    try:
        output = func(**kwargs)
    except (TaskInterrupted, KeyboardInterrupt) as exc:
        text = f"interrupted: {exc}"
        return Outcome(index, False, error=text, interrupted=True, exception=exc)
    except SystemExit as exc:
        text = f"the task called sys.exit({exc.code!r})"
        return Outcome(
            index, False, error=text, exception=RuntimeError(text), start=start, end=time.time()
        )
    except Exception as exc:
        text = traceback.format_exc()
        return Outcome(index, False, error=text, exception=exc, start=start, end=time.time())
    end = time.time()
    try:
        encoded, digest, _ = encode_with_files(output, policy)
    except (TypeError, ValueError) as exc:
        label = f"{task}[{index}]" if index is not None else task
        text = unstorable_output_message(label, exc)
        return Outcome(index, False, error=text, exception=TypeError(text), start=start, end=end)
    return Outcome(
        index,
        True,
        output,
        digest,
        files=files,
        output_text=encoded if output is not None and len(encoded) <= TEXT_LIMIT else None,
        start=start,
        end=end,
    )

"""Turn termination signals into an exception a task can handle.

A batch scheduler that cancels a job, or whose walltime runs out, usually
sends ``SIGTERM`` some seconds before ``SIGKILL``.  Inside
:func:`graceful_shutdown` that signal (and ``SIGINT``, i.e. Ctrl-C) raises
:class:`TaskInterrupted` in the main thread, so ``finally`` blocks and context
managers get to close files and remove partial output before the job dies.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["TaskInterrupted", "graceful_shutdown"]

logger = logging.getLogger(__name__)

_HANDLED_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)


def _signal_name(signal_number: int) -> str:
    try:
        return signal.Signals(signal_number).name
    except ValueError:
        return "UNKNOWN"


class TaskInterrupted(Exception):  # noqa: N818 - the public name is fixed
    """Raised when a task receives a termination signal.

    Parameters
    ----------
    signal_number : int
        The number of the signal that was received.

    Attributes
    ----------
    signal_number : int
        The number of the signal that triggered the interruption.
    signal_name : str
        Its name, e.g. ``"SIGTERM"`` (``"UNKNOWN"`` for a number the
        platform does not name).

    Notes
    -----
    The exception pickles with its signal number, so it survives being sent
    from a worker process back to its parent.

    Examples
    --------
    >>> str(TaskInterrupted(15))
    'Task interrupted by SIGTERM (signal 15)'
    """

    def __init__(self, signal_number: int) -> None:
        self.signal_number = int(signal_number)
        self.signal_name = _signal_name(self.signal_number)
        super().__init__(f"Task interrupted by {self.signal_name} (signal {self.signal_number})")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.signal_number,))


def _raise_interrupted(signal_number: int, frame: FrameType | None) -> None:
    raise TaskInterrupted(signal_number)


@contextmanager
def graceful_shutdown() -> Iterator[None]:
    """Raise :class:`TaskInterrupted` on ``SIGTERM`` or ``SIGINT`` inside the block.

    On entry the handlers of both signals are replaced; on exit, normal or by
    an exception, the handlers that were installed before are put back.  A
    handler that was not installed from Python (``signal.getsignal`` returns
    ``None``) cannot be put back and is replaced by the default action.

    Python runs signal handlers only in the main thread, and only the main
    thread may install them.  Used in any other thread, this context manager
    installs nothing and does nothing: the block runs with whatever handlers
    the main thread has.

    Yields
    ------
    None

    Examples
    --------
    >>> with graceful_shutdown():
    ...     total = sum(range(10))
    >>> total
    45
    """
    import threading

    if threading.current_thread() is not threading.main_thread():
        logger.debug(
            "graceful_shutdown() used outside the main thread; no signal handlers installed"
        )
        yield
        return

    # The handler each signal.signal() replaces, not getsignal() first: the
    # handler-to-enum conversion of each call costs ~5 us, paid per batch by a worker.
    previous = {}
    try:
        for signum in _HANDLED_SIGNALS:
            previous[signum] = signal.signal(signum, _raise_interrupted)
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)

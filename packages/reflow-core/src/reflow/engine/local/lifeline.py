"""Worker processes that die with the process that started them.

``run_local`` forks its workers; if the driver is killed (``kill -9``, the
OOM killer, a closed terminal) nothing would tell them, and they would block
for ever on their pipe.  On Linux the kernel sends them ``SIGKILL`` when
their parent dies (``prctl(PR_SET_PDEATHSIG)``); elsewhere a thread polls
the parent's pid.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

__all__ = ["die_with_parent"]

_PR_SET_PDEATHSIG = 1
"""``prctl`` option number, from ``<linux/prctl.h>``."""

_POLL_SECONDS = 1.0


def _set_pdeathsig() -> bool:
    """Ask the kernel to SIGKILL this process when its parent dies; whether it took."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes  # here, in the worker: the driver does not need it (~1.5 ms)

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_POLL_SECONDS)
    os._exit(1)


def die_with_parent(parent: int) -> None:
    """Make this (forked) process end when ``parent`` ends.

    Parameters
    ----------
    parent : int
        The pid of the process that forked this one, taken before the fork:
        if it has already died (and this process was re-parented) by the
        time the lifeline is set, this process exits at once.
    """
    if _set_pdeathsig():
        # The parent may have died between fork and prctl: the signal would
        # then never come, so look once more now that it is armed.
        if os.getppid() != parent:
            os._exit(1)
        return
    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="reflow-lifeline", daemon=True).start()

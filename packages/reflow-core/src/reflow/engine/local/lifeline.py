"""Worker processes that die with the process that started them.

``run_local`` forks its workers; if the driver is killed (``kill -9``, the
OOM killer, a closed terminal) nothing would tell them, and they would block
for ever on their pipe.  On Linux the kernel sends them ``SIGKILL`` when
their parent dies (``prctl(PR_SET_PDEATHSIG)``); elsewhere a thread polls
the parent's pid.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["arm", "die_with_parent"]

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
"""``prctl`` option number, from ``<linux/prctl.h>``."""

_POLL_SECONDS = 1.0

_PRCTL: list[Callable[..., int] | None] = []
"""``prctl`` of the C library, found once in the driver (``[None]``: there is none)."""


def arm() -> None:
    """In the driver, before forking workers: find ``prctl`` once for all of them.

    Each worker then only calls it.  Importing :mod:`ctypes` in every new
    worker cost ~3.5 ms before its first task (most of it ``ctypes``' own
    classes); the function is reached through ``_ctypes``, its C core
    (~0.5 ms, once per process), and through :mod:`ctypes` when that fails.
    """
    if not _PRCTL:
        _PRCTL.append(_find_prctl())


def _find_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        # Typed as Any: typeshed's stubs know no handle but a CDLL's, nor dlopen(None).
        ct: Any = importlib.import_module("_ctypes")

        class _Int(ct._SimpleCData):  # type: ignore[misc]  # ctypes.c_int
            _type_ = "i"

        class _CFunction(ct.CFuncPtr):  # type: ignore[misc]  # what CDLL(None, use_errno=True) makes
            _flags_ = ct.FUNCFLAG_CDECL | ct.FUNCFLAG_USE_ERRNO
            _restype_ = _Int

        class _Library:  # the C library's handle, as a CDLL holds it
            _handle = ct.dlopen(None)

        found: Callable[..., int] = _CFunction(("prctl", _Library()))
    except Exception:  # another Python's _ctypes: the public way below
        logger.debug("prctl not found through _ctypes", exc_info=True)
    else:
        return found
    try:
        import ctypes

        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return prctl
    except (OSError, AttributeError):
        return None


def _set_pdeathsig() -> bool:
    """Ask the kernel to SIGKILL this process when its parent dies; whether it took."""
    arm()  # found in the driver already, unless it forked without arm()
    prctl = _PRCTL[0]
    if prctl is None:
        return False
    try:
        return int(prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)) == 0
    except (OSError, TypeError, ValueError):
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

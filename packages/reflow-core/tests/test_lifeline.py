"""A run_local worker dies with its driver: the kernel is told so, without a polling thread."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest

from reflow.engine.local import lifeline
from reflow.engine.local.forked import Channel, Child

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's"
)


def _death_signal() -> int:
    """This process's parent-death signal, as the kernel holds it (``PR_GET_PDEATHSIG``)."""
    import ctypes

    value = ctypes.c_int(-1)
    assert ctypes.CDLL(None).prctl(2, ctypes.byref(value), 0, 0, 0) == 0
    return value.value


def _report(channel: Channel) -> None:
    lifeline.die_with_parent(os.getppid())
    imported_ctypes = "ctypes" in sys.modules  # before _death_signal imports it
    threads = sorted(t.name for t in threading.enumerate())
    channel.send((_death_signal(), threads, imported_ctypes))


@pytest.mark.parametrize("armed", [True, False], ids=["armed-in-the-driver", "found-in-the-child"])
def test_a_worker_asks_the_kernel_for_sigkill_when_its_driver_dies(
    monkeypatch: pytest.MonkeyPatch, armed: bool
) -> None:
    monkeypatch.setattr(lifeline, "_PRCTL", [])
    if armed:
        lifeline.arm()
        assert lifeline._PRCTL[0] is not None
    monkeypatch.delitem(sys.modules, "ctypes", raising=False)  # so the child shows its imports
    child = Child(_report)
    try:
        signum, threads, imported_ctypes = child.channel.recv()
    finally:
        child.kill()
        child.join(timeout=10)
        child.channel.close()
    assert signum == signal.SIGKILL
    assert "reflow-lifeline" not in threads  # no thread polls the parent instead
    assert not imported_ctypes  # prctl is reached through _ctypes (~3 ms less per worker)


def test_a_worker_whose_driver_died_before_the_lifeline_leaves_at_once() -> None:
    def orphan(channel: Channel) -> None:  # the pid given is not this process's parent
        lifeline.die_with_parent(os.getppid() + 1_000_000)
        channel.send("still here")

    child = Child(orphan)
    try:
        deadline = time.monotonic() + 10
        while child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert child.exitcode == 1
    finally:
        child.kill()
        child.channel.close()

"""Tests of graceful_shutdown and TaskInterrupted, with real signals."""

from __future__ import annotations

import os
import pickle
import signal
import threading
import time
from collections.abc import Callable

import pytest

from reflow.signals import TaskInterrupted, graceful_shutdown


def _wait_for_signal_delivery(done: Callable[[], bool] = lambda: False) -> None:
    # Python runs the handler between bytecodes of the main thread; give it up
    # to a second (TaskInterrupted normally ends the wait at once).
    deadline = time.monotonic() + 1.0
    while not done() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_sigterm_inside_block_raises_task_interrupted() -> None:
    with pytest.raises(TaskInterrupted) as info, graceful_shutdown():
        os.kill(os.getpid(), signal.SIGTERM)
        _wait_for_signal_delivery()
    assert info.value.signal_number == signal.SIGTERM
    assert info.value.signal_name == "SIGTERM"
    assert str(info.value) == "Task interrupted by SIGTERM (signal 15)"


def test_sigint_inside_block_raises_task_interrupted_not_keyboard_interrupt() -> None:
    with pytest.raises(TaskInterrupted) as info, graceful_shutdown():
        os.kill(os.getpid(), signal.SIGINT)
        _wait_for_signal_delivery()
    assert info.value.signal_name == "SIGINT"


def test_previous_handlers_are_restored_after_normal_exit_and_after_interrupt() -> None:
    received: list[int] = []

    def custom(signum: int, frame: object) -> None:
        received.append(signum)

    old_term = signal.signal(signal.SIGTERM, custom)
    old_int = signal.getsignal(signal.SIGINT)
    try:
        with graceful_shutdown():
            pass
        assert signal.getsignal(signal.SIGTERM) is custom
        assert signal.getsignal(signal.SIGINT) is old_int

        with pytest.raises(TaskInterrupted), graceful_shutdown():
            os.kill(os.getpid(), signal.SIGTERM)
            _wait_for_signal_delivery()
        assert signal.getsignal(signal.SIGTERM) is custom
        assert signal.getsignal(signal.SIGINT) is old_int

        # After the block, SIGTERM goes to the previous handler again.
        os.kill(os.getpid(), signal.SIGTERM)
        _wait_for_signal_delivery(lambda: bool(received))
        assert received == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, old_term)


def test_handlers_restored_when_block_raises_another_error() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(RuntimeError), graceful_shutdown():
        raise RuntimeError("boom")
    assert signal.getsignal(signal.SIGTERM) is before


def test_task_interrupted_survives_pickling() -> None:
    original = TaskInterrupted(signal.SIGTERM)
    restored = pickle.loads(pickle.dumps(original))
    assert type(restored) is TaskInterrupted
    assert restored.signal_number == signal.SIGTERM
    assert restored.signal_name == "SIGTERM"
    assert str(restored) == str(original)


def test_task_interrupted_names_unknown_signal_numbers() -> None:
    assert TaskInterrupted(999).signal_name == "UNKNOWN"


def test_outside_main_thread_installs_nothing_and_runs_block() -> None:
    before = signal.getsignal(signal.SIGTERM)
    outcome: list[object] = []

    def worker() -> None:
        try:
            with graceful_shutdown():
                outcome.append(signal.getsignal(signal.SIGTERM))
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert outcome == [before]
    assert signal.getsignal(signal.SIGTERM) is before

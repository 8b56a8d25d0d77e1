"""run_local's forked children: objects both ways, how a child ended, waiting on several."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from reflow.engine.local.forked import Channel, Child, wait


def echo(channel: Channel) -> None:
    while (obj := channel.recv()) is not None:
        channel.send(obj)


def test_objects_larger_than_a_pipe_go_both_ways() -> None:
    child = Child(echo)
    try:
        big = {"rows": list(range(300_000)), "text": "x" * 2_000_000}  # MBs, > a pipe buffer
        child.channel.send(big)
        assert child.channel.recv() == big
        child.channel.send(("small", None))
        assert child.channel.recv() == ("small", None)
        child.channel.send(None)
        child.join(timeout=10)
        assert child.exitcode == 0
    finally:
        child.kill()
        child.channel.close()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (lambda ch: os._exit(3), 3),
        (lambda ch: sys.exit(4), 4),
        (lambda ch: 1 / 0, 1),
        (lambda ch: os.kill(os.getpid(), signal.SIGKILL), -signal.SIGKILL),
    ],
    ids=["os._exit", "sys.exit", "exception", "killed"],
)
def test_a_child_that_ends_reads_as_end_of_file_and_says_how(body: object, code: int) -> None:
    child = Child(body)  # type: ignore[arg-type]
    try:
        with pytest.raises(EOFError):
            child.channel.recv()
        child.join(timeout=10)
        assert child.exitcode == code
        assert not child.is_alive()
    finally:
        child.channel.close()


def test_a_child_reads_no_terminal() -> None:
    def read_stdin(channel: Channel) -> None:
        channel.send(sys.stdin.read())

    child = Child(read_stdin)
    try:
        assert child.channel.recv() == ""  # /dev/null: never waits for a user
        child.join(timeout=10)
    finally:
        child.channel.close()


def test_wait_returns_the_ready_channels_only() -> None:
    def slow(channel: Channel) -> None:
        channel.send(channel.recv())

    quick, late = Child(echo), Child(slow)
    try:
        assert wait([quick.channel, late.channel], timeout=0.05) == []
        quick.channel.send("now")
        assert wait([quick.channel, late.channel], timeout=10) == [quick.channel]
        assert quick.channel.recv() == "now"
        late.kill()
        late.join(timeout=10)
        assert wait([quick.channel, late.channel], timeout=10) == [late.channel]  # its death
        quick.channel.send(None)
        started = time.monotonic()
        quick.join(timeout=10)
        assert quick.exitcode == 0 and time.monotonic() - started < 5
    finally:
        for child in (quick, late):
            child.kill()
            child.channel.close()


def test_sending_to_a_dead_child_raises_oserror() -> None:
    child = Child(lambda ch: os._exit(0))
    try:
        child.join(timeout=10)
        with pytest.raises(OSError):
            for _ in range(100):  # the first write may fit in the pipe before EPIPE is seen
                child.channel.send("x" * 100_000)
    finally:
        child.channel.close()

"""A forked child process and a pair of pipes to it, without :mod:`multiprocessing`.

``run_local``'s workers need a fork, two pipes carrying pickled objects and
a way to wait on several pipes at once.  :mod:`multiprocessing` brings about
thirty modules for that (``tempfile``, ``subprocess``, ``shutil``, its
contexts and reducers): ~7-10 ms of every script's first run, more than the
whole rest of a small run's work.  This module is the part the workers use.

As with ``multiprocessing``'s ``fork`` start method, the child is a copy of
the driver (its functions, however defined, are there), its standard input
is ``/dev/null``, and it leaves through ``os._exit``: no ``atexit`` handler
or buffered output of the driver runs twice.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

__all__ = ["Channel", "Child", "wait"]

_HEADER = 8
"""Bytes of the length written before each pickled object."""

_READ_MOST = 1 << 20
"""Largest read asked of a pipe at once (a pipe gives at most its buffer anyway)."""


class Channel:
    """One side of a pair of pipes: objects sent are pickled, each behind its length.

    Reading a pipe whose every writer is gone raises :class:`EOFError`: the
    driver learns that way that a worker died.  Writing to a pipe whose
    reader is gone raises :class:`OSError` (``BrokenPipeError``).
    """

    __slots__ = ("_read_fd", "_write_fd")

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._read_fd = read_fd
        self._write_fd = write_fd

    def fileno(self) -> int:
        """The pipe this side reads: what :func:`wait` polls."""
        return self._read_fd

    def send(self, obj: Any) -> None:
        """Write ``obj``, whole, to the other side."""
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(len(data).to_bytes(_HEADER, "big") + data)
        while view:
            view = view[os.write(self._write_fd, view) :]

    def recv(self) -> Any:
        """The next object the other side sent; waits for it."""
        size = int.from_bytes(self._read(_HEADER), "big")
        return pickle.loads(self._read(size))  # noqa: S301 - our own child's bytes

    def _read(self, size: int) -> bytes:
        chunks = []
        while size:
            chunk = os.read(self._read_fd, min(size, _READ_MOST))
            if not chunk:
                raise EOFError("the other side of the pipe is gone")
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        """Close both pipes (again: nothing)."""
        for fd in (self._read_fd, self._write_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._read_fd = self._write_fd = -1


class Child:
    """A forked process running ``target(channel)``, and the driver's side of its channel.

    Parameters
    ----------
    target : callable
        Runs in the child with the child's :class:`Channel`.  The child exits
        with status 0 when it returns, with the code of a ``SystemExit``, or
        with 1 after printing the traceback of any other exception.
    """

    def __init__(self, target: Callable[[Channel], object]) -> None:
        down_read, down_write = os.pipe()  # driver -> child
        up_read, up_write = os.pipe()  # child -> driver
        for stream in (sys.stdout, sys.stderr):  # else the child would print them again
            with contextlib.suppress(Exception):
                stream.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; coverage does not follow the fork
            os.close(down_write)
            os.close(up_read)
            _run_child(target, Channel(down_read, up_write))
        os.close(down_read)
        os.close(up_write)  # so that the child's death reads as end-of-file here
        self.pid = pid
        self.channel = Channel(up_read, down_write)
        self.exitcode: int | None = None

    def poll(self) -> int | None:
        """The exit code if the child has ended (``-N``: killed by signal ``N``), else ``None``."""
        if self.exitcode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: it has ended, how is unknown
                self.exitcode = 1
            else:
                if pid:
                    self._reap(status)
        return self.exitcode

    def join(self, timeout: float | None = None) -> None:
        """Wait until the child ends, ``timeout`` seconds at most."""
        if self.poll() is not None:
            return
        if timeout is None:
            try:
                self._reap(os.waitpid(self.pid, 0)[1])
            except ChildProcessError:  # reaped elsewhere
                self.exitcode = 1
            return
        try:  # Linux: a descriptor readable when the child ends, the moment it does
            pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            pidfd = -1
        if pidfd >= 0:
            try:
                poller = select.poll()
                poller.register(pidfd, select.POLLIN)
                poller.poll(timeout * 1000)
            finally:
                os.close(pidfd)
            self.poll()
            return
        deadline = time.monotonic() + timeout
        pause = 0.0005
        while self.poll() is None and time.monotonic() < deadline:
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _reap(self, status: int) -> None:
        self.exitcode = os.waitstatus_to_exitcode(status)

    def is_alive(self) -> bool:
        return self.poll() is None

    def kill(self) -> None:
        """Send ``SIGKILL``, unless it has ended already."""
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


def _run_child(target: Callable[[Channel], object], channel: Channel) -> NoReturn:
    code = 1
    try:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            sys.stdin.close()
            sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: PTH123, SIM115 - open for life
        target(channel)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def wait(channels: Sequence[Channel], timeout: float | None = None) -> list[Channel]:
    """The channels with something to read (or whose other side is gone).

    Waits at most ``timeout`` seconds (``None``: until one is ready).
    """
    poller = select.poll()
    by_fd = {}
    for channel in channels:
        poller.register(channel.fileno(), select.POLLIN)
        by_fd[channel.fileno()] = channel
    events = poller.poll(None if timeout is None else timeout * 1000)
    return [by_fd[fd] for fd, _ in events]

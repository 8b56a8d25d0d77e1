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
from collections import deque
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

    The driver's side does not wait to write (``queued=True``): what the pipe
    cannot take now is kept and written by :func:`wait` as the pipe drains.
    A worker reads its next batch only after sending the results of the last
    one, so a driver waiting to write a batch larger than a pipe (64 kB)
    while that worker waits to write results larger than one would wait for
    ever.
    """

    __slots__ = ("_read_fd", "_unsent", "_write_fd")

    def __init__(self, read_fd: int, write_fd: int, *, queued: bool = False) -> None:
        self._read_fd = read_fd
        self._write_fd = write_fd
        self._unsent: deque[memoryview] | None = deque() if queued else None
        if queued:
            os.set_blocking(write_fd, False)

    def fileno(self) -> int:
        """The pipe this side reads: what :func:`wait` polls."""
        return self._read_fd

    def send(self, obj: Any) -> None:
        """Write ``obj``, whole, to the other side (a queued side: as far as the pipe takes)."""
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(len(data).to_bytes(_HEADER, "big") + data)
        if self._unsent is None:
            while view:
                view = view[os.write(self._write_fd, view) :]
            return
        self._unsent.append(view)
        self.flush()

    @property
    def unsent(self) -> bool:
        """Whether bytes sent wait for room in the pipe."""
        return bool(self._unsent)

    def write_fileno(self) -> int:
        """The pipe this side writes: polled for room while :attr:`unsent`."""
        return self._write_fd

    def flush(self) -> None:
        """Write what the pipe takes now of what waits; never waits itself."""
        unsent = self._unsent
        while unsent:
            try:
                written = os.write(self._write_fd, unsent[0])
            except BlockingIOError:
                return
            if written == len(unsent[0]):
                unsent.popleft()
            else:
                unsent[0] = unsent[0][written:]

    def recv(self) -> Any:
        """The next object the other side sent; waits for it (writing what waits unsent)."""
        if self._unsent:
            wait([self])
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

    def close_unsent(self) -> None:
        """Drop what waits unsent: the other side is gone."""
        if self._unsent:
            self._unsent.clear()

    def close(self) -> None:
        """Close both pipes (again: nothing)."""
        for fd in (self._read_fd, self._write_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._read_fd = self._write_fd = -1
        self.close_unsent()


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
        self.channel = Channel(up_read, down_write, queued=True)
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

    Waits at most ``timeout`` seconds (``None``: until one is ready), and
    meanwhile writes what the channels hold unsent as their pipes drain.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        poller = select.poll()
        readers: dict[int, Channel] = {}
        writers: dict[int, Channel] = {}
        for channel in channels:
            poller.register(channel.fileno(), select.POLLIN)
            readers[channel.fileno()] = channel
            if channel.unsent:
                poller.register(channel.write_fileno(), select.POLLOUT)
                writers[channel.write_fileno()] = channel
        left = None if deadline is None else max(0.0, deadline - time.monotonic()) * 1000
        ready = []
        for fd, _ in poller.poll(left):
            if fd in readers:
                ready.append(readers[fd])
            else:  # room in the pipe, or its reader is gone (the read side says how)
                try:
                    writers[fd].flush()
                except OSError:
                    writers[fd].close_unsent()
        if ready or (deadline is not None and time.monotonic() >= deadline):
            return ready

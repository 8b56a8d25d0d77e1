"""Process identity and process-group signals for the local executor.

A pid alone does not name a process for long: once the process is gone the
kernel hands the number to the next one.  The local executor therefore names
every process it records (supervisors and job processes) by its pid *and* an
identity token: the boot id and the process start time from ``/proc``.  A
process is taken to be the recorded one only if both match, so a reused pid is
never signalled.

On systems without ``/proc`` (macOS) the token is empty and only the pid is
checked, which is weaker but the best available without extra dependencies.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
from pathlib import Path

__all__ = [
    "identity",
    "is_alive",
    "kill_group_after_exit",
    "reap",
    "signal_group",
    "signal_name",
    "spawn_detached",
]

_PROC = Path("/proc")


@functools.cache
def _boot_id() -> str:
    """This boot's id (changes when the machine restarts), or ``""``."""
    try:
        return (_PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return ""


def _stat(pid: int) -> tuple[str, str] | None:
    """``(state letter, start time)`` of ``pid`` from ``/proc/<pid>/stat``, or ``None``."""
    try:
        data = (_PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces.
    fields = data[data.rfind(b")") + 2 :].split()
    if len(fields) < 20:
        return None
    return fields[0].decode(), fields[19].decode()


def identity(pid: int) -> str | None:
    """Return the identity token of the running process ``pid``.

    Parameters
    ----------
    pid : int
        A process id.

    Returns
    -------
    str or None
        ``"<boot id>:<start time>"`` on Linux, ``""`` where ``/proc`` does not
        exist and the process exists, ``None`` if the process does not exist.
    """
    if not _PROC.is_dir():
        return "" if _pid_exists(pid) else None
    stat = _stat(pid)
    if stat is None:
        return None
    return f"{_boot_id()}:{stat[1]}"


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_alive(pid: int | None, token: str | None) -> bool:
    """Whether the process recorded as ``(pid, token)`` still runs.

    A zombie (ended, not yet reaped by its parent) counts as ended.

    Parameters
    ----------
    pid : int or None
        The recorded pid; ``None`` means no process was recorded.
    token : str or None
        The token :func:`identity` gave when the process was recorded.
    """
    if pid is None or pid <= 0:
        return False
    if not _PROC.is_dir():
        return _pid_exists(pid)
    stat = _stat(pid)
    if stat is None or stat[0] in ("Z", "X", "x"):
        return False
    return token is None or token == f"{_boot_id()}:{stat[1]}"


def signal_group(pid: int | None, token: str | None, signum: int) -> bool:
    """Send ``signum`` to the process group led by the recorded process.

    The processes the local executor starts lead their own process groups
    (``start_new_session=True``), so this reaches the process and everything
    it started that stayed in its group.  Nothing is sent unless the leader is
    still the recorded process.

    Returns
    -------
    bool
        Whether the signal was sent.
    """
    if pid is None or not is_alive(pid, token):
        return False
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def kill_group_after_exit(pid: int) -> None:
    """SIGKILL what is left of the group of a process its parent just reaped.

    Called by the parent right after ``wait``: the group id cannot have been
    reused yet while members of the group remain, and an empty group is
    simply not found.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def signal_name(signum: int) -> str:
    """``"SIGKILL"`` for 9, ``"signal 64"`` for numbers without a name."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def spawn_detached(args: list[str], log: Path, cwd: Path) -> int:
    """Start ``args`` in a new session, detached from the caller, and return its pid.

    stdin is ``/dev/null``; stdout and stderr are appended to ``log``.  The
    process is started with :func:`os.posix_spawn` where it can create a new
    session, so no :class:`subprocess.Popen` object is left to warn that the
    process outlives it; elsewhere it falls back to :class:`subprocess.Popen`.
    Either way the caller collects the exit status with :func:`reap`.

    Raises
    ------
    OSError
        If the program cannot be started.
    """
    if hasattr(os, "posix_spawn"):
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ]
        with contextlib.suppress(NotImplementedError):
            # posix_spawn has no cwd argument: the program is given absolute paths.
            return os.posix_spawn(
                args[0], args, dict(os.environ), file_actions=actions, setsid=True
            )
    with log.open("ab") as out:
        process = subprocess.Popen(
            args,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _POPENS[process.pid] = process
    return process.pid


_POPENS: dict[int, subprocess.Popen[bytes]] = {}
"""Processes :func:`spawn_detached` started through the fallback, by pid."""


def reap(pids: list[int]) -> list[int]:
    """Collect the exit status of ended children among ``pids``; return those still running."""
    running: list[int] = []
    for pid in pids:
        popen = _POPENS.get(pid)
        if popen is not None:
            if popen.poll() is None:
                running.append(pid)
            else:
                del _POPENS[pid]
            continue
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue  # not (or no longer) our child
        if done == 0:
            running.append(pid)
    return running

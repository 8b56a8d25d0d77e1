"""Machine-wide job slots of the local executor, as ``flock`` locks on files.

Slot ``n`` is the file ``<state dir>/slots/<n>.lock``; whoever holds an
exclusive lock on it owns the slot.  The kernel drops a lock when its holder
exits, however it exits, so a killed supervisor never leaks a slot and no
daemon is needed to hand slots out.  Every supervisor on the machine that
shares the state directory takes slots from the same files.

A job process needing ``k`` slots gets all ``k`` at once or none of them (the
locks are tried without blocking and released again on a shortfall), so two
supervisors can never deadlock holding half of what each needs.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

__all__ = ["SlotPool"]


class SlotPool:
    """The ``total`` slot lock files in ``directory``.

    Parameters
    ----------
    directory : Path
        Where the lock files live (created if missing).
    total : int
        Number of slots on the machine.
    """

    def __init__(self, directory: Path, total: int) -> None:
        self.directory = directory
        self.total = max(1, total)
        directory.mkdir(parents=True, exist_ok=True)

    def try_acquire(self, count: int) -> list[int] | None:
        """Take ``count`` free slots (at most :attr:`total`) without waiting.

        Returns
        -------
        list[int] or None
            The open, locked file descriptors (give them to :meth:`release`),
            or ``None`` if not enough slots are free right now.
        """
        wanted = max(1, min(count, self.total))
        held: list[int] = []
        for number in range(self.total):
            fd = os.open(self.directory / f"{number}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            held.append(fd)
            if len(held) == wanted:
                return held
        self.release(held)
        return None

    @staticmethod
    def release(fds: list[int]) -> None:
        """Give back slots taken with :meth:`try_acquire`."""
        for fd in fds:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            with contextlib.suppress(OSError):
                os.close(fd)
        fds.clear()

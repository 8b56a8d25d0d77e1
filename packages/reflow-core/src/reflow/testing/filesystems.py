"""Small real filesystems for tests of what happens when the disk is full or read-only.

Root bypasses file modes, so a test that only ``chmod``\\s a file proves
nothing when the suite runs as root (as it does in containers and CI).  A
tmpfs mount is refused to root as well: writing past its size fails with
``ENOSPC``, and after :func:`remount_read_only` every write fails with
``EROFS``.  Mounting needs root (``CAP_SYS_ADMIN``); where it is not allowed
the fixture skips the test with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["remount_read_only", "small_filesystem"]


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [shutil.which("mount") or "mount", *args],
        capture_output=True,
        text=True,
        check=False,
    )


@contextmanager
def small_filesystem(where: Path, size_kb: int) -> Iterator[Path]:
    """Mount a tmpfs of ``size_kb`` KiB at ``where`` (created) for the ``with`` block.

    Parameters
    ----------
    where : Path
        Mount point; created if missing.
    size_kb : int
        Size of the filesystem.

    Yields
    ------
    Path
        The mount point.
    """
    import pytest

    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    where.mkdir(parents=True, exist_ok=True)
    done = _mount("-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", "tmpfs", str(where))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)  # noqa: S607


def remount_read_only(where: Path) -> None:
    """Make the tmpfs that :func:`small_filesystem` mounted at ``where`` read-only."""
    done = _mount("-o", "remount,ro", str(where))
    if done.returncode != 0:
        raise RuntimeError(f"cannot remount {where} read-only: {done.stderr.strip()}")

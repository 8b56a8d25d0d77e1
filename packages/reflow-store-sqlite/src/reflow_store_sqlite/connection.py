"""Opening connections, and retrying when other processes hold the database.

Every connection runs in WAL mode (readers never block the writer, and see
every transaction committed before they start), except on a network
filesystem, where WAL cannot work (its index is shared memory of one host)
and the rollback journal is used instead (:func:`set_journal_mode`); with a
busy timeout, so SQLite
itself waits for a lock.  When even that wait runs out, :func:`retry_busy`
tries the whole step again after a randomised, growing pause (jitter keeps
processes that collided from colliding again), a bounded number of times.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from reflow.stores import StoreBusyError

__all__ = [
    "DEFAULT_BUSY_TIMEOUT",
    "DEFAULT_RETRIES",
    "connect",
    "enable_wal",
    "is_busy",
    "retry_busy",
    "set_journal_mode",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_BUSY_TIMEOUT = 10.0
"""Seconds SQLite waits for a lock before reporting the database busy."""

DEFAULT_RETRIES = 6
"""How many times a step is attempted in all when the database stays busy."""

_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
# How SQLite refuses a read-only WAL database whose -shm file it cannot create:
# READONLY (a directory it may not write), CANTOPEN (a read-only filesystem).
_NO_SHM = (8, 14)
_BUSY_WORDS = ("database is locked", "database table is locked", "database is busy")


def connect(path: Path, *, readonly: bool, busy_timeout: float) -> sqlite3.Connection:
    """Open a connection in autocommit mode; transactions are begun explicitly.

    Parameters
    ----------
    path : Path
        Database file.
    readonly : bool
        Open with ``mode=ro``: no writes, no file creation.  A WAL database
        in a directory this user cannot write has no ``-shm`` file to share
        with writers, and SQLite refuses to read it; when no ``-wal`` file
        exists either (so no writer has it open), it is read with
        ``immutable=1`` instead.
    busy_timeout : float
        Seconds to wait for a lock.

    Returns
    -------
    sqlite3.Connection
        The connection, with the pragmas below applied (only the per-connection
        ones when read-only).
    """
    if not readonly:
        return _configured(sqlite3.connect(str(path), **_options(busy_timeout)), busy_timeout)
    base = path.absolute().as_uri()
    try:
        conn = sqlite3.connect(f"{base}?mode=ro", uri=True, **_options(busy_timeout))
        return _configured(conn, busy_timeout)
    except sqlite3.OperationalError as exc:
        wal = path.with_name(path.name + "-wal")
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in _NO_SHM or (
            wal.exists() and wal.stat().st_size
        ):
            raise
    logger.info("Reading %s as an immutable file: its directory is read-only here", path)
    conn = sqlite3.connect(f"{base}?mode=ro&immutable=1", uri=True, **_options(busy_timeout))
    return _configured(conn, busy_timeout)


def _options(busy_timeout: float) -> dict[str, Any]:
    return {"timeout": busy_timeout, "isolation_level": None, "check_same_thread": False}


def _configured(conn: sqlite3.Connection, busy_timeout: float) -> sqlite3.Connection:
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute("PRAGMA cache_size = -16384")
        conn.execute("PRAGMA temp_store = MEMORY")
        # After a checkpoint, shrink a WAL file that a big batch made large.
        conn.execute("PRAGMA journal_size_limit = 33554432")
    except BaseException:
        conn.close()
        raise
    return conn


def enable_wal(conn: sqlite3.Connection, path: Path) -> str:
    """Switch the database to WAL mode with ``synchronous=NORMAL``.

    Returns
    -------
    str
        The journal mode in effect; something other than ``wal`` means the
        filesystem refused WAL (a warning is logged).
    """
    mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
    if mode != "wal":
        logger.warning(
            "The manifest database %s could not be switched to WAL mode (journal mode is %r); "
            "readers will block writers. Put the database on a local filesystem "
            "(REFLOW_STORE_PATH) for concurrent use.",
            path,
            mode,
        )
    conn.execute("PRAGMA synchronous = NORMAL")
    return mode


def set_journal_mode(conn: sqlite3.Connection, path: Path, *, network: bool) -> str:
    """WAL mode (:func:`enable_wal`), or the rollback journal on a network filesystem.

    SQLite's documentation says WAL does not work over a network filesystem:
    the WAL index is shared memory, which processes on other hosts do not
    see.  There it documents ``journal_mode=DELETE`` (with ``synchronous=FULL``).
    A database another process still holds in WAL mode cannot switch now; it
    switches when a later connection finds it alone (a warning says so).

    Parameters
    ----------
    conn : sqlite3.Connection
        A writable connection.
    path : Path
        The database file, for messages.
    network : bool
        Whether the file is on a network filesystem
        (:func:`reflow_store_sqlite.safety.network_filesystem`).

    Returns
    -------
    str
        The journal mode in effect.
    """
    if not network:
        return enable_wal(conn, path)
    try:
        mode = str(conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0]).lower()
    except sqlite3.OperationalError as exc:
        if not is_busy(exc):
            raise
        mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
    if mode != "delete":
        logger.warning(
            "The manifest database %s is on a network filesystem but stays in %s mode: "
            "another process has it open. It switches to the rollback journal when no other "
            "process uses it.",
            path,
            mode,
        )
    conn.execute("PRAGMA synchronous = FULL")
    return mode


def is_busy(exc: sqlite3.Error) -> bool:
    """Return whether an SQLite error means another connection holds a lock."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    text = str(exc).lower()
    return any(word in text for word in _BUSY_WORDS)


def retry_busy(
    step: Callable[[], T],
    *,
    path: Path,
    attempts: int = DEFAULT_RETRIES,
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    base_delay: float = 0.05,
    max_delay: float = 2.0,
) -> T:
    """Run ``step``, running it again while it fails because the database is busy.

    ``step`` must be safe to repeat: it is a whole transaction that rolled
    back when it failed.

    Parameters
    ----------
    step : Callable[[], T]
        The work.
    path : Path
        Database file, for messages.
    attempts : int
        Attempts in all (at least one).
    busy_timeout : float
        The connection's busy timeout, for messages.
    base_delay, max_delay : float
        The pause before attempt ``n + 1`` is ``min(max_delay, base_delay * 2**n)``
        times a random factor between 0.5 and 1.5.

    Returns
    -------
    T
        What ``step`` returned.

    Raises
    ------
    StoreBusyError
        If the database was still busy on the last attempt.
    """
    for attempt in range(1, max(1, attempts) + 1):
        try:
            return step()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            if attempt >= attempts:
                tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
                raise StoreBusyError(
                    f"The manifest database {path} stayed locked by other processes through "
                    f"{tries} of {busy_timeout:g} s each ({exc}). Another reflow "
                    "command or dispatcher is holding a long transaction, or the file is on a "
                    "filesystem whose locks do not work across hosts. Try again when it has "
                    "finished, or set REFLOW_STORE_PATH to a database on a local disk."
                ) from exc
            pause = min(max_delay, base_delay * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not security
            logger.warning(
                "Manifest database %s is busy (attempt %d of %d); retrying in %.2f s",
                path,
                attempt,
                attempts,
                pause,
            )
            time.sleep(pause)
    raise AssertionError("unreachable")  # pragma: no cover

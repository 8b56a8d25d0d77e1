"""Turning SQLite's errors about the database file into one-line store errors.

``sqlite3`` reports a full disk, a read-only file or a damaged page as a bare
``OperationalError`` or ``DatabaseError`` ("database or disk is full",
"attempt to write a readonly database", "unable to open database file").
A user reads those as a bug in reflow; the errors made here name the file,
what is wrong with it, and what to do, and say that nothing was changed (a
failed step is a rolled-back transaction).

Busy and locked databases are not handled here: :mod:`.connection` retries
them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from reflow.stores import StoreCorruptError, StoreError
from reflow_store_sqlite import safety

__all__ = ["store_error", "unwritable_error"]

# Primary result codes (the low byte of an extended code) of sqlite3.h.
_SQLITE_PERM = 3
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_NOTADB = 26

# Older Pythons give no error code; these are SQLite's texts for the codes above.
_WORDS: tuple[tuple[str, int], ...] = (
    ("malformed", _SQLITE_CORRUPT),
    ("not a database", _SQLITE_NOTADB),
    ("disk is full", _SQLITE_FULL),
    ("readonly database", _SQLITE_READONLY),
    ("unable to open database", _SQLITE_CANTOPEN),
    ("disk i/o error", _SQLITE_IOERR),
    ("access permission denied", _SQLITE_PERM),
)

_ELSEWHERE = "or set REFLOW_STORE_PATH (or --store-path) to a file you can write"


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF
    text = str(exc).lower()
    return next((value for word, value in _WORDS if word in text), None)


def unwritable_error(path: Path, cause: str) -> StoreError:
    """The error for a database that this user cannot write; ``cause`` says how it showed."""
    return StoreError(
        f"The manifest database {path} cannot be written ({cause}): the file, its "
        "directory or its filesystem is read-only to you. Commands that only read "
        f"(reflow runs, status, logs) still work; to record runs, ask its owner, {_ELSEWHERE}."
    )


def store_error(exc: sqlite3.Error, path: Path) -> StoreError | None:
    """Return the store error that explains ``exc``, or ``None`` if it is not about the file.

    Parameters
    ----------
    exc : sqlite3.Error
        What SQLite raised while opening, reading or writing ``path``.
    path : Path
        The database file.

    Returns
    -------
    StoreError or None
        :class:`StoreCorruptError` for a damaged file (with the advice to move
        it aside only when it is recognisably a reflow store), a
        :class:`StoreError` for a full disk, a file or directory that cannot
        be written or opened, or an I/O error; ``None`` for anything else
        (a programming error, a busy database), which the caller re-raises.
    """
    code = _primary_code(exc)
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return StoreCorruptError(safety.damaged_message(path, f"is damaged ({exc})"))
    if code == _SQLITE_FULL:
        return StoreError(
            f"The disk holding the manifest database {path} is full ({exc}); the change "
            "was rolled back and the database is intact. Free space on that disk and run "
            f"the command again, {_ELSEWHERE} on another disk."
        )
    if code in (_SQLITE_READONLY, _SQLITE_PERM):
        return unwritable_error(path, str(exc))
    if code == _SQLITE_CANTOPEN:
        return StoreError(
            f"Cannot open the manifest database {path} ({exc}): check that you can read "
            f"the file and its directory (and write them, to record runs), {_ELSEWHERE}."
        )
    if code == _SQLITE_IOERR:
        return StoreError(
            f"Reading or writing the manifest database {path} failed with an I/O error "
            f"({exc}); the change was rolled back. Check the disk (dmesg, df), {_ELSEWHERE} "
            "on another disk."
        )
    return None

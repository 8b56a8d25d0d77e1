"""Guarding the database file: permissions, damaged or foreign files, network filesystems.

- Directories and the database file that the store creates are owner-only
  (``0700`` and ``0600``); SQLite gives its ``-wal`` and ``-shm`` files the
  database file's permissions.  Existing files and directories are left as
  they are.
- A file that is not an SQLite database, is truncated, or belongs to another
  application is reported with its path and what to do, and never replaced.
  Moving the file aside is advised only for a file that is recognisably a
  damaged reflow store (its header carries reflow's application id): for a
  directory or someone else's file (``/etc/passwd``) the advice is to name
  another file.
- A database on a network filesystem (found from the mount table) gets a
  warning: SQLite's locks and WAL index are not reliable across hosts there
  (the store then uses the rollback journal, not WAL), and the way out when
  several hosts use the store is a server store, ``reflow-store-postgres``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from reflow.stores import StoreCorruptError, StoreError
from reflow_store_sqlite.paths import DATABASE_NAME

__all__ = [
    "NETWORK_FILESYSTEMS",
    "check_database_file",
    "corrupt_message",
    "damaged_message",
    "find_mount",
    "foreign_message",
    "is_reflow_database",
    "network_filesystem",
    "not_a_store_message",
    "prepare_location",
    "read_mount_table",
    "warn_if_network_filesystem",
]

logger = logging.getLogger(__name__)

NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "lustre",
        "gpfs",
        "cifs",
        "smb3",
        "smbfs",
        "beegfs",
        "ceph",
        "glusterfs",
        "fuse.glusterfs",
        "fuse.ceph",
        "fuse.sshfs",
        "panfs",
        "afs",
        "wekafs",
        "9p",
    }
)
"""Filesystem types (as in the mount table) on which the store warns."""

_SQLITE_MAGIC = b"SQLite format 3\x00"
_HEADER_SIZE = 100
_APPLICATION_ID = slice(68, 72)  # where the header keeps PRAGMA application_id
_warned: set[Path] = set()


def corrupt_message(path: Path, problem: str) -> str:
    """Build the message of a :class:`StoreCorruptError`: what is wrong and the ways out."""
    return (
        f"The manifest database {path} {problem}. reflow has not changed it. "
        f"To start afresh, move it aside (mv {path} {path}.broken) and reflow creates a new, "
        "empty store there on the next run (cached results are then computed again); or set "
        "REFLOW_STORE_PATH to another file. If it is an SQLite file worth rescuing, try: "
        f"sqlite3 {path} .recover | sqlite3 {path}.recovered"
    )


def not_a_store_message(path: Path, problem: str) -> str:
    """Build the message for a path that is not (recognisably) a reflow manifest database.

    The advice is to name another file, never to move this one: it may be
    a directory, or a file of the user's or the system's (``/etc/passwd``).
    """
    directory = path if path.is_dir() else path.parent
    example = directory / DATABASE_NAME
    if example == path:
        example = directory / "reflow" / DATABASE_NAME
    return (
        f"The manifest database path {path} {problem}: it is not recognisably a reflow "
        "manifest database, and reflow has not changed it. Name a file for the store, "
        f"e.g. {example} "
        "(--store-path, REFLOW_STORE_PATH or [store] path in the configuration)."
    )


def is_reflow_database(path: Path) -> bool:
    """Return whether the file's SQLite header carries reflow's application id."""
    from reflow_store_sqlite.schema import APPLICATION_ID

    try:
        with path.open("rb") as handle:
            header = handle.read(_HEADER_SIZE)
    except OSError:
        return False
    return (
        header.startswith(_SQLITE_MAGIC)
        and len(header) == _HEADER_SIZE
        and int.from_bytes(header[_APPLICATION_ID], "big") == APPLICATION_ID
    )


def damaged_message(path: Path, problem: str) -> str:
    """Build the message for a damaged file: move it aside only if it is reflow's."""
    if is_reflow_database(path):
        return corrupt_message(path, problem)
    return not_a_store_message(path, problem)


def foreign_message(path: Path, detail: str) -> str:
    """Build the message for an SQLite database that belongs to another program."""
    return (
        f"The file {path} is an SQLite database but not a reflow manifest ({detail}). "
        "reflow has not changed it. Set REFLOW_STORE_PATH (or [store] path in the "
        "configuration) to a different file for reflow's manifest database."
    )


def _make_private_dirs(directory: Path) -> None:
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    if current.exists() and not current.is_dir():
        raise StoreError(
            f"Cannot create the manifest database under {directory}: {current} is not a "
            "directory. Set REFLOW_STORE_PATH to a path in a directory you can write."
        )
    for item in reversed(missing):
        try:
            item.mkdir(mode=0o700)
        except FileExistsError:
            continue
        except OSError as exc:
            raise StoreError(
                f"Cannot create the directory {item} for the manifest database: {exc}. "
                "Set REFLOW_STORE_PATH to a path in a directory you can write."
            ) from exc


def prepare_location(path: Path) -> bool:
    """Create the database's directory (``0700``) and an empty file (``0600``) if missing.

    Parameters
    ----------
    path : Path
        Database file.

    Returns
    -------
    bool
        ``True`` if this call created the file.

    Raises
    ------
    StoreError
        If the directory or file cannot be created.
    """
    _make_private_dirs(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    except OSError as exc:
        raise StoreError(
            f"Cannot create the manifest database {path}: {exc}. "
            "Set REFLOW_STORE_PATH to a path in a directory you can write."
        ) from exc
    os.close(fd)
    return True


def check_database_file(path: Path) -> None:
    """Check, without opening it with SQLite, that a file can be a manifest database.

    A missing or empty file passes (SQLite treats it as a new database).

    Raises
    ------
    StoreCorruptError
        If the file is not a regular file, not an SQLite database, or shorter
        than its header says.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if path.is_dir():
        raise StoreCorruptError(not_a_store_message(path, "is a directory"))
    if not path.is_file():
        raise StoreCorruptError(not_a_store_message(path, "is not a regular file"))
    if size == 0:
        return
    with path.open("rb") as handle:
        header = handle.read(_HEADER_SIZE)
    magic = header[: len(_SQLITE_MAGIC)]
    if magic != _SQLITE_MAGIC[: len(magic)]:
        raise StoreCorruptError(not_a_store_message(path, "is not an SQLite database"))
    if size < _HEADER_SIZE:
        raise StoreCorruptError(
            damaged_message(path, f"is truncated ({size} bytes, shorter than its header)")
        )
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise StoreCorruptError(damaged_message(path, "has a damaged header"))
    pages = int.from_bytes(header[28:32], "big")
    header_valid = header[24:28] == header[92:96]
    wal = path.with_name(path.name + "-wal")
    wal_pending = wal.exists() and wal.stat().st_size > 0
    if pages and header_valid and not wal_pending and size < pages * page_size:
        raise StoreCorruptError(
            damaged_message(
                path, f"is truncated ({size} bytes, its header says {pages * page_size})"
            )
        )


def read_mount_table() -> str:
    """Return the text of ``/proc/self/mounts`` (``""`` where there is none)."""
    try:
        return Path("/proc/self/mounts").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _unescape(field: str) -> str:
    # The mount table writes space, tab, newline and backslash as octal escapes.
    for code in ("040", "011", "012", "134"):
        field = field.replace("\\" + code, chr(int(code, 8)))
    return field


def find_mount(path: Path, mount_table: str) -> tuple[Path, str] | None:
    """Return the mount point and filesystem type that hold ``path``.

    Parameters
    ----------
    path : Path
        An absolute path (it need not exist).
    mount_table : str
        Text in the format of ``/proc/self/mounts``.

    Returns
    -------
    tuple[Path, str] or None
        The longest mount point containing ``path``, with its type, or
        ``None`` if the table has no entry for it.
    """
    best: tuple[Path, str] | None = None
    for line in mount_table.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point, fs_type = Path(_unescape(fields[1])), fields[2]
        inside = path == mount_point or mount_point in path.parents
        if inside and (best is None or len(mount_point.parts) >= len(best[0].parts)):
            best = (mount_point, fs_type)
    return best


def network_filesystem(path: Path, mount_table: str | None = None) -> tuple[Path, str] | None:
    """Return ``(mount point, type)`` if ``path`` is on a network filesystem, else ``None``."""
    table = read_mount_table() if mount_table is None else mount_table
    target = path.parent if not path.exists() else path
    found = find_mount(Path(os.path.realpath(target)), table)
    if found is None:
        return None
    fs_type = found[1].lower()
    if fs_type in NETWORK_FILESYSTEMS or fs_type.split(".")[0] in NETWORK_FILESYSTEMS:
        return found
    return None


def warn_if_network_filesystem(path: Path, mount_table: str | None = None) -> bool:
    """Log a warning (once per path and process) if ``path`` is on a network filesystem.

    Returns
    -------
    bool
        ``True`` if the path is on a network filesystem.
    """
    found = network_filesystem(path, mount_table)
    if found is None:
        return False
    if path not in _warned:
        _warned.add(path)
        mount_point, fs_type = found
        logger.warning(
            "The manifest database %s is on a network filesystem (%s, mounted at %s). "
            "SQLite's file locks are not reliable when processes on several hosts use the "
            "file at once (as scheduler-mode dispatchers on compute nodes do): writes can "
            "fail with 'database is locked' or the database can be corrupted; reflow uses "
            "SQLite's rollback journal there, not WAL. For a store several hosts share, use "
            "a PostgreSQL server: pip install reflow-store-postgres; "
            "export REFLOW_STORE=postgresql://USER@HOST/DB (reflow store copy moves your "
            "history and cache). If every process runs on one host, put the file on its "
            "local disk instead: export REFLOW_STORE_PATH=/local/scratch/$USER/reflow/manifest.db",
            path,
            fs_type,
            mount_point,
        )
    return True

"""Permissions, damaged or foreign files, read-only use and network filesystems."""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from reflow.stores import (
    NewTaskInstance,
    ReadOnlyStoreError,
    StoreCorruptError,
    StoreError,
    TaskState,
)
from reflow_store_sqlite import SqliteStore, safety


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def usual_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("usual_umask")
def test_new_database_and_directories_are_private(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "reflow" / "manifest.db"
    store = SqliteStore(path)
    store.init()
    store.insert_run("run-1", "pipeline", "alice", {})
    assert mode(tmp_path / "cache") == 0o700
    assert mode(path.parent) == 0o700
    assert mode(path) == 0o600
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        assert companion.exists()
        assert mode(companion) == 0o600
    store.close()


@pytest.mark.usefixtures("usual_umask")
def test_existing_directory_is_left_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    SqliteStore(shared / "manifest.db").init()
    assert mode(shared) == 0o755
    assert mode(shared / "manifest.db") == 0o600


def _assert_refused(path: Path, *words: str) -> StoreCorruptError:
    before = digest(path)
    with pytest.raises(StoreCorruptError) as caught:
        store = SqliteStore(path)
        store.init()
        store.list_task_instance_records("run-1")
    message = str(caught.value)
    assert str(path) in message
    for word in words:
        assert word in message
    assert digest(path) == before, "the file was changed"
    return caught.value


def test_text_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "manifest.db"
    path.write_text("these are my notes, not a database\n" * 10, encoding="utf-8")
    error = _assert_refused(path, "not an SQLite database", "REFLOW_STORE_PATH")
    # Not recognisably reflow's: the user's notes must not be moved aside.
    assert "mv " not in str(error)
    assert f"e.g. {tmp_path}/reflow/manifest.db" in str(error)


def _filled(path: Path, count: int = 3000) -> None:
    store = SqliteStore(path)
    store.insert_run("run-1", "pipeline", "alice", {})
    store.insert_task_instances(
        "run-1", [NewTaskInstance("convert", i, identity=f"{i:064x}") for i in range(count)]
    )
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def test_truncated_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "manifest.db"
    _filled(path)
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)
    _assert_refused(path, "truncated")


def test_database_cut_inside_its_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "manifest.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\x10\x00")
    _assert_refused(path, "truncated")


def test_damaged_pages_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "manifest.db"
    _filled(path)
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.seek(8192)
        handle.write(bytes(range(256)) * ((size - 8192) // 256))
    error = _assert_refused(path, "damaged", ".recover")
    assert isinstance(error.__cause__, sqlite3.DatabaseError)


def test_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "manifest.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO photos (name) VALUES ('cat.jpg')")
    conn.commit()
    conn.close()
    error = _assert_refused(path, "not a reflow manifest", "photos", "REFLOW_STORE_PATH")
    assert "mv " not in str(error)  # someone else's database: do not suggest moving it


def test_foreign_application_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "manifest.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id = 1234")
    conn.execute("CREATE TABLE runs (x)")
    conn.commit()
    conn.close()
    _assert_refused(path, "application id")


def test_directory_in_place_of_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "manifest.db"
    path.mkdir()
    with pytest.raises(StoreCorruptError, match="is a directory") as caught:
        SqliteStore(path).init()
    assert f"e.g. {path}/manifest.db" in str(caught.value)
    assert "mv " not in str(caught.value)


def test_unwritable_location_names_the_way_out(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(StoreError, match="REFLOW_STORE_PATH") as caught:
        SqliteStore(blocker / "sub" / "manifest.db").init()
    assert str(blocker) in str(caught.value)


def test_read_only_store_needs_an_existing_database(tmp_path: Path) -> None:
    path = tmp_path / "none" / "manifest.db"
    with pytest.raises(StoreError, match="no manifest database"):
        SqliteStore(path, readonly=True).init()
    assert not path.parent.exists()


def test_read_only_store_reads_others_commits_and_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "manifest.db"
    writer = SqliteStore(path)
    writer.insert_run("run-1", "pipeline", "alice", {})
    reader = SqliteStore(path, readonly=True)
    assert reader.get_run("run-1") is not None
    [instance_id] = writer.insert_task_instances("run-1", [NewTaskInstance("t", 0)])
    writer.update_task_running(instance_id)
    record = reader.get_task_instance_record_by_id(instance_id)
    assert record is not None
    assert record.state is TaskState.RUNNING
    with pytest.raises(ReadOnlyStoreError, match="read-only"):
        reader.update_task_failed(instance_id, "nope")
    with pytest.raises(ReadOnlyStoreError):
        reader.transaction().__enter__()


MOUNTS = """\
/dev/vda / ext4 rw,relatime 0 0
server:/export/home /home nfs4 rw,relatime,vers=4.2 0 0
/dev/nvme0n1 /home/alice/local xfs rw 0 0
10.0.0.1@o2ib:/scratch /scratch lustre rw,flock 0 0
gpfs0 /gpfs gpfs rw 0 0
tmpfs /tmp tmpfs rw 0 0
server:/my\\040projects /mnt/my\\040projects nfs rw 0 0
"""


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/home/alice/.cache/reflow/manifest.db", ("/home", "nfs4")),
        ("/home/alice/local/manifest.db", None),
        ("/homework/manifest.db", None),
        ("/scratch/alice/manifest.db", ("/scratch", "lustre")),
        ("/gpfs/projects/x/manifest.db", ("/gpfs", "gpfs")),
        ("/tmp/manifest.db", None),
        ("/mnt/my projects/manifest.db", ("/mnt/my projects", "nfs")),
    ],
)
def test_network_filesystems_are_recognised(path: str, expected: tuple[str, str] | None) -> None:
    found = safety.network_filesystem(Path(path), MOUNTS)
    assert (None if found is None else (str(found[0]), found[1])) == expected


def test_store_on_network_filesystem_warns_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = Path(os.path.realpath(tmp_path))
    monkeypatch.setattr(safety, "read_mount_table", lambda: f"srv:/x {real} nfs4 rw 0 0\n")
    caplog.set_level(logging.WARNING, logger="reflow_store_sqlite")
    path = tmp_path / "manifest.db"
    SqliteStore(path).init()
    SqliteStore(path).init()
    warnings = [r for r in caplog.records if "network filesystem" in r.getMessage()]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert str(path) in message
    assert "nfs4" in message
    assert "REFLOW_STORE_PATH" in message
    assert "locked" in message
    # the real fix for several hosts, in the two lines that set it up
    assert "pip install reflow-store-postgres" in message
    assert "export REFLOW_STORE=postgresql://USER@HOST/DB" in message


def _journal_mode(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
    finally:
        conn.close()


@pytest.mark.parametrize(("fs_type", "mode"), [("nfs4", "delete"), ("ext4", "wal")])
def test_the_journal_is_wal_on_a_local_disk_and_a_rollback_journal_on_a_network_one(
    fs_type: str, mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Path(os.path.realpath(tmp_path))
    monkeypatch.setattr(safety, "read_mount_table", lambda: f"srv:/x {real} {fs_type} rw 0 0\n")
    path = tmp_path / "manifest.db"
    store = SqliteStore(path)
    store.insert_run("r1", "wf", "me", {})
    assert _journal_mode(path) == mode
    assert path.with_name("manifest.db-wal").exists() is (mode == "wal")
    store.close()


def test_a_wal_database_moved_to_a_network_filesystem_leaves_wal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "manifest.db"
    with SqliteStore(path) as store:  # made on a local disk: WAL
        store.insert_run("r1", "wf", "me", {})
    assert _journal_mode(path) == "wal"
    real = Path(os.path.realpath(tmp_path))
    monkeypatch.setattr(safety, "read_mount_table", lambda: f"srv:/x {real} nfs rw 0 0\n")
    with SqliteStore(path) as store:
        assert store.get_run_record("r1") is not None
    assert _journal_mode(path) == "delete"


def test_store_on_local_filesystem_does_not_warn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(safety, "read_mount_table", lambda: "/dev/vda / ext4 rw 0 0\n")
    caplog.set_level(logging.WARNING, logger="reflow_store_sqlite")
    SqliteStore(tmp_path / "manifest.db").init()
    assert not [r for r in caplog.records if "network filesystem" in r.getMessage()]

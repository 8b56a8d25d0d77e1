"""A store that cannot be opened cleanly gives one line naming the file and the fix.

Full and read-only disks are real tmpfs mounts (root ignores file modes, so
``chmod`` would test nothing here); each test also checks that nothing was
written or lost.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from reflow.stores import (
    NewTaskInstance,
    ReadOnlyStoreError,
    StoreCorruptError,
    StoreError,
    StoreMissingError,
    TaskState,
)
from reflow.testing.filesystems import remount_read_only, small_filesystem
from reflow_store_sqlite import SqliteStore


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_run(path: Path) -> None:
    store = SqliteStore(path)
    store.insert_run("run-1", "pipeline", "alice", {"n": 1})
    store.insert_task_instances("run-1", [NewTaskInstance("convert", None)])
    store.close()
    conn = sqlite3.connect(path)  # fold the WAL in, so the file alone is the database
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def test_full_disk_is_one_line_and_loses_nothing(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "mnt", 1024) as mnt:
        path = mnt / "manifest.db"
        one_run(path)
        store = SqliteStore(path)
        big = "x" * 100_000
        with pytest.raises(StoreError) as caught:
            for i in range(40):
                store.insert_run(f"run-{i + 2}", "pipeline", "alice", {"blob": big})
        store.close()
        assert str(caught.value) == (
            f"The disk holding the manifest database {path} is full (database or disk is "
            "full); the change was rolled back and the database is intact. Free space on "
            "that disk and run the command again, or set REFLOW_STORE_PATH (or --store-path) "
            "to a file you can write on another disk."
        )
        reread = SqliteStore(path, create=False)
        assert reread.list_task_instance_records("run-1")[0].state is TaskState.PENDING
        reread.close()


def test_read_only_mount_is_read_and_refuses_writes_in_one_line(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "mnt", 1024) as mnt:
        path = mnt / "manifest.db"
        one_run(path)
        before = digest(path)
        remount_read_only(mnt)
        reader = SqliteStore(path, create=False)
        assert [r.run_id for r in reader.list_run_records()] == ["run-1"]
        with pytest.raises(ReadOnlyStoreError) as refused:
            reader.insert_run("run-2", "pipeline", "alice", {})
        reader.close()
        assert str(refused.value) == (
            f"The manifest database {path} is open read-only (you cannot write the file or "
            "its directory), and this command changes it: run it as a user who can write "
            "the file and its directory, or set REFLOW_STORE_PATH (or --store-path) to a "
            "store you can write."
        )
        writer = SqliteStore(path)
        with pytest.raises(StoreError) as caught:
            writer.insert_run("run-2", "pipeline", "alice", {})
        writer.close()
        assert str(caught.value) == (
            f"The manifest database {path} cannot be written (no write access): the file, its "
            "directory or its filesystem is read-only to you. Commands that only read (reflow "
            "runs, status, logs) still work; to record runs, ask its owner, or set "
            "REFLOW_STORE_PATH (or --store-path) to a file you can write."
        )
        assert digest(path) == before
        assert sorted(p.name for p in mnt.iterdir()) == ["manifest.db"]


def test_reading_never_creates_a_store_or_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "typo" / "manifest.db"
    with pytest.raises(StoreMissingError) as caught:
        SqliteStore(path, create=False).list_run_records()
    assert str(caught.value) == (
        f"There is no manifest database at {path}; reflow has not created one (this command "
        "only reads). Check --store-path, REFLOW_STORE_PATH and [store] path, or submit a run "
        "to create it."
    )
    assert not path.parent.exists()


def test_damaged_schema_page_of_a_reflow_store_advises_moving_it_aside(tmp_path: Path) -> None:
    path = tmp_path / "manifest.db"
    one_run(path)
    with path.open("r+b") as handle:  # the schema table starts right after the header
        handle.seek(100)
        handle.write(b"\xff" * 400)
    before = digest(path)
    with pytest.raises(StoreCorruptError) as caught:
        SqliteStore(path, create=False).list_run_records()
    message = str(caught.value)
    assert message.startswith(f"The manifest database {path} is damaged (")
    assert f"mv {path} {path}.broken" in message
    assert "\n" not in message
    assert digest(path) == before


def test_damaged_header_of_a_reflow_store_advises_moving_it_aside(tmp_path: Path) -> None:
    path = tmp_path / "manifest.db"
    one_run(path)
    with path.open("r+b") as handle:
        handle.seek(16)  # the page size: 3 is no power of two
        handle.write(b"\x00\x03")
    before = digest(path)
    with pytest.raises(StoreCorruptError) as caught:
        SqliteStore(path).init()
    assert str(caught.value).startswith(
        f"The manifest database {path} has a damaged header. reflow has not changed it. "
        f"To start afresh, move it aside (mv {path} {path}.broken)"
    )
    assert digest(path) == before


@pytest.mark.parametrize("create", [True, False])
def test_unrelated_file_is_never_advised_to_be_moved(tmp_path: Path, create: bool) -> None:
    path = tmp_path / "passwd"
    path.write_text("root:x:0:0:root:/root:/bin/bash\n", encoding="utf-8")
    before = digest(path)
    with pytest.raises(StoreCorruptError) as caught:
        SqliteStore(path, create=create).init()
    assert str(caught.value) == (
        f"The manifest database path {path} is not an SQLite database: it is not "
        "recognisably a reflow manifest database, and reflow has not changed it. Name a file "
        f"for the store, e.g. {tmp_path}/manifest.db (--store-path, REFLOW_STORE_PATH or "
        "[store] path in the configuration)."
    )
    assert digest(path) == before


def test_directory_is_refused_with_a_file_name_to_use(tmp_path: Path) -> None:
    with pytest.raises(StoreCorruptError) as caught:
        SqliteStore(tmp_path).init()
    assert str(caught.value) == (
        f"The manifest database path {tmp_path} is a directory: it is not recognisably a "
        "reflow manifest database, and reflow has not changed it. Name a file for the "
        f"store, e.g. {tmp_path}/manifest.db (--store-path, REFLOW_STORE_PATH or [store] "
        "path in the configuration)."
    )
    assert list(tmp_path.iterdir()) == []


NOBODY_SCRIPT = """
import sys
from reflow.stores import StoreError
from reflow_store_sqlite import SqliteStore

path = sys.argv[1]
print([r.run_id for r in SqliteStore(path, create=False).list_run_records()])
for create in (False, True):
    try:
        SqliteStore(path, create=create).insert_run("run-2", "pipeline", "nobody", {})
    except StoreError as exc:
        print(type(exc).__name__, exc)
"""


def test_user_who_cannot_write_reads_and_is_refused_writes(
    request: pytest.FixtureRequest,
) -> None:
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to run as the unprivileged user nobody")
    # pytest's temporary directories are private to root: nobody could not enter them.
    shared = Path(tempfile.mkdtemp(prefix="reflow-shared-"))
    request.addfinalizer(lambda: shutil.rmtree(shared, ignore_errors=True))
    shared.chmod(0o755)
    path = shared / "manifest.db"
    one_run(path)
    path.chmod(0o644)
    before = digest(path)
    as_nobody = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    done = subprocess.run(
        [*as_nobody, sys.executable, "-c", NOBODY_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "['run-1']",
        f"ReadOnlyStoreError The manifest database {path} is open read-only (you cannot "
        "write the file or its directory), and this command changes it: run it as a user "
        "who can write the file and its directory, or set REFLOW_STORE_PATH (or "
        "--store-path) to a store you can write.",
        f"StoreError The manifest database {path} cannot be written (no write access): the "
        "file, its directory or its filesystem is read-only to you. Commands that only read "
        "(reflow runs, status, logs) still work; to record runs, ask its owner, or set "
        "REFLOW_STORE_PATH (or --store-path) to a file you can write.",
    ]
    assert digest(path) == before
    assert sorted(p.name for p in shared.iterdir()) == ["manifest.db"]

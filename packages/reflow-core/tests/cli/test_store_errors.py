"""Stores and run directories that cannot be used: one line, exit 2, nothing written or lost.

Read-only and full disks are real tmpfs mounts, and "a user who cannot
write" is the ``nobody`` user: root ignores file modes, so ``chmod`` alone
would exercise nothing when the suite runs as root.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from types import ModuleType

import pytest

from reflow.testing.filesystems import remount_read_only, small_filesystem

# mypy checks this folder as top-level modules, which nothing is relative to.
from .conftest import Demo, Outcome, load_module, run_cli  # type: ignore[import-not-found]

SCRIPT = """
from reflow import Workflow

wf = Workflow("storeerr")


@wf.job()
def make(size: int = 10) -> str:
    return "x" * size
"""


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def no_store_message(path: Path) -> str:
    return (
        f"There is no manifest database at {path}; reflow has not created one (this command "
        "only reads). Check --store-path, REFLOW_STORE_PATH and [store] path, or submit a run "
        "to create it."
    )


@pytest.fixture
def script(tmp_path: Path) -> Iterator[tuple[Path, ModuleType]]:
    name = f"storeerr_{id(tmp_path)}"
    path = tmp_path / f"{name}.py"
    module = load_module(path, SCRIPT, name)
    yield path, module
    sys.modules.pop(name, None)


def script_cli(module: ModuleType, *argv: str) -> Outcome:
    """``python pipeline.py ARGV``, run in this process."""
    from reflow.cli.script.main import run_cli as workflow_cli

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = workflow_cli(module.wf, list(argv))
    return Outcome(code, out.getvalue(), err.getvalue())


def copied_store(demo: Demo, where: Path) -> Path:
    path = where / "manifest.db"
    shutil.copyfile(demo.store_path, path)
    return path


# -- paths that name no store -----------------------------------------------------


def test_directory_as_store_path_names_a_file_to_use(demo: Demo, tmp_path: Path) -> None:
    where = tmp_path / "stores"
    where.mkdir()
    done = run_cli("runs", "--store-path", str(where))
    assert done.code == 2
    assert done.err == (
        f"reflow: error: The manifest database path {where} is a directory: it is not "
        "recognisably a reflow manifest database, and reflow has not changed it. Name a file "
        f"for the store, e.g. {where}/manifest.db (--store-path, REFLOW_STORE_PATH or "
        "[store] path in the configuration).\n"
    )
    assert list(where.iterdir()) == []


def test_unrelated_system_file_is_not_advised_to_be_moved(demo: Demo) -> None:
    passwd = Path("/etc/passwd")
    if not passwd.is_file():
        pytest.skip("no /etc/passwd here")
    before = digest(passwd)
    done = run_cli("status", "latest", "--store-path", str(passwd))
    assert done.code == 2
    assert done.err == (
        "reflow: error: The manifest database path /etc/passwd is not an SQLite database: it "
        "is not recognisably a reflow manifest database, and reflow has not changed it. Name "
        "a file for the store, e.g. /etc/manifest.db (--store-path, REFLOW_STORE_PATH or "
        "[store] path in the configuration).\n"
    )
    assert "mv " not in done.err
    assert digest(passwd) == before


@pytest.mark.parametrize(
    "argv",
    [
        ("status", "latest"),
        ("logs", "latest", "process[0]"),
        ("explain", "latest", "process[0]"),
        ("dag", "latest"),
        ("report", "latest"),
        ("suggest", "latest"),
        ("gc",),
    ],
)
def test_commands_that_read_never_create_a_store(
    demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...]
) -> None:
    path = tmp_path / "typo" / "manifest.db"
    monkeypatch.setenv("REFLOW_STORE_PATH", str(path))
    done = run_cli(*argv)
    message = no_store_message(path)
    if argv[0] != "dag" and len(argv) > 1:  # the run asked for is named first (dag: a script)
        message = f"No run {argv[1]!r}: t{message[1:]}"
    assert (done.code, done.err) == (2, f"reflow: error: {message}\n")
    assert not path.parent.exists()


def test_runs_without_a_store_yet_says_so_and_creates_nothing(
    demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cache" / "manifest.db"
    monkeypatch.setenv("REFLOW_STORE_PATH", str(path))
    done = run_cli("runs")
    assert (done.code, done.err) == (0, "")
    assert done.out == (
        "No runs yet: the manifest store has not been created (submit a run first).\n"
    )
    assert not path.parent.exists()


def test_script_runs_with_a_mistyped_store_path_creates_nothing(
    script: tuple[Path, ModuleType], tmp_path: Path
) -> None:
    _, module = script
    path = tmp_path / "typo" / "x.db"
    runs = script_cli(module, "runs", "--store-path", str(path))
    assert (runs.code, runs.err) == (2, f"storeerr: error: {no_store_message(path)}\n")
    status = script_cli(module, "status", "storeerr-x", "--store-path", str(path))
    message = f"No run 'storeerr-x': t{no_store_message(path)[1:]}"
    assert (status.code, status.err) == (2, f"storeerr: error: {message}\n")
    assert not path.parent.exists()


# -- stores that cannot be written -------------------------------------------------


def test_read_only_mount_is_read_and_gc_refuses_in_one_line(demo: Demo, tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "mnt", 2048) as mnt:
        path = copied_store(demo, mnt)
        before = digest(path)
        remount_read_only(mnt)
        runs = run_cli("runs", "--store-path", str(path))
        assert runs.code == 0, runs.err
        assert demo.ok in runs.out and demo.sched in runs.out
        status = run_cli("status", demo.failed, "--store-path", str(path))
        assert status.code == 1 or status.code == 0, status.err
        assert "process" in status.out
        gc = run_cli("gc", "--older-than", "0s", "--store-path", str(path))
        assert gc.code == 2
        assert gc.err == (
            f"reflow: error: The manifest database {path} is open read-only (you cannot write "
            "the file or its directory), and this command changes it: run it as a user who "
            "can write the file and its directory, or set REFLOW_STORE_PATH (or --store-path) "
            "to a store you can write.\n"
        )
        assert digest(path) == before


def test_script_run_on_a_read_only_store_is_one_line(
    script: tuple[Path, ModuleType], tmp_path: Path
) -> None:
    _, module = script
    with small_filesystem(tmp_path / "mnt", 1024) as mnt:
        path = mnt / "manifest.db"
        from reflow.stores.sqlite import SqliteStore

        with SqliteStore(path) as store:  # closed, or the mount could not be remounted
            module.wf.run_local(tmp_path / "r1", store=store)
        before = digest(path)
        remount_read_only(mnt)
        done = script_cli(
            module, "run", "--run-dir", str(tmp_path / "r2"), "--store-path", str(path)
        )
        assert done.code == 2
        assert done.err == (
            f"storeerr: error: The manifest database {path} cannot be written (no write "
            "access): the file, its directory or its filesystem is read-only to you. Commands "
            "that only read (reflow runs, status, logs) still work; to record runs, ask its "
            "owner, or set REFLOW_STORE_PATH (or --store-path) to a file you can write.\n"
        )
        assert digest(path) == before


def test_disk_filling_during_a_run_is_one_line_and_keeps_earlier_runs(
    script: tuple[Path, ModuleType], tmp_path: Path
) -> None:
    _, module = script
    with small_filesystem(tmp_path / "mnt", 1024) as mnt:
        path = mnt / "manifest.db"
        store = ("--store-path", str(path))
        first = script_cli(module, "run", "--run-dir", str(tmp_path / "r1"), *store)
        assert first.code == 0, first.err
        done = script_cli(
            module, "run", "--run-dir", str(tmp_path / "r2"), "--size", "4000000", *store
        )
        assert done.code == 2
        # Piped, the run's progress lines ("reflow: [0s] make 1/1") come before the one
        # error line, and nothing else: no traceback.
        *progress, error = done.err.splitlines(keepends=True)
        assert all(line.startswith("reflow: [") for line in progress), done.err
        assert error == (
            f"storeerr: error: The disk holding the manifest database {path} is full "
            "(database or disk is full); the change was rolled back and the database is "
            "intact. Free space on that disk and run the command again, or set "
            "REFLOW_STORE_PATH (or --store-path) to a file you can write on another disk.\n"
        )
        runs = script_cli(module, "runs", *store)
        assert runs.code == 0
        assert " SUCCESS " in runs.out.splitlines()[-1]  # the first run, intact


def test_user_who_cannot_write_reads_the_store(demo: Demo, request: pytest.FixtureRequest) -> None:
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to run a command as the unprivileged user nobody")
    # pytest's own temporary directories are private to root: nobody cannot enter them.
    shared = Path(tempfile.mkdtemp(prefix="reflow-shared-"))
    request.addfinalizer(lambda: shutil.rmtree(shared, ignore_errors=True))
    shared.chmod(0o755)  # nobody may read, not write: no -wal or -shm can be made here
    path = copied_store(demo, shared)
    path.chmod(0o644)
    before = digest(path)
    as_nobody = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    reflow = [sys.executable, "-m", "reflow"]
    config = shared / "config.toml"
    config.write_text("", encoding="utf-8")
    config.chmod(0o644)
    env = {
        **os.environ,
        "REFLOW_STORE_PATH": str(path),
        "REFLOW_CONFIG": str(config),
        "HOME": "/nonexistent",
    }
    listed = subprocess.run(  # the runs are another user's: nobody lists them all
        [*as_nobody, *reflow, "runs", "--all-users"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert demo.ok in listed.stdout
    status = subprocess.run(
        [*as_nobody, *reflow, "status", demo.ok, "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    assert '"SUCCESS"' in status.stdout
    assert digest(path) == before
    assert sorted(p.name for p in shared.iterdir()) == ["config.toml", "manifest.db"]


def test_damaged_store_is_one_line_with_the_way_out(demo: Demo, tmp_path: Path) -> None:
    path = copied_store(demo, tmp_path)
    with path.open("r+b") as handle:  # the schema table starts right after the header
        handle.seek(100)
        handle.write(b"\xff" * 400)
    before = digest(path)
    done = run_cli("runs", "--store-path", str(path))
    assert done.code == 2
    assert done.err.startswith(f"reflow: error: The manifest database {path} is damaged (")
    assert f"(mv {path} {path}.broken)" in done.err
    assert done.err.count("\n") == 1
    assert digest(path) == before


# -- run directories that cannot be created -----------------------------------------


@pytest.mark.parametrize(
    ("run_dir", "reason"),
    [
        ("/etc/passwd/x", "Not a directory"),
        ("/proc/reflow-test/x", "No such file or directory (/proc/reflow-test)"),
    ],
)
def test_run_directory_that_cannot_be_created_is_one_line(
    script: tuple[Path, ModuleType], tmp_path: Path, run_dir: str, reason: str
) -> None:
    _, module = script
    path = tmp_path / "manifest.db"
    done = script_cli(module, "run", "--run-dir", run_dir, "--store-path", str(path))
    assert done.code == 2
    assert done.err == (
        f"storeerr: error: Cannot create the run directory {run_dir}: {reason}. Give a run "
        "directory you can write (--run-dir), on a filesystem that is not read-only.\n"
    )
    assert not path.exists()  # nothing was recorded


def test_run_directory_on_a_read_only_filesystem_is_one_line(
    script: tuple[Path, ModuleType], tmp_path: Path
) -> None:
    _, module = script
    with small_filesystem(tmp_path / "mnt", 64) as mnt:
        remount_read_only(mnt)
        run_dir = mnt / "run"
        path = tmp_path / "manifest.db"
        done = script_cli(module, "run", "--run-dir", str(run_dir), "--store-path", str(path))
        assert done.code == 2
        assert done.err == (
            f"storeerr: error: Cannot create the run directory {run_dir}: Read-only file "
            "system. Give a run directory you can write (--run-dir), on a filesystem that is "
            "not read-only.\n"
        )
        assert not path.exists()

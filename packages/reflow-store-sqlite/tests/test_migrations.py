"""Schema versions: older databases are migrated in place, newer ones refused."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import stat
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from reflow.stores import CacheCandidate, RunState, SchemaVersionError, StoreError, TaskState
from reflow_store_sqlite import SCHEMA_VERSION, SqliteStore
from reflow_store_sqlite.migrations import MIGRATIONS, V1_SCHEMA, VERSION_TABLE
from reflow_store_sqlite.schema import APPLICATION_ID


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


T0 = "2024-03-01T10:00:00.123456+00:00"
T1 = "2024-03-01T10:05:00+00:00"


def write_v1(path: Path, *, versioned: bool = True) -> None:
    """Write a database the way the version-1 layout stores it, with a few rows."""
    conn = sqlite3.connect(path)
    if versioned:
        conn.execute(VERSION_TABLE)
        conn.execute("INSERT INTO schema_version VALUES (1, ?, 'v1')", (T0,))
    for statement in V1_SCHEMA:
        conn.execute(statement)
    conn.executemany(
        "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?)",
        [
            ("run-a", "pipeline", "alice", T0, "SUCCESS", json.dumps({"n": 3})),
            ("run-b", "pipeline", "bob", T1, "FAILED", "{}"),
        ],
    )
    conn.executemany(
        "INSERT INTO task_specs VALUES (?, ?, ?, ?)",
        [("run-a", "prepare", 0, "{}"), ("run-a", "convert", 1, json.dumps({"cpus": 4}))],
    )
    conn.execute("INSERT INTO task_dependencies VALUES ('run-a', 'convert', 'prepare')")
    rows = [
        (10, "run-a", "prepare", None, "SUCCESS", "j1", "{}", json.dumps(["x", "y"]), None,
         sha("p"), sha("pi"), sha("po"), T0, T1),
        (11, "run-a", "convert", 0, "SUCCESS", "j2", json.dumps({"item": "x"}), json.dumps(1),
         None, sha("c0"), "", sha("c0o"), T0, T1),
        (12, "run-a", "convert", 1, "FAILED", "j2", "{}", None, "exit 1", sha("c1"), "", "",
         T0, T1),
        (13, "run-b", "prepare", None, "PENDING", None, "{}", None, None, "", "", "", T1, T1),
    ]  # fmt: skip
    conn.executemany(
        "INSERT INTO task_instances VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
    )
    conn.commit()
    conn.close()


def version_of(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT max(version) FROM schema_version").fetchone()[0])
    finally:
        conn.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_migration_list_ends_at_the_current_version() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))
    assert MIGRATIONS[0].statements == V1_SCHEMA


@pytest.mark.parametrize("versioned", [True, False], ids=["v1", "v1-without-version-table"])
def test_v1_database_is_migrated_and_keeps_its_rows(tmp_path: Path, versioned: bool) -> None:
    path = tmp_path / "manifest.db"
    write_v1(path, versioned=versioned)
    store = SqliteStore(path)
    store.init()

    assert version_of(path) == SCHEMA_VERSION
    run = store.get_run_record("run-a")
    assert run is not None
    assert (run.graph_name, run.user_id, run.status) == ("pipeline", "alice", RunState.SUCCESS)
    assert run.parameters == {"n": 3}
    assert run.created_at == datetime(2024, 3, 1, 10, 0, 0, 123000, tzinfo=timezone.utc)
    assert [r.run_id for r in store.list_run_records()] == ["run-b", "run-a"]

    spec = store.get_task_spec_record("run-a", "convert")
    assert spec is not None
    assert (spec.is_array, spec.config, spec.dependencies) == (True, {"cpus": 4}, ["prepare"])

    prepare = store.get_task_instance_record("run-a", "prepare", None)
    assert prepare is not None
    assert prepare.id == 10  # instance ids survive
    assert prepare.state is TaskState.SUCCESS
    assert (prepare.identity, prepare.input_hash, prepare.output_hash) == (
        sha("p"),
        sha("pi"),
        sha("po"),
    )
    assert prepare.output == ["x", "y"]
    assert prepare.job_id == "j1"
    assert prepare.updated_at == datetime(2024, 3, 1, 10, 5, tzinfo=timezone.utc)
    failed = store.get_task_instance_record_by_id(12)
    assert failed is not None
    assert (failed.state, failed.error_text, failed.array_index) == (TaskState.FAILED, "exit 1", 1)
    element = store.get_task_instance_record("run-a", "convert", 0)
    assert element is not None
    assert element.input == {"item": "x"}
    assert store.task_state_summary("run-a") == {
        "prepare": {"SUCCESS": 1},
        "convert": {"SUCCESS": 1, "FAILED": 1},
    }
    found = store.find_cached_record("convert", sha("c0"))
    assert found is not None
    assert found.id == 11

    # The migrated store carries on: new ids follow the old ones.
    new_id = store.insert_task_instance("run-b", "convert", 0, TaskState.PENDING, {})
    assert new_id > 13
    store.mark_for_retry(12)
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


def test_migration_keeps_a_private_copy_of_the_old_database(tmp_path: Path) -> None:
    path = tmp_path / "manifest.db"
    write_v1(path)
    SqliteStore(path).init()
    backup = tmp_path / "manifest.db.schema-v1.bak"
    assert backup.is_file()
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert version_of(backup) == 1
    conn = sqlite3.connect(backup)
    assert conn.execute("SELECT count(*) FROM task_instances").fetchone()[0] == 4


def test_fresh_and_migrated_databases_have_the_same_schema(tmp_path: Path) -> None:
    migrated, fresh = tmp_path / "migrated.db", tmp_path / "fresh.db"
    write_v1(migrated)
    SqliteStore(migrated).init()
    SqliteStore(fresh).init()

    def schema(path: Path) -> list[tuple[str, str]]:
        conn = sqlite3.connect(path)
        return sorted(
            conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
        )

    assert schema(migrated) == schema(fresh)


def test_v1_duplicates_are_set_aside_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "manifest.db"
    write_v1(path)
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO task_instances (id, run_id, task_name, array_index, state, created_at, "
        "updated_at) VALUES (20, 'run-a', 'prepare', NULL, 'FAILED', ?, ?)",
        (T1, T1),
    )
    conn.commit()
    conn.close()
    store = SqliteStore(path)
    kept = store.get_task_instance_record("run-a", "prepare", None)
    assert kept is not None
    assert (kept.id, kept.state) == (10, TaskState.SUCCESS)
    aside = sqlite3.connect(path).execute("SELECT id FROM v1_duplicate_task_instances")
    assert [row[0] for row in aside] == [20]


def test_v1_rows_of_a_missing_run_get_a_placeholder_run(tmp_path: Path) -> None:
    path = tmp_path / "manifest.db"
    write_v1(path)
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM runs WHERE run_id = 'run-b'")
    conn.commit()
    conn.close()
    store = SqliteStore(path)
    orphan = store.get_task_instance_record_by_id(13)
    assert orphan is not None
    assert orphan.run_id == "run-b"
    assert store.get_run_record("run-b") is not None


def test_failed_migration_leaves_the_database_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "manifest.db"
    write_v1(path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE task_instances SET state = 'WEIRD' WHERE id = 13")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="WEIRD") as caught:
        SqliteStore(path).init()
    assert str(path) in str(caught.value)
    assert "not changed" in str(caught.value)
    assert version_of(path) == 1
    rows = sqlite3.connect(path).execute("SELECT count(*) FROM task_instances").fetchone()[0]
    assert rows == 4


def test_processes_opening_an_old_database_together_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "manifest.db"
    write_v1(path)
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            store = SqliteStore(path)
            store.init()
            assert store.get_task_instance_record_by_id(10) is not None
            store.close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    versions = sqlite3.connect(path).execute("SELECT version FROM schema_version").fetchall()
    assert sorted(v for (v,) in versions) == list(range(1, SCHEMA_VERSION + 1))


def _stamp_future_version(path: Path, version: int) -> None:
    store = SqliteStore(path)
    store.init()
    store.insert_run("run-1", "pipeline", "alice", {})
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_version VALUES (?, 'later', 'from the future')", (version,))
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


@pytest.mark.parametrize("readonly", [False, True])
def test_newer_database_is_refused(tmp_path: Path, readonly: bool) -> None:
    path = tmp_path / "manifest.db"
    _stamp_future_version(path, SCHEMA_VERSION + 1)
    before = digest(path)
    with pytest.raises(SchemaVersionError) as caught:
        SqliteStore(path, readonly=readonly).init()
    message = str(caught.value)
    assert f"schema version {SCHEMA_VERSION + 1}" in message
    assert f"up to {SCHEMA_VERSION}" in message
    assert str(path) in message
    assert "pip install -U reflow-store-sqlite" in message
    assert digest(path) == before


def test_read_only_store_does_not_migrate(tmp_path: Path) -> None:
    path = tmp_path / "manifest.db"
    write_v1(path)
    before = digest(path)
    with pytest.raises(SchemaVersionError, match="read-only") as caught:
        SqliteStore(path, readonly=True).init()
    assert "version 1" in str(caught.value)
    assert digest(path) == before


def test_v3_database_gains_run_owners_and_keeps_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "manifest.db"
    conn = sqlite3.connect(path)
    for migration in MIGRATIONS[:3]:  # a store written by reflow before version 4
        migration.run(conn)
    conn.execute(VERSION_TABLE)
    conn.executemany(
        "INSERT INTO schema_version VALUES (?, ?, 'old')", [(v, T0) for v in (1, 2, 3)]
    )
    conn.execute(
        "INSERT INTO runs (run_id, graph_name, user_id, created_at, status) "
        "VALUES ('old-run', 'pipeline', 'alice', 0, 1)"
    )
    conn.commit()
    conn.close()

    store = SqliteStore(path)
    store.init()
    assert version_of(path) == SCHEMA_VERSION
    run = store.get_run_record("old-run")
    assert run is not None
    assert (run.status, run.owner, run.heartbeat_at) == (RunState.RUNNING, None, None)
    store.heartbeat_run("old-run")  # the new columns are writable
    assert store.get_run_record("old-run").heartbeat_at is not None  # type: ignore[union-attr]
    store.close()


def write_v4(path: Path, runs: list[tuple[str, dict[str, object] | None]]) -> None:
    """Write a version-4 database (the last before run contexts) holding ``runs``."""
    conn = sqlite3.connect(path)
    conn.execute(VERSION_TABLE)
    for migration in MIGRATIONS[:4]:
        migration.run(conn)
        conn.execute(
            "INSERT INTO schema_version VALUES (?, ?, ?)",
            (migration.version, T0, migration.description),
        )
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.executemany(
        "INSERT INTO runs (run_id, graph_name, user_id, created_at, status, parameters, "
        "executor, executor_options) VALUES (?, 'pipeline', 'alice', 0, 2, ?, 'slurm', NULL)",
        [(run_id, None if p is None else json.dumps(p)) for run_id, p in runs],
    )
    conn.commit()
    conn.close()


def test_v4_runs_get_their_context_from_the_parameter_keys_they_used(tmp_path: Path) -> None:
    from reflow.runs.context import RunContext

    path = tmp_path / "manifest.db"
    submitted = {
        "n": 3,
        "run_dir": "/work/run",
        "__script__": "/work/flow.py",
        "__argv__": ["flow.py", "submit", "--n", "3"],
        "__force_tasks__": ["prepare"],
        "__verify__": True,
    }
    local = {"run_dir": "/work/local", "__force__": True}
    write_v4(path, [("run-s", submitted), ("run-l", local), ("run-x", {"n": 1}), ("run-e", None)])
    store = SqliteStore(path)
    store.init()

    assert version_of(path) == SCHEMA_VERSION
    record = store.get_run_record("run-s")
    assert record is not None
    assert record.parameters == submitted  # the parameters stay as they were
    assert record.context == RunContext(
        run_id="run-s",
        run_dir=Path("/work/run"),
        workflow="pipeline",
        script=Path("/work/flow.py"),
        argv=("flow.py", "submit", "--n", "3"),
        executor="slurm",
        store_url=store.url,  # the store it is read from: old runs kept no URL
        force_tasks=frozenset({"prepare"}),
        verify=True,
    )
    local_run = store.get_run_record("run-l")
    assert local_run is not None and local_run.context is not None
    assert (local_run.context.run_dir, local_run.context.script) == (Path("/work/local"), None)
    assert local_run.context.force and not local_run.context.verify
    for bare in ("run-x", "run-e"):  # no run directory recorded: no context to give
        old = store.get_run_record(bare)
        assert old is not None and old.context is None


def test_v6_results_stay_in_the_cache_index_and_new_hits_stay_out(tmp_path: Path) -> None:
    path = tmp_path / "manifest.db"
    conn = sqlite3.connect(path)
    for migration in MIGRATIONS[:6]:  # a store written by reflow before version 7
        migration.run(conn)
    conn.execute(VERSION_TABLE)
    conn.executemany(
        "INSERT INTO schema_version VALUES (?, ?, 'old')", [(v, T0) for v in range(1, 7)]
    )
    conn.execute(
        "INSERT INTO runs (id, run_id, graph_name, user_id, created_at, status) "
        "VALUES (1, 'old-run', 'pipeline', 'alice', 0, 2)"
    )
    conn.execute("INSERT INTO task_names (id, name) VALUES (1, 'task')")
    conn.execute(
        "INSERT INTO task_instances (run, task, idx, state, created_at, updated_at, identity, "
        "output, output_hash) VALUES (1, 1, 0, 3, 0, 0, ?, '5', ?)",
        (bytes.fromhex(sha("x")), bytes.fromhex(sha("5"))),
    )
    conn.commit()
    conn.close()

    store = SqliteStore(path)
    store.init()
    assert version_of(path) == SCHEMA_VERSION
    old = store.find_cached_record("task", sha("x"))  # an old result: still a cache entry
    assert old is not None and old.output == 5
    store.insert_run("new-run", "pipeline", "alice", {})
    reused, _ = store.insert_cache_hits("new-run", "task", [CacheCandidate(0, sha("x"))])
    assert set(reused) == {0}
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT id, source FROM task_instances ORDER BY id").fetchall()
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM task_instances WHERE task = 1 AND identity = ? "
        "AND state = 3 AND source IS NULL ORDER BY updated_at DESC, id DESC LIMIT 1",
        (bytes.fromhex(sha("x")),),
    ).fetchall()
    conn.close()
    assert rows == [(old.id, None), (reused[0].instance_id, old.id)]
    assert "task_instances_newest" in str(plan)
    assert store.find_cached_record("task", sha("x")).id == old.id  # type: ignore[union-attr]
    store.close()

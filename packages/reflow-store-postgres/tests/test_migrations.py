"""The schema's recorded version: created, migrated forward, a newer one refused."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest

from reflow.stores import SchemaVersionError, StoreMissingError
from reflow_store_postgres import SCHEMA_VERSION, PostgresStore
from reflow_store_postgres.schema import MIGRATIONS


def _version(admin: Any, schema: str) -> int:
    rows = admin(f"SELECT value FROM {schema}.reflow_meta WHERE key = 'schema_version'")
    return int(rows[0][0])


def _schema(url: str) -> str:
    return url.rpartition("%3D")[2]


def test_a_new_schema_records_the_current_version(schema_url: str, admin: Any) -> None:
    with PostgresStore(schema_url):
        pass

    assert _version(admin, _schema(schema_url)) == SCHEMA_VERSION
    assert SCHEMA_VERSION == len(MIGRATIONS) >= 2


def test_an_older_schema_is_migrated_keeping_its_runs(schema_url: str, admin: Any) -> None:
    schema = _schema(schema_url)
    for statement in MIGRATIONS[0]:  # what reflow-store-postgres with schema 1 created
        admin(f"SET search_path = {schema}; {statement}")
    admin(f"INSERT INTO {schema}.reflow_meta VALUES ('schema_version', '1')")
    admin(
        f"INSERT INTO {schema}.runs (run_id, graph_name, user_id, created_at, status) "
        "VALUES ('old', 'wf', 'alice', 0, 2)"
    )

    with PostgresStore(schema_url) as store:
        record = store.get_run_record("old")
        # Version 2 brought the whole-array cache: it works on the migrated schema.
        store.record_array_identity("old", "t", "ab" * 32, 0)

    assert record is not None
    assert record.status.value == "SUCCESS"
    assert _version(admin, schema) == SCHEMA_VERSION
    indexes = {
        r[0] for r in admin(f"SELECT indexname FROM pg_indexes WHERE schemaname = '{schema}'")
    }
    assert "task_instances_cache" in indexes
    # Version 3: cache hits (source not NULL) stay out of the cache index.
    [(definition,)] = admin(
        f"SELECT indexdef FROM pg_indexes WHERE schemaname = '{schema}' "
        "AND indexname = 'task_instances_cache'"
    )
    assert "source IS NULL" in definition


def test_a_newer_schema_is_refused_naming_both_versions(schema_url: str, admin: Any) -> None:
    with PostgresStore(schema_url) as store:
        store.insert_run("r1", "wf", "alice", {})
    schema = _schema(schema_url)
    newer = SCHEMA_VERSION + 1
    admin(f"UPDATE {schema}.reflow_meta SET value = '{newer}' WHERE key = 'schema_version'")

    with pytest.raises(SchemaVersionError) as caught:
        PostgresStore(schema_url).init()

    message = str(caught.value)
    assert f"schema version {newer}" in message
    assert f"up to {SCHEMA_VERSION}" in message
    assert "pip install -U reflow-store-postgres" in message
    assert _version(admin, schema) == newer  # not changed
    assert admin(f"SELECT count(*) FROM {schema}.runs")[0][0] == 1


def test_a_reading_command_does_not_create_a_store(schema_url: str, admin: Any) -> None:
    with pytest.raises(StoreMissingError, match="no reflow store"):
        PostgresStore.from_url(schema_url, create=False).init()

    schema = _schema(schema_url)
    tables = admin(f"SELECT count(*) FROM pg_tables WHERE schemaname = '{schema}'")
    assert tables[0][0] == 0


def _open(url: str) -> None:
    with PostgresStore(url) as store:
        store.list_run_records()


def test_processes_creating_the_schema_at_once_create_it_once(schema_url: str) -> None:
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_open, args=(schema_url,)) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)

    assert [w.exitcode for w in workers] == [0] * 6


def test_the_store_is_the_one_of_the_current_schema_only(
    schema_url: str, admin: Any, server_url: str
) -> None:
    # A store further on the search_path (a lab's in public, say) is not taken for this one.
    later = f"{_schema(schema_url)}_later"
    admin(f"CREATE SCHEMA {later}")
    try:
        with PostgresStore(f"{server_url}?options=-csearch_path%3D{later}") as other:
            other.insert_run("theirs", "wf", "bob", {})
        both = f"{server_url}?options=-csearch_path%3D{_schema(schema_url)},{later}"

        with PostgresStore(both) as store:
            store.insert_run("mine", "wf", "alice", {})
            runs = [r.run_id for r in store.list_run_records()]

        assert runs == ["mine"]
        assert admin(f"SELECT run_id FROM {later}.runs") == [("theirs",)]
    finally:
        admin(f"DROP SCHEMA {later} CASCADE")

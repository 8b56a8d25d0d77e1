"""Connecting: an unreachable server is retried for a bounded time, then named in one line."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from reflow.stores import StoreError
from reflow_store_postgres import PostgresStore
from reflow_store_postgres.connection import connect_timeout


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_server_is_retried_then_named_in_one_line() -> None:
    port = _closed_port()
    store = PostgresStore(f"postgresql://reflow@127.0.0.1:{port}/lab", connect_timeout=1.5)

    start = time.monotonic()
    with pytest.raises(StoreError) as caught:
        store.init()
    elapsed = time.monotonic() - start

    message = str(caught.value)
    assert 1.5 <= elapsed < 10
    assert "\n" not in message
    assert message.startswith(f"Cannot connect to the PostgreSQL store at 127.0.0.1:{port}/lab")
    assert "tried for 1.5 s" in message
    assert "refused" in message  # the cause, from libpq


def test_a_zero_timeout_tries_once() -> None:
    store = PostgresStore(f"postgresql://reflow@127.0.0.1:{_closed_port()}/x", connect_timeout=0)

    start = time.monotonic()
    with pytest.raises(StoreError, match="Cannot connect"):
        store.init()
    assert time.monotonic() - start < 1.0


def test_the_timeout_comes_from_the_environment() -> None:
    assert connect_timeout({}) == 60
    assert connect_timeout({"REFLOW_STORE_CONNECT_TIMEOUT": "2.5"}) == 2.5
    with pytest.raises(StoreError, match="REFLOW_STORE_CONNECT_TIMEOUT='soon'"):
        connect_timeout({"REFLOW_STORE_CONNECT_TIMEOUT": "soon"})
    with pytest.raises(StoreError):
        connect_timeout({"REFLOW_STORE_CONNECT_TIMEOUT": "-1"})


PASSWORD_URL = os.environ.get("REFLOW_TEST_POSTGRES_PASSWORD_URL", "")
PASSFILE = os.environ.get("REFLOW_TEST_POSTGRES_PGPASSFILE", "")
needs_password_role = pytest.mark.skipif(
    not (PASSWORD_URL and PASSFILE),
    reason="REFLOW_TEST_POSTGRES_PASSWORD_URL and _PGPASSFILE are unset (start.sh sets them)",
)


@needs_password_role
def test_the_password_comes_from_the_pgpass_file(
    monkeypatch: pytest.MonkeyPatch, schema_url: str, admin: Any
) -> None:
    schema = schema_url.rpartition("%3D")[2]
    admin(f"GRANT ALL ON SCHEMA {schema} TO reflow_pw")
    monkeypatch.setenv("PGPASSFILE", PASSFILE)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    url = f"{PASSWORD_URL}?options=-csearch_path%3D{schema}"

    with PostgresStore(url, connect_timeout=5) as store:
        store.insert_run("r1", "wf", "alice", {})
        assert store.get_run_record("r1") is not None
        assert "reflow_pw" in store.url
        assert Path(PASSFILE).read_text().split(":")[-1].strip() not in store.url


@needs_password_role
def test_a_missing_password_fails_at_once_naming_the_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    monkeypatch.delenv("PGPASSWORD", raising=False)
    store = PostgresStore(PASSWORD_URL, connect_timeout=30)

    start = time.monotonic()
    with pytest.raises(StoreError) as caught:
        store.init()

    assert time.monotonic() - start < 5  # waiting does not bring a password
    assert "Cannot connect to the PostgreSQL store at 127.0.0.1:" in str(caught.value)
    assert "password" in str(caught.value)


def test_a_lost_connection_is_reopened(schema_url: str, admin: Any) -> None:
    with PostgresStore(schema_url, connect_timeout=10) as store:
        store.insert_run("r1", "wf", "alice", {})
        admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'reflow' AND pid <> pg_backend_pid()"
        )

        store.insert_run("r2", "wf", "alice", {})

        assert [r.run_id for r in store.list_run_records()] == ["r2", "r1"]


def test_a_connection_lost_while_the_store_opens_is_reopened(
    schema_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The server ends the session while init() checks the schema (a dispatcher opening
    # the store as an administrator or a failover ends sessions): init connects again.
    prepare = PostgresStore._prepare_schema
    ended: list[int] = []

    def ended_once(self: PostgresStore, conn: Any) -> None:
        if not ended:
            ended.append(1)
            conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        prepare(self, conn)

    monkeypatch.setattr(PostgresStore, "_prepare_schema", ended_once)
    with PostgresStore(schema_url, connect_timeout=10) as store:
        store.init()
        assert ended == [1]
        store.insert_run("r1", "wf", "alice", {})
        assert [r.run_id for r in store.list_run_records()] == ["r1"]
    assert "Lost the connection to" in caplog.text

"""A fresh PostgreSQL schema per test, on the server REFLOW_TEST_POSTGRES_URL names.

Start one with ``tests/clusters/postgres/start.sh`` (the ``cluster(postgres)`` nox
session does, and loads its ``cluster.env``).  Without the variable the tests that
need a server skip, saying so.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

SERVER_URL = os.environ.get("REFLOW_TEST_POSTGRES_URL", "")

needs_server = pytest.mark.skipif(
    not SERVER_URL,
    reason="REFLOW_TEST_POSTGRES_URL is unset: start a test server with "
    "tests/clusters/postgres/start.sh, or run nox -s 'cluster(postgres)'",
)


def in_schema(url: str, schema: str) -> str:
    """``url`` with libpq's ``options`` setting the search_path to ``schema`` only."""
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def admin_execute(*statements: str) -> None:
    """Run statements on the test server outside any store."""
    import psycopg

    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


@pytest.fixture
def schema_url() -> Iterator[str]:
    """The URL of a new, empty schema of the test server, dropped after the test."""
    if not SERVER_URL:
        pytest.skip(needs_server.kwargs["reason"])
    name = f"reflow_test_{uuid.uuid4().hex[:16]}"
    admin_execute(f"CREATE SCHEMA {name}")
    try:
        yield in_schema(SERVER_URL, name)
    finally:
        admin_execute(f"DROP SCHEMA {name} CASCADE")

"""A fresh PostgreSQL schema per test, on the server REFLOW_TEST_POSTGRES_URL names.

Start one with ``tests/clusters/postgres/start.sh`` (the ``cluster(postgres)`` nox
session does, and loads its ``cluster.env``).  Without the variable the tests that
need a server skip, saying so.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

SKIP_REASON = (
    "REFLOW_TEST_POSTGRES_URL is unset: start a test server with "
    "tests/clusters/postgres/start.sh, or run nox -s 'cluster(postgres)'"
)

Admin = Callable[..., list[tuple[object, ...]]]


def in_schema(url: str, schema: str) -> str:
    """``url`` with libpq's ``options`` setting the search_path to ``schema`` only."""
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


@pytest.fixture
def server_url() -> str:
    """The test server's URL (its database ``reflow``); skips the test without one."""
    url = os.environ.get("REFLOW_TEST_POSTGRES_URL", "")
    if not url:
        pytest.skip(SKIP_REASON)
    return url


@pytest.fixture
def admin(server_url: str) -> Admin:
    """Run one statement on the test server outside any store; return its rows."""

    def execute(statement: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        import psycopg

        with psycopg.connect(server_url, autocommit=True) as conn:
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    return execute


@pytest.fixture
def schema_url(server_url: str, admin: Admin) -> Iterator[str]:
    """The URL of a new, empty schema of the test server, dropped after the test."""
    name = f"reflow_test_{uuid.uuid4().hex[:16]}"
    admin(f"CREATE SCHEMA {name}")
    try:
        yield in_schema(server_url, name)
    finally:
        admin(f"DROP SCHEMA {name} CASCADE")

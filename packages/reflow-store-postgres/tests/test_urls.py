"""Store URLs: the password refusal, what passes through, and how a server is named."""

from __future__ import annotations

import subprocess
import sys

import pytest

from reflow.stores import StoreError, open_store
from reflow_store_postgres import PostgresStore
from reflow_store_postgres.urls import check_url, server_name


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://alice:s3cr3t-pw@db.example.org/reflow",
        "postgres://alice:s3cr3t-pw@db.example.org:6543/reflow?sslmode=require",
        "postgresql://alice@db.example.org/reflow?password=s3cr3t-pw",
    ],
)
def test_a_url_with_a_password_is_refused_with_the_fix_and_without_the_password(
    url: str,
) -> None:
    with pytest.raises(StoreError) as caught:
        PostgresStore.from_url(url)

    message = str(caught.value)
    assert "s3cr3t-pw" not in message
    assert "\n" not in message
    assert "password" in message
    assert "~/.pgpass" in message
    assert "PGPASSWORD" in message


def test_open_store_refuses_a_password_before_connecting() -> None:
    # Port 1 is closed: a refusal that tried to connect would fail differently (and later).
    # reflow-core refuses it first, for every store (the store itself would too).
    with pytest.raises(StoreError, match="embeds a password") as caught:
        open_store("postgresql://alice:s3cr3t-pw@127.0.0.1:1/reflow")
    assert "s3cr3t-pw" not in str(caught.value)


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_both_schemes_open_this_store_and_keep_libpq_parameters(scheme: str) -> None:
    url = f"{scheme}://alice@db.example.org:6543/reflow?sslmode=verify-full&application_name=x"

    store = open_store(url)  # opening does not connect yet

    assert isinstance(store, PostgresStore)
    assert store.url == url


def test_a_url_of_another_scheme_is_refused() -> None:
    with pytest.raises(StoreError, match="not a PostgreSQL URL"):
        check_url("mysql://alice@db/reflow")


def test_the_server_is_named_host_port_database() -> None:
    assert (
        server_name("postgresql://alice@db.example.org:6543/lab", {}) == "db.example.org:6543/lab"
    )
    assert server_name("postgresql://", {"PGHOST": "h", "PGPORT": "7", "PGDATABASE": "d"}) == (
        "h:7/d"
    )
    assert server_name("postgresql://bob@", {}) == "localhost:5432/bob"
    assert server_name("postgresql://?service=lab", {}) == "service lab"


def test_importing_the_package_does_not_import_psycopg() -> None:
    code = "import sys, reflow_store_postgres; print('psycopg' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"

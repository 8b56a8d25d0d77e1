"""The PostgreSQL store is written against the declared store plugin API alone."""

from __future__ import annotations

from pathlib import Path

import reflow.stores
import reflow_store_postgres
from reflow.testing.imports import names_taken, package_violations

PACKAGE = Path(__file__).resolve().parents[1]
"""This package's directory, holding ``src/`` and ``tests/``."""


def test_only_reflow_stores_is_imported_from_core() -> None:
    assert package_violations(PACKAGE, {"reflow.stores"}) == []


def test_every_name_taken_from_reflow_stores_is_in_its_all() -> None:
    assert names_taken(PACKAGE / "src", "reflow.stores") <= set(reflow.stores.__all__)


def test_both_schemes_are_registered_for_this_store() -> None:
    for scheme in ("postgresql", "postgres"):
        assert reflow.stores.store_class(scheme) is reflow_store_postgres.PostgresStore

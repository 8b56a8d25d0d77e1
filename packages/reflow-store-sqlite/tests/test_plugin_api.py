"""The SQLite store is written against the declared store plugin API alone."""

from __future__ import annotations

from pathlib import Path

import reflow.stores
from reflow.testing.imports import names_taken, package_violations

PACKAGE = Path(__file__).resolve().parents[1]
"""This package's directory, holding ``src/`` and ``tests/``."""


def test_only_reflow_stores_is_imported_from_core() -> None:
    assert package_violations(PACKAGE, {"reflow.stores"}) == []


def test_every_name_taken_from_reflow_stores_is_in_its_all() -> None:
    assert names_taken(PACKAGE / "src", "reflow.stores") <= set(reflow.stores.__all__)
    for name in reflow.stores.__all__:  # and every declared name resolves
        assert getattr(reflow.stores, name) is not None

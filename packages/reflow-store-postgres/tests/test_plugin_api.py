"""The PostgreSQL store is written against the declared store plugin API alone."""

from __future__ import annotations

import ast
from pathlib import Path

import reflow.stores
import reflow_store_postgres

SOURCE = Path(reflow_store_postgres.__file__).parent


def _core_imports() -> dict[str, set[str]]:
    """Each reflow-core module the package imports, with the names it takes from it."""
    found: dict[str, set[str]] = {}
    for file in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = {node.module: {alias.name for alias in node.names}}
            elif isinstance(node, ast.Import):
                modules = {alias.name: set() for alias in node.names}
            else:
                continue
            for module, names in modules.items():
                if module == "reflow" or module.startswith("reflow."):
                    found.setdefault(module, set()).update(names)
    return found


def test_only_reflow_stores_is_imported_from_core() -> None:
    assert set(_core_imports()) == {"reflow.stores"}


def test_every_name_taken_from_reflow_stores_is_in_its_all() -> None:
    assert _core_imports()["reflow.stores"] <= set(reflow.stores.__all__)


def test_both_schemes_are_registered_for_this_store() -> None:
    for scheme in ("postgresql", "postgres"):
        assert reflow.stores.store_class(scheme) is reflow_store_postgres.PostgresStore

"""The SQLite store is written against the declared store plugin API alone."""

from __future__ import annotations

import ast
from pathlib import Path

import reflow.stores
import reflow_store_sqlite

SOURCE = Path(reflow_store_sqlite.__file__).parent


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
    imports = _core_imports()
    assert set(imports) == {"reflow.stores"}


def test_every_name_taken_from_reflow_stores_is_in_its_all() -> None:
    taken = _core_imports()["reflow.stores"]
    assert taken <= set(reflow.stores.__all__)
    for name in reflow.stores.__all__:  # and every declared name resolves
        assert getattr(reflow.stores, name) is not None

"""The SQLite manifest store, ``SqliteStore``, from the ``reflow-store-sqlite`` package.

This module keeps the import path ``reflow.stores.sqlite.SqliteStore``
working for users; nothing in reflow-core imports it, since core opens every
store through its ``reflow.stores`` entry point
(:func:`reflow.stores.open_store`).  reflow-core depends on
reflow-store-sqlite, so the package is normally present; if it is missing,
importing this module raises :class:`~reflow.errors.PluginNotFoundError` (an
:class:`ImportError`) that gives the ``pip install`` line.
"""

from __future__ import annotations

import sys

from reflow.errors import PluginNotFoundError

__all__ = ["SqliteStore"]

try:
    from reflow_store_sqlite import SqliteStore
except ModuleNotFoundError as exc:
    if exc.name != "reflow_store_sqlite":
        raise
    raise PluginNotFoundError(
        "reflow.stores.sqlite needs the reflow-store-sqlite package, which is not "
        f"installed for {sys.executable}. Install it with: pip install reflow-store-sqlite",
        name="reflow_store_sqlite",
    ) from exc

"""The SQLite manifest store for reflow, its embedded default store.

Registered as ``sqlite`` in the ``reflow.stores`` entry-point group, and
reachable as ``reflow.stores.sqlite.SqliteStore``.
"""

from __future__ import annotations

from reflow_store_sqlite._version import __version__
from reflow_store_sqlite.paths import default_path
from reflow_store_sqlite.schema import SCHEMA_VERSION
from reflow_store_sqlite.store import SqliteStore

__all__ = ["SCHEMA_VERSION", "SqliteStore", "__version__", "default_path"]

"""The PostgreSQL manifest store for reflow: one store for dispatchers on many hosts.

Registered as ``postgresql`` and ``postgres`` in the ``reflow.stores``
entry-point group: ``REFLOW_STORE=postgresql://alice@db.example.org/reflow``
selects it.  psycopg is imported only when a store is opened, so importing
this package stays cheap.
"""

from __future__ import annotations

from reflow_store_postgres._version import __version__
from reflow_store_postgres.schema import SCHEMA_VERSION
from reflow_store_postgres.store import PostgresStore

__all__ = ["SCHEMA_VERSION", "PostgresStore", "__version__"]

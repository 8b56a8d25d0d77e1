"""The manifest store and the store plugin API: runs, task specifications, task instances.

:class:`Store` is the interface every store implements; the SQLite store of
the ``reflow-store-sqlite`` package is the default one
(``reflow.stores.sqlite.SqliteStore``).  :func:`open_store` opens a store by
URL (``sqlite:///abs/path.db``): the scheme is the store's name in the
``reflow.stores`` entry-point group.  Store packages register themselves in
that group, and their tests subclass
:class:`reflow.testing.store.StoreConformance`.

The store enforces the lifecycle of task instances (see
:data:`TRANSITIONS`): a successful instance never runs again, and only a
failed or cancelled instance can be retried.

The store plugin API
--------------------
This module's ``__all__`` is everything a store plugin may use from
reflow-core, and plugins import nothing else from core (their tests may also
use :mod:`reflow.testing`): the :class:`Store` interface, the records it
takes and returns, its errors, the lifecycle (:data:`TRANSITIONS`), the
states (:class:`RunState`, :class:`TaskState`), the manifest codec that
encodes stored values (:data:`CODEC`), the configuration a store reads
(:class:`Config`, :func:`default_store_path`, :func:`sqlite_url`), and for
stores on SQL databases :mod:`reflow.stores.sqlstore` (rows to records, values
to columns, the schema-version refusal).  Anything
else in core may change without notice.

This module imports no backend, nor the configuration, the codec or the
plugin loader until they are used: ``import reflow.stores`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from reflow._types import RunState, TaskState
from reflow.stores.base import ENDED_STATES, Store, ended_states
from reflow.stores.errors import (
    ActiveRunError,
    DuplicateError,
    InvalidTransitionError,
    ReadOnlyStoreError,
    SchemaVersionError,
    StoreBusyError,
    StoreCorruptError,
    StoreError,
    StoreMissingError,
    UnknownInstanceError,
    UnknownRunError,
)
from reflow.stores.opening import configured_url, open_store, store_class, url_scheme
from reflow.stores.records import (
    CacheCandidate,
    NewTaskInstance,
    NewTaskSpec,
    ReusedHit,
    RunContext,
    RunOwner,
    RunRecord,
    StateUpdate,
    TaskInstanceRecord,
    TaskSpecRecord,
)
from reflow.stores.transitions import TRANSITIONS, can_transition

if TYPE_CHECKING:
    from reflow.config import DATABASE_NAME, Config, default_store_path, sqlite_url
    from reflow.manifest import CODEC, ManifestCodec

__all__ = [
    "CODEC",
    "DATABASE_NAME",
    "ENDED_STATES",
    "TRANSITIONS",
    "ActiveRunError",
    "CacheCandidate",
    "Config",
    "DuplicateError",
    "InvalidTransitionError",
    "ManifestCodec",
    "NewTaskInstance",
    "NewTaskSpec",
    "ReadOnlyStoreError",
    "ReusedHit",
    "RunContext",
    "RunOwner",
    "RunRecord",
    "RunState",
    "SchemaVersionError",
    "StateUpdate",
    "Store",
    "StoreBusyError",
    "StoreCorruptError",
    "StoreError",
    "StoreMissingError",
    "TaskInstanceRecord",
    "TaskSpecRecord",
    "TaskState",
    "UnknownInstanceError",
    "UnknownRunError",
    "can_transition",
    "configured_url",
    "default_store_path",
    "ended_states",
    "open_store",
    "sqlite_url",
    "sqlstore",
    "store_class",
    "url_scheme",
]

_LAZY: dict[str, str] = {
    "CODEC": "reflow.manifest",
    "ManifestCodec": "reflow.manifest",
    "Config": "reflow.config",
    "DATABASE_NAME": "reflow.config",
    "default_store_path": "reflow.config",
    "sqlite_url": "reflow.config",
}
"""Names of the plugin API imported on first use: reflow.config imports the
executor layer (about 40 ms), and only stores that are opened need it."""


def __getattr__(name: str) -> Any:
    """Import the lazily re-exported names of :data:`_LAZY` on first use."""
    if name == "sqlstore":  # the helpers of SQL stores (rows to records): for those only
        return importlib.import_module("reflow.stores.sqlstore")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once imported, found without this hook
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "sqlstore"})

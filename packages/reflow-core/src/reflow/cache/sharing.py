"""Whose earlier results the cache may serve: the run's user's only, unless shared.

Many users can keep their runs in one store (a PostgreSQL database of a lab).
A cache hit lets an earlier output stand for the result of running the task
now, so by default a run reuses only results of runs of the same user; a
site or user who trusts every other user of the store opts in to a shared
cache with ``[store] share_cache = true`` or ``REFLOW_SHARE_CACHE=true``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reflow.config import Config
    from reflow.stores import Store

__all__ = ["cache_user", "takes_user"]


def cache_user(store: Store, run_id: str, config: Config | None = None) -> str | None:
    """The user whose results ``run_id`` may reuse, or ``None`` for any user's.

    The run's own recorded user, unless the configuration shares the cache.

    Parameters
    ----------
    store : Store
        The store holding the run.
    run_id : str
        The run being planned.
    config : Config or None
        The configuration (``[store] share_cache``); ``None`` loads the user's.
    """
    if config is None:
        from reflow.config import load_config  # lazy: the executor layer, only when needed

        config = load_config()
    if config.share_cache:
        return None
    record = store.get_run_record(run_id)
    return None if record is None else record.user_id


def takes_user(method: Callable[..., Any]) -> bool:
    """Whether a store's cache lookup accepts ``user_id=`` (stores written before it did not)."""
    try:
        parameters = inspect.signature(method).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins have no signature
        return False
    return "user_id" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )

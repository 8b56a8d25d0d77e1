"""Where the shared manifest database lives by default."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from reflow.stores import DATABASE_NAME, default_store_path

if TYPE_CHECKING:
    from reflow.stores import Config

__all__ = ["DATABASE_NAME", "default_path"]


def default_path(config: Config | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """Return the path of the shared manifest database.

    The first of these that is set wins:

    1. the ``REFLOW_STORE_PATH`` environment variable;
    2. ``[store] path`` in the configuration (``config.store_path``);
    3. ``manifest.db`` in the user cache directory, typically
       ``~/.cache/reflow/manifest.db`` on Linux.

    reflow-core decides this (:func:`reflow.stores.default_store_path`), so
    that the store it selects and the one this package opens by default
    are the same file.

    Parameters
    ----------
    config : Config or None
        Configuration; ``None`` loads the user's configuration file.
    environ : Mapping[str, str] or None
        Environment to read ``REFLOW_STORE_PATH`` from; ``None`` means
        :data:`os.environ`.

    Returns
    -------
    Path
        An absolute path (``~`` expanded).  Nothing is created.
    """
    return default_store_path(config, environ)

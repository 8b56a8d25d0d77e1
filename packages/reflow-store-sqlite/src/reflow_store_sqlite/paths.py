"""Where the shared manifest database lives by default."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reflow.config import Config

__all__ = ["DATABASE_NAME", "default_path"]

DATABASE_NAME = "manifest.db"
"""File name of the database in the user cache directory and in run directories."""


def default_path(config: Config | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """Return the path of the shared manifest database.

    The first of these that is set wins:

    1. the ``REFLOW_STORE_PATH`` environment variable;
    2. ``[store] path`` in the configuration (``config.store_path``);
    3. ``manifest.db`` in the user cache directory, typically
       ``~/.cache/reflow/manifest.db`` on Linux.

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
    from reflow import env

    from_env = env.get(env.REFLOW_STORE_PATH, environ)
    if from_env is not None:
        return Path(from_env).expanduser().absolute()
    if config is None:
        from reflow.config import load_config

        config = load_config(environ=environ)
    configured = config.store_path
    if configured is not None:
        return Path(configured).expanduser().absolute()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("reflow", appauthor=False)).absolute() / DATABASE_NAME

"""Opening a store by URL: the scheme names the store plugin that opens it.

A store URL is ``scheme://...``; the scheme is the store's name in the
``reflow.stores`` entry-point group (``sqlite`` is the SQLite store of
reflow-store-sqlite, ``sqlite:///abs/path.db``), and the store class's
:meth:`~reflow.stores.Store.from_url` reads the rest.  A plain path is an
SQLite file.  Which store is used when none is named is configured
(:func:`configured_url`): ``REFLOW_STORE``, ``REFLOW_STORE_PATH``,
``[store] url``, ``[store] path``, in that order.

Nothing here imports a store package: it is loaded through its entry point
when a store is opened, so core names no store but its default scheme.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from reflow.stores.base import Store
from reflow.stores.errors import StoreError
from reflow.urlpasswords import password_fix, without_password

if TYPE_CHECKING:
    from reflow.config import Config

__all__ = ["configured_url", "open_store", "store_class", "url_scheme"]


def url_scheme(url: str) -> str | None:
    """The scheme of a store URL, lower-cased, or ``None`` when ``url`` is no URL.

    Examples
    --------
    >>> url_scheme("SQLite:///shared/manifest.db")
    'sqlite'
    >>> url_scheme("/shared/manifest.db") is None
    True
    """
    scheme, sep, _ = url.partition("://")
    return scheme.strip().lower() if sep and scheme.strip() else None


def store_class(scheme: str) -> type[Store]:
    """The store class registered under ``scheme`` in the ``reflow.stores`` entry points.

    Raises
    ------
    PluginNotFoundError
        If no installed store has that name; the message lists the installed
        stores and, for reflow's own, the ``pip install`` line.
    StoreError
        If the plugin found is not a :class:`Store` subclass.
    """
    # lazy: reflow.plugins reads entry points and parses versions; only when a store is opened.
    from reflow import plugins

    found = plugins.load(plugins.STORES, scheme)
    if not isinstance(found, type) or not issubclass(found, Store):
        where = f"{getattr(found, '__module__', '?')}.{getattr(found, '__qualname__', found)}"
        raise StoreError(
            f"The store plugin {scheme!r} ({where}) is not a reflow Store (a subclass of "
            "reflow.stores.Store); fix or uninstall the package that registers it."
        )
    return found


def configured_url(config: Config | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The URL of the store the environment and configuration select.

    ``REFLOW_STORE``, else ``REFLOW_STORE_PATH`` (an SQLite file), else
    ``[store] url``, else ``[store] path``, else the SQLite file in the user
    cache directory: the environment beats the file, and at the same level a
    URL beats a path.  A run records the URL of the store it was opened
    with (:attr:`Store.url <reflow.stores.Store.url>`, which the store keeps
    free of passwords), so that its jobs open the same store from any process.

    Parameters
    ----------
    config : Config or None
        The configuration; ``None`` loads the user's file.
    environ : Mapping[str, str] or None
        Where to read the variables; ``None`` means :data:`os.environ` now.

    Returns
    -------
    str
        ``scheme://...``.

    Raises
    ------
    ConfigError
        If ``REFLOW_STORE`` is not a URL (the message names it and the fix).
    """
    # lazy: reflow.config imports the executor layer (about 40 ms); only when a store is opened.
    from reflow.config import store_url

    return store_url(config, environ)


def open_store(
    path: str | os.PathLike[str] | None = None,
    config: Config | None = None,
    *,
    create: bool = True,
) -> Store:
    """The store a URL or a path names, or the configured one.

    A URL (``scheme://...``) is opened by the store registered under its
    scheme in the ``reflow.stores`` entry-point group; a plain path is an
    SQLite file (``sqlite:///`` and its absolute path); ``None`` is the
    store the environment and configuration select (:func:`configured_url`).
    The store package is imported only here, so ``import reflow.stores``
    stays cheap.

    Parameters
    ----------
    path : str, os.PathLike or None
        A store URL (``sqlite:///abs/path.db``), an SQLite file, or ``None``
        for the configured store.
    config : Config or None
        The configuration, for the configured store and any default the URL
        leaves open.
    create : bool
        ``False`` for commands that only read: a missing store raises
        :class:`~reflow.stores.StoreMissingError` when opened instead of being
        created, and one the user cannot write is opened read-only.

    Returns
    -------
    Store
        The store, not yet opened (``init`` or the first call opens it).

    Raises
    ------
    PluginNotFoundError
        If no installed store has the URL's scheme.
    StoreError
        If the store registered under the scheme is not a :class:`Store`, it
        cannot read the URL, or the URL embeds a password (the URL is recorded
        with every run; the password belongs in the database client's own
        files, see :mod:`reflow.urlpasswords`).
    """
    from reflow.config import SQLITE, sqlite_url  # lazy: see configured_url, import time

    if path is None:
        url = configured_url(config)
    elif isinstance(path, str) and url_scheme(path) is not None:
        url = path.strip()
        if (fix := password_fix(url)) is not None:
            raise StoreError(f"The store URL {without_password(url)!r} is not valid: {fix}.")
    else:
        url = sqlite_url(Path(path))
    return store_class(url_scheme(url) or SQLITE).from_url(url, config, create=create)

"""Store URLs must not carry a password: the URL is recorded with every run.

A run writes its store's URL into ``run.json``, the store's run record and
the dispatcher job's command line, where any user of the cluster may read
it.  So reflow refuses a URL with an embedded password wherever one is
configured (``REFLOW_STORE``, ``[store] url``, :func:`~reflow.stores.open_store`,
and a store's own :attr:`~reflow.stores.Store.url` when a run is recorded)
and names where the password belongs instead: the database client's own
means (``~/.pgpass``, a service file, ``PGPASSWORD``).

It imports nothing of reflow, so the environment and configuration checks
(:mod:`reflow.env`, :mod:`reflow.config`) use it without importing the
store layer.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

__all__ = ["password_fix", "without_password"]

_FIX = (
    "it embeds a password; put the password in ~/.pgpass (mode 0600), a service file "
    "(~/.pg_service.conf) or PGPASSWORD instead, and give the URL without it: the store URL "
    "is recorded with every run, in files and job command lines other users can read"
)


def _has_password(url: str) -> bool:
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # a malformed URL is for the store to refuse, with its own message
        return False
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        return True
    return any(key.strip().lower() == "password" for key, _ in parse_qsl(parts.query))


def password_fix(url: str) -> str | None:
    """How to fix a store URL that embeds a password, or ``None`` when it has none.

    A password is ``user:secret@`` before the host, or a ``password=``
    query parameter (libpq reads both).

    Examples
    --------
    >>> password_fix("postgresql://alice@db/reflow") is None
    True
    >>> password_fix("postgresql://alice:s3cret@db/reflow")[:40]
    'it embeds a password; put the password i'
    >>> password_fix("postgresql://db/reflow?password=s3cret") is not None
    True
    """
    return _FIX if _has_password(url) else None


def without_password(url: str) -> str:
    """``url`` with any embedded password replaced by ``***``, for messages.

    Examples
    --------
    >>> without_password("postgresql://alice:s3cret@db:5432/reflow?password=x&sslmode=require")
    'postgresql://alice:***@db:5432/reflow?password=***&sslmode=require'
    >>> without_password("sqlite:///home/me/manifest.db")
    'sqlite:///home/me/manifest.db'
    """
    if not _has_password(url):
        return url
    parts = urlsplit(url.strip())
    userinfo, at, host = parts.netloc.rpartition("@")
    netloc = parts.netloc
    if at and ":" in userinfo:
        netloc = f"{userinfo.partition(':')[0]}:***@{host}"
    query = "&".join(
        f"{key}={'***' if key.strip().lower() == 'password' else value}"
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    return parts._replace(netloc=netloc, query=query).geturl()

"""Store URLs: which ones are accepted, and how a server is named in messages.

A store URL is a libpq connection URI (``postgresql://user@host:port/db?sslmode=require``,
or ``postgres://...``); every libpq parameter passes through unchanged.  A URL
is recorded with each run and handed to every dispatcher job, so it must
never hold a password: one that does is refused, and the password comes from
libpq's own means instead (``~/.pgpass``, a service file, ``PGPASSWORD``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import parse_qsl, unquote, urlsplit

from reflow.stores import StoreError

__all__ = ["SCHEMES", "check_url", "server_name"]

SCHEMES = ("postgresql", "postgres")
"""The URL schemes of this store (both are libpq's)."""

_WHERE_PASSWORDS_GO = (
    "put the password in ~/.pgpass (mode 0600), a service file (?service=NAME) or "
    "PGPASSWORD instead: the URL is recorded with every run and must not hold a password."
)


def check_url(url: str) -> str:
    """Return ``url`` when it is a PostgreSQL URL without a password; refuse it otherwise.

    Parameters
    ----------
    url : str
        ``postgresql://[user@][host][:port][/db][?param=value&...]``.

    Returns
    -------
    str
        The URL, unchanged.

    Raises
    ------
    StoreError
        When the scheme is not ``postgresql`` or ``postgres``, the URL cannot
        be parsed, or it holds a password (the one-line message says the fix
        and never repeats the password).
    """
    scheme, sep, _ = url.partition("://")
    if not sep or scheme.lower() not in SCHEMES:
        raise StoreError(
            f"The store URL {_redacted(url)!r} is not a PostgreSQL URL; write "
            "postgresql://user@host:port/database (or postgres://...)."
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parses the port, raising on a bad one
    except ValueError as exc:
        raise StoreError(f"The store URL {_redacted(url)!r} cannot be read: {exc}.") from exc
    query = {k.lower() for k, _ in parse_qsl(parts.query, keep_blank_values=True)}
    if parts.password is not None or "password" in query:
        raise StoreError(
            f"The store URL {_redacted(url)!r} holds a password; remove it from the URL and "
            + _WHERE_PASSWORDS_GO
        )
    return url


def _redacted(url: str) -> str:
    """The URL with any password replaced by ``***`` (for messages about a refused URL)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unreadable URL>"
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostinfo = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:***@{hostinfo}"
    query = "&".join(
        f"{k}={'***' if k.lower() == 'password' else v}"
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    return parts._replace(netloc=netloc, query=query).geturl()


def server_name(url: str, environ: Mapping[str, str] | None = None) -> str:
    """Name the server and database a URL reaches, ``host:port/db``, for messages.

    What the URL leaves out is what libpq would use: ``PGHOST``, ``PGPORT``,
    ``PGDATABASE`` (else the user name), else libpq's defaults.  Never a password.
    """
    env = os.environ if environ is None else environ
    parts = urlsplit(url)
    params = {k.lower(): v for k, v in parse_qsl(parts.query)}
    host = parts.hostname or params.get("host") or env.get("PGHOST") or "localhost"
    try:
        port = str(parts.port or params.get("port") or env.get("PGPORT") or 5432)
    except ValueError:
        port = "?"
    user = unquote(parts.username or "") or params.get("user") or env.get("PGUSER") or ""
    database = unquote(parts.path.lstrip("/")) or params.get("dbname")
    database = database or env.get("PGDATABASE") or user or "?"
    service = params.get("service") or env.get("PGSERVICE")
    if service and not (parts.hostname or params.get("host")):
        return f"service {service}"  # where it points is in the service file
    return f"{host}:{port}/{database}"

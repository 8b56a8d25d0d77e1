"""Connecting to the server with bounded retries, and which failures are worth retrying.

psycopg is imported here, inside the functions: only when a store is opened.

A dispatcher job may start while the database server restarts or the network
flaps: connecting is retried with exponential backoff for a bounded time
(:func:`connect_timeout`), then fails with one line naming the server and the
cause.  A transaction that loses a serialization conflict or is chosen as a
deadlock victim is retried whole (:func:`is_retriable`).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from reflow.stores import StoreError
from reflow_store_postgres.urls import server_name

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "CONNECT_TIMEOUT_VARIABLE",
    "DEFAULT_CONNECT_TIMEOUT",
    "backoff",
    "connect",
    "connect_timeout",
    "is_retriable",
]

CONNECT_TIMEOUT_VARIABLE = "REFLOW_STORE_CONNECT_TIMEOUT"
"""Seconds to keep retrying to reach an unreachable server before giving up."""

DEFAULT_CONNECT_TIMEOUT = 60.0
"""Default of :data:`CONNECT_TIMEOUT_VARIABLE`: long enough for a server restart."""

_RETRIABLE_SQLSTATES = frozenset({"40001", "40P01"})
"""serialization_failure and deadlock_detected: the whole transaction may be run again."""

# Failures of connecting that waiting does not cure: retrying them would only delay the message.
_PERMANENT = (
    "password authentication failed",
    "no password supplied",
    "authentication failed",
    "does not exist",
    "permission denied",
    "no pg_hba.conf entry",
    "invalid connection option",
    "invalid sslmode",
    "invalid uri",
    "invalid integer value",
    "certificate",
)


def connect_timeout(environ: Mapping[str, str] | None = None) -> float:
    """Seconds to retry connecting: ``REFLOW_STORE_CONNECT_TIMEOUT``, else 60.

    Raises
    ------
    StoreError
        When the variable is set to something that is not a number of seconds >= 0.
    """
    raw = (os.environ if environ is None else environ).get(CONNECT_TIMEOUT_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_CONNECT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise StoreError(
            f"{CONNECT_TIMEOUT_VARIABLE}={raw!r} is not a number of seconds; set it to, "
            f"for example, {int(DEFAULT_CONNECT_TIMEOUT)} (or 0 to try once)."
        )
    return value


def backoff(attempt: int, *, first: float = 0.05, cap: float = 2.0) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based): exponential, with jitter."""
    return float(min(cap, first * 2**attempt) * (0.5 + random.random()))  # noqa: S311


def _cause(exc: BaseException) -> str:
    """libpq's reason, without its preamble: 'Connection refused', 'timeout expired'..."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # libpq says 'connection to server at "h" (ip), port p failed: REASON', then a hint.
    for line in lines:
        if "failed:" in line:
            return line.rpartition("failed:")[2].strip().rstrip(".") or line
    return lines[0].rstrip(".") if lines else type(exc).__name__


def _permanent(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _PERMANENT)


def connect(url: str, *, timeout: float) -> psycopg.Connection[tuple[object, ...]]:
    """Open an autocommit connection to ``url``, retrying for up to ``timeout`` seconds.

    Parameters
    ----------
    url : str
        A libpq URL without a password (see :func:`reflow_store_postgres.urls.check_url`).
    timeout : float
        Seconds to keep retrying a server that cannot be reached; ``0`` tries once.

    Raises
    ------
    StoreError
        One line naming the server (``host:port/db``) and the last cause.
    """
    import psycopg

    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        remaining = deadline - time.monotonic()
        try:
            # libpq's connect_timeout bounds one attempt (unless the URL sets its own).
            extra: dict[str, Any] = (
                {}
                if "connect_timeout" in url
                else {"connect_timeout": max(2, min(10, int(remaining) or 2))}
            )
            return psycopg.connect(url, autocommit=True, application_name="reflow", **extra)
        except psycopg.OperationalError as exc:
            left = deadline - time.monotonic()
            if _permanent(exc) or left <= 0:
                tried = f" (tried for {timeout:g} s)" if attempt and timeout else ""
                raise StoreError(
                    f"Cannot connect to the PostgreSQL store at {server_name(url)}{tried}: "
                    f"{_cause(exc)}."
                ) from None
            # The last attempt comes at the deadline: the whole budget is used.
            time.sleep(min(backoff(attempt, first=0.25, cap=5.0), left))
            attempt += 1


def is_retriable(exc: BaseException) -> bool:
    """Whether ``exc`` ended a transaction that can simply be run again (40001, 40P01)."""
    return getattr(exc, "sqlstate", None) in _RETRIABLE_SQLSTATES

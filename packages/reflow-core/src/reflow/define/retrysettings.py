"""The ``[retries]`` section of the configuration file: a site's default policy and limits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reflow.define.resources import parse_memory, parse_walltime
from reflow.define.retrypolicy import DEFAULT_RETRY_ON, Retry
from reflow.errors import ConfigError

__all__ = ["retry_settings"]


def retry_settings(
    table: Mapping[str, Any], origin: str
) -> tuple[Retry | None, dict[str, int | None]]:
    """The default policy (``None`` without ``count``) and the limits, in bytes and seconds.

    Raises
    ------
    ConfigError
        One line naming the key and the fix.
    """
    limits: dict[str, int | None] = {"mem": None, "time": None}
    for key, parse, name in (
        ("max_mem", parse_memory, "mem"),
        ("max_time", parse_walltime, "time"),
    ):
        if key in table:
            try:
                limits[name] = parse(table[key])
            except ValueError as exc:
                raise ConfigError(f"[retries] {key} in the {origin}: {exc}.") from None
    if "count" not in table:
        return None, limits
    on = table.get("on", list(DEFAULT_RETRY_ON))
    if not isinstance(on, list) or not all(isinstance(r, str) for r in on):
        raise ConfigError(
            f"[retries] on in the {origin} must be a list of reasons such as "
            '["TIMEOUT", "OUT_OF_MEMORY"], got ' + repr(on) + "."
        )
    policy = Retry(table["count"], tuple(r.upper() for r in on), str(table.get("backoff", "0s")))
    try:
        policy.check(f"[retries] in the {origin}")
    except ValueError as exc:
        raise ConfigError(f"{exc}.") from None
    return policy, limits

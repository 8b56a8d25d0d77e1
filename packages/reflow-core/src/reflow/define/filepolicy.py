"""The cache input policies: how much of a file named by a value counts.

``cache_inputs=`` on a task and ``[cache] inputs`` in the configuration name
one of them; :mod:`reflow.cache.filestate` computes the file states each
policy sees.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_POLICY", "POLICIES", "check_policy"]

POLICIES = ("stat", "content", "path")
"""The accepted values of ``cache_inputs`` and of ``[cache] inputs``."""

DEFAULT_POLICY = "stat"
"""The policy used when neither the task nor the configuration names one."""


def check_policy(value: Any, name: str, where: str = "") -> str:
    """Return ``value`` if it is a policy name; raise naming the setting and the choices.

    ``name`` is the setting as the user wrote it (``cache_inputs``), ``where``
    an optional place such as `` in the configuration file /x.toml``.

    Raises
    ------
    ValueError
        If ``value`` is not one of :data:`POLICIES`; callers wrap it in the
        error type of their layer.
    """
    if isinstance(value, str) and value in POLICIES:
        return value
    choices = ", ".join(repr(p) for p in POLICIES)
    raise ValueError(f"{name}={value!r}{where} is not valid; use one of {choices}.")

"""Submit options as tasks and the configuration write them: their vocabulary and checks.

``@wf.job(submit_options=...)``, ``[executor.submit_options]`` and
``[dispatch.submit_options]`` share one scheduler-agnostic vocabulary
(:data:`SUBMIT_OPTION_KEYS`, with aliases), checked when a task is defined so a
typo fails on the login node.  ``export_env`` is one of them
(:mod:`reflow.executors.environment` says what each executor does with it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reflow.errors import ConfigError

__all__ = [
    "EXPORT_ENV",
    "SUBMIT_OPTION_ALIASES",
    "SUBMIT_OPTION_KEYS",
    "ExportEnv",
    "canonical_submit_options",
    "export_setting",
]

SUBMIT_OPTION_KEYS: frozenset[str] = frozenset(
    {
        "partition",
        "account",
        "qos",
        "reservation",
        "constraint",
        "gres",
        "exclusive",
        "mail_user",
        "mail_type",
        "export_env",
    }
)
"""The scheduler-agnostic submit option keys every executor understands."""

SUBMIT_OPTION_ALIASES: dict[str, str] = {"queue": "partition"}
"""Other spellings of scheduler-agnostic keys, mapped to the canonical key."""

EXPORT_ENV = "export_env"
"""The submit option's key."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class ExportEnv:
    """The submitting environment a job sees.

    Attributes
    ----------
    names : tuple[str, ...] or None
        ``None``: every variable; otherwise only these (``()``: none).
    """

    names: tuple[str, ...] | None = None

    @property
    def everything(self) -> bool:
        """Whether the job sees the whole submitting environment."""
        return self.names is None


def export_setting(value: Any, where: str = "submit options") -> ExportEnv:
    """Read an ``export_env`` value: ``true``, ``false`` or a list of variable names.

    Parameters
    ----------
    value : Any
        The value as written (``None`` means the default, ``true``).
    where : str
        Where it was written, for the error message.

    Raises
    ------
    ConfigError
        In one line, for any other value.

    Examples
    --------
    >>> export_setting(["OMP_NUM_THREADS", "MY_SETTING"]).names
    ('OMP_NUM_THREADS', 'MY_SETTING')
    >>> export_setting(False).names
    ()
    """
    if value is None or value is True:
        return ExportEnv()
    if value is False:
        return ExportEnv(())
    if isinstance(value, (list, tuple)) and all(
        isinstance(n, str) and _NAME.fullmatch(n) for n in value
    ):
        return ExportEnv(tuple(dict.fromkeys(value)))
    raise ConfigError(
        f"export_env={value!r} in {where} is not valid: give true (the whole submitting "
        "environment, the default), false (none) or a list of variable names such as "
        '["OMP_NUM_THREADS", "MY_SETTING"].'
    )


def canonical_submit_options(
    options: Mapping[str, Any], *, where: str = "submit options"
) -> dict[str, Any]:
    """Rewrite submit option keys to reflow's canonical spelling.

    Keys are lower-cased, ``-`` becomes ``_``, and aliases are replaced by
    their canonical key (``queue`` becomes ``partition``).  Keys outside the
    scheduler-agnostic vocabulary (:data:`SUBMIT_OPTION_KEYS`) are kept, in
    that normalised spelling, and passed to the scheduler as native options.
    Values are not changed.

    Parameters
    ----------
    options : Mapping[str, Any]
        Submit options as the user wrote them.
    where : str
        Where the options come from, for error messages (e.g.
        ``"[executor.submit_options] in /home/me/.config/reflow/config.toml"``).

    Returns
    -------
    dict[str, Any]
        A new dict with canonical keys.

    Raises
    ------
    ConfigError
        If a key is not a string, or two keys mean the same option (such as
        ``queue`` and ``partition``) with different values.

    Examples
    --------
    >>> canonical_submit_options({"Queue": "short", "mail-user": "me@example.org"})
    {'partition': 'short', 'mail_user': 'me@example.org'}
    """
    result: dict[str, Any] = {}
    written_as: dict[str, str] = {}
    for key, value in options.items():
        if not isinstance(key, str):
            raise ConfigError(
                f"Submit option key {key!r} in {where} is a {type(key).__name__}; "
                "submit option names must be strings."
            )
        name = key.strip().lower().replace("-", "_")
        name = SUBMIT_OPTION_ALIASES.get(name, name)
        if name in result and result[name] != value:
            raise ConfigError(
                f"Conflicting submit options in {where}: {written_as[name]!r}={result[name]!r} "
                f"and {key!r}={value!r} both set {name!r}. Keep only one of them."
            )
        result[name] = value
        written_as.setdefault(name, key)
    if EXPORT_ENV in result:  # checked here so a bad value fails at definition, in one line
        export_setting(result[EXPORT_ENV], where)
    return result

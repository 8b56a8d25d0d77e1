"""The site settings the LSF executor depends on: the memory unit and the array size limit.

``bsub -M`` and ``rusage[mem=...]`` count memory in the unit that
``LSF_UNIT_FOR_LIMITS`` in ``lsf.conf`` names, KB when it is not set
(lsf.conf(5), "LSF_UNIT_FOR_LIMITS").  ``MAX_JOB_ARRAY_SIZE`` in
``lsb.params`` (1000 unless set) caps the highest index of a job array
(lsb.params(5), "MAX_JOB_ARRAY_SIZE"); larger arrays are split.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

from reflow.executors import (
    ConfigError,
    parse_memory,
)

__all__ = [
    "DEFAULT_MAX_ARRAY_SIZE",
    "DEFAULT_UNIT",
    "UNITS",
    "lsf_conf_path",
    "memory_in_unit",
    "normalize_unit",
    "parse_lsf_conf",
    "site_unit",
]

DEFAULT_MAX_ARRAY_SIZE = 1000
"""LSF's ``MAX_JOB_ARRAY_SIZE`` when lsb.params does not set it: the highest array index."""

DEFAULT_UNIT = "KB"
"""LSF's memory unit when ``LSF_UNIT_FOR_LIMITS`` is not set."""

UNITS: dict[str, int] = {
    "KB": 2**10,
    "MB": 2**20,
    "GB": 2**30,
    "TB": 2**40,
    "PB": 2**50,
    "EB": 2**60,
}
"""The values ``LSF_UNIT_FOR_LIMITS`` takes, in bytes (LSF counts them in powers of 1024)."""


def normalize_unit(unit: str) -> str:
    """``"mb"``, ``"M"`` or ``"MB"`` as LSF's ``"MB"``.

    Raises
    ------
    ConfigError
        For anything that is not one of :data:`UNITS`.
    """
    text = unit.strip().upper()
    if len(text) == 1:
        text += "B"
    if text not in UNITS:
        raise ConfigError(
            f"{unit!r} is not an LSF memory unit; use one of {', '.join(UNITS)} "
            "(the value of LSF_UNIT_FOR_LIMITS in the cluster's lsf.conf)."
        )
    return text


def parse_lsf_conf(text: str) -> dict[str, str]:
    """``NAME=value`` lines of ``lsf.conf``, without quotes or comments.

    Examples
    --------
    >>> parse_lsf_conf('# site\\nLSF_UNIT_FOR_LIMITS=MB\\nLSF_SERVERDIR="/opt/lsf/etc"\\n')
    {'LSF_UNIT_FOR_LIMITS': 'MB', 'LSF_SERVERDIR': '/opt/lsf/etc'}
    """
    found: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.split("#", 1)[0].strip().strip("\"'")
        found[key.strip()] = value
    return found


def lsf_conf_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where LSF's commands read ``lsf.conf``: ``$LSF_ENVDIR/lsf.conf``, else ``/etc/lsf.conf``."""
    env = os.environ if environ is None else environ
    return Path(env.get("LSF_ENVDIR") or "/etc") / "lsf.conf"


def site_unit(environ: Mapping[str, str] | None = None) -> str:
    """``LSF_UNIT_FOR_LIMITS`` from lsf.conf; :data:`DEFAULT_UNIT` if unreadable or unset.

    An invalid value in lsf.conf raises :class:`~reflow.errors.ConfigError`.
    """
    try:
        text = lsf_conf_path(environ).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return DEFAULT_UNIT
    value = parse_lsf_conf(text).get("LSF_UNIT_FOR_LIMITS")
    return DEFAULT_UNIT if not value else normalize_unit(value)


def memory_in_unit(value: str | int, unit: str) -> int:
    """A reflow memory size in whole ``unit`` s, rounded up (at least 1).

    Examples
    --------
    >>> memory_in_unit("4G", "KB"), memory_in_unit("4G", "MB"), memory_in_unit("1500M", "GB")
    (4194304, 4096, 2)
    """
    return max(1, math.ceil(parse_memory(value) / UNITS[normalize_unit(unit)]))

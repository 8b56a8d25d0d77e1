"""The two PBS families reflow speaks to: PBS Pro / OpenPBS and Torque.

Both take ``qsub``/``qstat``/``qdel`` and ``#PBS`` directives, but ask for
resources, arrays and array indices differently (see :mod:`reflow_executor_pbs.script`).
The flavour is given (``flavor=`` or ``REFLOW_PBS_FLAVOR``) or read once from
``qstat --version``: PBS Pro prints ``pbs_version = 22.05.11`` on stdout,
Torque ``Version: 6.1.3`` on stderr.
"""

from __future__ import annotations

import re
from enum import Enum

from reflow.executors import (
    ConfigError,
)

__all__ = ["FLAVOR_ENV", "Flavor", "detect_flavor", "parse_flavor"]

FLAVOR_ENV = "REFLOW_PBS_FLAVOR"
"""The environment variable naming the flavour when ``flavor=`` is not given."""


class Flavor(str, Enum):
    """A PBS family."""

    PBSPRO = "pbspro"
    TORQUE = "torque"

    def __str__(self) -> str:
        return self.value


_NAMES = {
    "pbspro": Flavor.PBSPRO,
    "pbs_pro": Flavor.PBSPRO,
    "pbs-pro": Flavor.PBSPRO,
    "openpbs": Flavor.PBSPRO,
    "pbs": Flavor.PBSPRO,
    "torque": Flavor.TORQUE,
}

_PBSPRO = re.compile(r"^\s*pbs_version\s*=\s*(?P<version>\S+)", re.MULTILINE)
_TORQUE = re.compile(r"^\s*Version:\s*(?P<version>\S+)", re.MULTILINE)


def parse_flavor(value: str | Flavor, where: str = "flavor") -> Flavor:
    """The :class:`Flavor` a user named (``pbspro``, ``openpbs``, ``torque``; any case).

    Raises
    ------
    ConfigError
        For any other name.
    """
    if isinstance(value, Flavor):
        return value
    found = _NAMES.get(str(value).strip().lower())
    if found is None:
        raise ConfigError(
            f"{where}={value!r} is not a PBS flavour; use 'pbspro' (PBS Pro, OpenPBS) or 'torque'."
        )
    return found


def detect_flavor(stdout: str, stderr: str) -> tuple[Flavor, str] | None:
    """The flavour and version ``qstat --version`` printed, or ``None`` if it names neither.

    Examples
    --------
    >>> detect_flavor("pbs_version = 22.05.11\\n", "")
    (<Flavor.PBSPRO: 'pbspro'>, '22.05.11')
    >>> detect_flavor("", "Version: 6.1.3\\nCommit: 0d3b7ad\\n")
    (<Flavor.TORQUE: 'torque'>, '6.1.3')
    >>> detect_flavor("", "Unknown option: version\\n") is None
    True
    """
    match = _PBSPRO.search(stdout)
    if match:
        return Flavor.PBSPRO, match["version"]
    match = _TORQUE.search(stderr) or _TORQUE.search(stdout)
    if match:
        return Flavor.TORQUE, match["version"]
    return None

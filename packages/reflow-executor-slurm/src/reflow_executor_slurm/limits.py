"""A partition's own maxima, from ``scontrol show partition -o``: what a retry may ask for.

reflow's retries ask for more memory or walltime (``reflow.define.retrypolicy``) but
never more than the partition allows: a request above ``MaxMemPerNode`` or ``MaxTime``
would be refused by ``sbatch`` or pend forever.  ``UNLIMITED`` (or a field the site does
not set) is no limit.  ``MaxMemPerCPU`` is not read: it limits memory per CPU, which
reflow's per-job request does not say.
"""

from __future__ import annotations

import contextlib

from reflow.executors import parse_walltime

__all__ = ["partition_limits"]


def _fields(line: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in line.split() if "=" in item)


def partition_limits(text: str, partition: str | None) -> dict[str, int | None]:
    """``{"mem": bytes, "time": seconds}`` of ``partition`` (``None``: the default one).

    Examples
    --------
    >>> out = "PartitionName=main Default=YES MaxTime=01:00:00 MaxMemPerNode=2048"
    >>> partition_limits(out, None)
    {'mem': 2147483648, 'time': 3600}
    """
    limits: dict[str, int | None] = {"mem": None, "time": None}
    for line in text.splitlines():
        fields = _fields(line)
        name = fields.get("PartitionName")
        if name is None or (name != partition if partition else fields.get("Default") != "YES"):
            continue
        mem = fields.get("MaxMemPerNode", "UNLIMITED")
        if mem.isdigit():
            limits["mem"] = int(mem) * 1024**2
        time = fields.get("MaxTime", "UNLIMITED")
        # A form this parser does not know gives no limit rather than a wrong one.
        if time not in ("UNLIMITED", "INFINITE", ""):
            with contextlib.suppress(ValueError):
                limits["time"] = parse_walltime(time)
        break
    return limits

"""``Resources``: the parameter through which a task receives what it asked for.

Write ``res: Resources`` (or ``res: Resources = Resources()``) in a task's
signature; reflow passes the task's ``cpus``, ``mem``, ``time``, ``gpus`` and
``gpu_type`` as given in ``@wf.job(...)``, in scheduler mode and in
``run_local`` alike, so a program can be told how many threads to start
(``bwa mem -t {cpus}``).  Such a parameter never appears on the command line
and does not count for the cache: the same inputs give the same result
whatever the resources.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reflow.define.resources import parse_memory, parse_walltime

__all__ = ["Resources", "is_resources"]


@dataclass(frozen=True)
class Resources:
    """The resources a task was given.

    Attributes
    ----------
    cpus : int
        CPUs (threads a program may start).
    mem : str
        Memory, as written in ``@wf.job(mem=...)``.
    time : str
        Walltime, as written in ``@wf.job(time=...)``.
    gpus : int
        GPUs.
    gpu_type : str or None
        GPU model, ``None`` for any.

    Examples
    --------
    >>> res = Resources(cpus=4, mem="2G")
    >>> res.cpus, res.mem_mb, res.seconds
    (4, 2048, 1800)
    """

    cpus: int = 1
    mem: str = "4G"
    time: str = "00:30:00"
    gpus: int = 0
    gpu_type: str | None = None

    @property
    def mem_bytes(self) -> int:
        """Memory in bytes."""
        return parse_memory(self.mem)

    @property
    def mem_mb(self) -> int:
        """Memory in whole MiB (``samtools sort -m``, ``java -Xmx``...)."""
        return self.mem_bytes // 2**20

    @property
    def seconds(self) -> int:
        """Walltime in seconds."""
        return parse_walltime(self.time)

    @classmethod
    def of(cls, config: Any, asked: Mapping[str, Any] | None = None) -> Resources:
        """The resources a task's :class:`~reflow.define.flow.JobConfig` asks for.

        ``asked`` (``cpus``, ``mem``, ``time``) is what its job really asked
        for, where that differs: a retry asks for more than the decorator says.
        """
        asked = asked or {}
        return cls(
            cpus=int(asked.get("cpus", config.cpus)),
            mem=str(asked.get("mem", config.mem)),
            time=str(asked.get("time", config.time)),
            gpus=config.gpus,
            gpu_type=config.gpu_type,
        )


def is_resources(annotation: Any) -> bool:
    """Whether a parameter's annotation (without ``Annotated``) asks for :class:`Resources`."""
    return annotation is not inspect.Parameter.empty and (
        annotation is Resources
        or (isinstance(annotation, type) and issubclass(annotation, Resources))
    )

"""GPU requests written in ``@wf.job(gpus=..., gpu_type=...)``: their checks.

A task asks for ``gpus=N`` GPUs, optionally of one model (``gpu_type="a100"``);
each executor renders that in its scheduler's own syntax (Slurm ``--gpus``,
PBS ``ngpus``, LSF ``-gpu``, Flux ``-g``, SGE a site's resource), or refuses
in one line what its scheduler cannot express.
"""

from __future__ import annotations

import re

__all__ = ["check_gpus"]

_GPU_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
"""A GPU model as schedulers name them (``a100``, ``v100-32gb``, ``h100_80``)."""


def check_gpus(gpus: object, gpu_type: object) -> None:
    """Check a task's GPU request.

    Parameters
    ----------
    gpus : object
        The number of GPUs: a whole number, at least 0.
    gpu_type : object
        ``None`` (any model) or a model name of letters, digits, ``.``, ``_``
        and ``-`` (the characters every scheduler's GPU syntax accepts).

    Raises
    ------
    ValueError
        In one line, naming the value and the fix.

    Examples
    --------
    >>> check_gpus(2, "a100")
    >>> check_gpus(0, "a100")
    Traceback (most recent call last):
    ...
    ValueError: gpu_type='a100' needs gpus= of at least 1
    """
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0:
        raise ValueError(f"gpus={gpus!r} is not valid; give a whole number of GPUs such as 1")
    if gpu_type is None:
        return
    if not isinstance(gpu_type, str) or not _GPU_TYPE.match(gpu_type):
        raise ValueError(
            f"gpu_type={gpu_type!r} is not valid; give a GPU model such as 'a100' "
            "(letters, digits, '.', '_' and '-')"
        )
    if gpus == 0:
        raise ValueError(f"gpu_type={gpu_type!r} needs gpus= of at least 1")

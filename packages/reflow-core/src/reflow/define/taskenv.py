"""Per-task environments: ``modules=``, ``prologue=`` and ``container=``, and their checks.

They are written in ``@wf.job(...)`` and checked when the task is defined, so
a typo fails on the login node.  Each value is written into a job script
verbatim (modules, prologue lines) or shell-quoted (the container image), so
the checks keep every value to what reflow can write safely; none of them is
ever built from a task's parameter values.

The prologue rule
-----------------
A prologue line is one complete shell command, written into the job's bash
script as it is: reflow refuses a line that is not a string, has a line break
or NUL character, has unbalanced quotes (as Python's :mod:`shlex` reads them),
ends with a backslash, or starts a here-document (``<<``).  Such a line could
only be written with quoting reflow cannot guarantee.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "TaskEnvironment",
    "check_container",
    "check_modules",
    "check_prologue",
    "task_environment",
]

_MODULE = re.compile(r"^[A-Za-z0-9_.+@%:=,][A-Za-z0-9_.+@%:=,/-]*$")
"""A module name as Lmod and Environment Modules spell them (``gcc/12``, ``py-numpy/1.26+mkl``)."""

_CONTAINER_SCHEMES = ("docker://", "docker-archive:", "oras://", "library://", "shub://")
"""Image sources Apptainer and Singularity pull from, besides a local path."""


@dataclass(frozen=True)
class TaskEnvironment:
    """What a job sets up before its worker starts.

    Attributes
    ----------
    modules : tuple[str, ...]
        Environment modules to ``module load``, in order.
    prologue : tuple[str, ...]
        Shell lines run after the modules are loaded.
    container : str or None
        The Apptainer/Singularity image the worker runs in.
    """

    modules: tuple[str, ...] = ()
    prologue: tuple[str, ...] = ()
    container: str | None = None

    def __bool__(self) -> bool:
        return bool(self.modules or self.prologue or self.container)


def _strings(name: str, value: object, example: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"{name}={value!r} is not valid; give a list such as {example}")
    if not all(isinstance(item, str) for item in value):
        raise ValueError(f"{name}={value!r} is not valid; every item must be a string")
    return tuple(value)


def check_modules(value: object) -> tuple[str, ...]:
    """The modules of ``modules=``, checked.

    Raises
    ------
    ValueError
        In one line, for anything but a list of module names.

    Examples
    --------
    >>> check_modules(["gcc/12", "cuda/12.2"])
    ('gcc/12', 'cuda/12.2')
    """
    modules = _strings("modules", value, '["gcc/12", "cuda/12.2"]')
    for module in modules:
        if not _MODULE.match(module):
            raise ValueError(
                f"modules: {module!r} is not a module name; write it as 'name' or "
                "'name/version' (letters, digits and _ . + @ % : = , / -)"
            )
    return modules


def check_prologue(value: object) -> tuple[str, ...]:
    """The lines of ``prologue=``, checked against the prologue rule (see the module).

    Raises
    ------
    ValueError
        In one line, naming the line and what to change.

    Examples
    --------
    >>> check_prologue(["export OMP_NUM_THREADS=4", "ulimit -s unlimited"])
    ('export OMP_NUM_THREADS=4', 'ulimit -s unlimited')
    """
    lines = _strings("prologue", value, '["export OMP_NUM_THREADS=4"]')
    for line in lines:
        problem = ""
        if not line.strip():
            problem = "it is empty"
        elif any(c in line for c in "\n\r\0"):
            problem = "it has a line break or NUL character; give one command per line"
        elif line.rstrip().endswith("\\"):
            problem = "it ends with a backslash; give the whole command on one line"
        elif "<<" in line:
            problem = "it starts a here-document (<<); write the text to a file instead"
        else:
            import shlex  # only for prologues: `from reflow import Workflow` stays cheap

            try:
                shlex.split(line, comments=True)
            except ValueError:
                problem = "its quotes are not balanced; close every ' and \""
        if problem:
            raise ValueError(
                f"prologue line {line!r} cannot be written into a job script: {problem}"
            )
    return lines


def check_container(value: object) -> str | None:
    """The image of ``container=``, checked: a ``docker://...`` style source or an absolute path.

    Raises
    ------
    ValueError
        In one line, for anything else.

    Examples
    --------
    >>> check_container("docker://ubuntu:22.04")
    'docker://ubuntu:22.04'
    """
    if value is None:
        return None
    fix = (
        "give an image source such as 'docker://python:3.12-slim' or the absolute path of "
        "an image file such as '/images/tools.sif'"
    )
    if not isinstance(value, str) or not value or any(c.isspace() or c == "\0" for c in value):
        raise ValueError(f"container={value!r} is not valid; {fix}")
    if not (value.startswith(_CONTAINER_SCHEMES) or value.startswith("/")):
        raise ValueError(
            f"container={value!r} is neither an image source nor an absolute path; {fix}"
        )
    return value


def task_environment(modules: object, prologue: object, container: object) -> TaskEnvironment:
    """A :class:`TaskEnvironment` from the values written in ``@wf.job``, checked.

    Raises
    ------
    ValueError
        In one line, for the first value that is not valid.
    """
    return TaskEnvironment(
        check_modules(modules), check_prologue(prologue), check_container(container)
    )

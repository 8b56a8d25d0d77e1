"""The shell lines that set up a job's environment: modules, prologue, container.

Every executor writes a task's :class:`~reflow.define.taskenv.TaskEnvironment`
the same way: batch executors put :func:`setup_lines` and :func:`exec_line`
into the job script (:meth:`reflow.executors.BatchExecutor.script_body`); the
local executor runs the same lines through ``bash -c``
(:func:`wrapped_command`).

* ``modules``: ``module load`` each one.  Batch shells are not login shells,
  so when ``module`` is not a function yet the lines source the first init
  script found (Lmod's or Environment Modules').  A module that does not load
  ends the job with the module command's own error on stderr, before the
  worker starts.
* ``prologue``: the lines as written, under ``set -e`` so a failing line ends
  the job.
* ``container``: the command runs in ``apptainer exec`` (or ``singularity
  exec`` where Apptainer is absent) with the run directory, the log
  directory and :attr:`~reflow.executors.JobSpec.binds` bound at the same
  paths, and ``--nv`` when the job asks for GPUs.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from reflow.define.taskenv import TaskEnvironment
from reflow.executors.jobs import JobSpec

__all__ = [
    "MODULE_INITS",
    "command_lines",
    "container_binds",
    "exec_line",
    "setup_lines",
    "wrapped_command",
]

MODULE_INITS: tuple[str, ...] = (
    "/etc/profile.d/lmod.sh",
    "/etc/profile.d/modules.sh",
    "${LMOD_PKG:+$LMOD_PKG/init/profile}",
    "${MODULESHOME:+$MODULESHOME/init/sh}",
    "/usr/share/lmod/lmod/init/profile",
    "/usr/share/Modules/init/sh",
    "/usr/share/modules/init/sh",
)
"""Where ``module`` is defined, tried in order (shell words, expanded in the job).

Each is read by POSIX sh as well as bash (LSF runs job scripts with ``/bin/sh``);
Lmod's and Environment Modules' ``profile.d`` scripts also set the site's
``MODULEPATH``.
"""


def setup_lines(environment: TaskEnvironment) -> list[str]:
    """The bash lines loading ``environment``'s modules and running its prologue.

    Examples
    --------
    >>> print("\\n".join(setup_lines(TaskEnvironment(prologue=("ulimit -s unlimited",)))))
    set -e  # reflow: a failing prologue line ends the job
    ulimit -s unlimited
    set +e
    """
    lines: list[str] = []
    if environment.modules:
        inits = " ".join(f'"{init}"' if init.startswith("$") else init for init in MODULE_INITS)
        lines += [
            "if ! type module >/dev/null 2>&1; then  # batch shells are not login shells",
            f"  for reflow_init in {inits}; do",
            '    if [ -n "$reflow_init" ] && [ -r "$reflow_init" ]; then',
            '      . "$reflow_init"',
            "      break",
            "    fi",
            "  done",
            "fi",
            "if ! type module >/dev/null 2>&1; then",
            "  echo 'reflow: the task needs environment modules, but this node has no module "
            "command (Lmod or Environment Modules)' >&2",
            "  exit 1",
            "fi",
        ]
        for module in environment.modules:
            name = shlex.quote(module)
            failed = shlex.quote(f"reflow: module load {module} failed")
            lines.append(f"module load {name} || {{ echo {failed} >&2; exit 1; }}")
    if environment.prologue:
        lines.append("set -e  # reflow: a failing prologue line ends the job")
        lines += environment.prologue
        lines.append("set +e")
    return lines


def container_binds(job: JobSpec, *more: Path) -> list[str]:
    """The directories bound into the job's container: run and log directories, ``job.binds``.

    A directory inside another one of them is left out: it is bound with it.

    Raises
    ------
    ValueError
        For a directory with ``:`` or ``,`` in its path, which ``--bind``
        cannot express.
    """
    given: list[Path] = [job.workdir, job.log_dir, *more, *(Path(b) for b in job.binds)]
    kept: list[Path] = []
    for path in given:
        # A directory inside one already bound is visible through it.
        if not any(path == b or b in path.parents for b in kept):
            kept.append(path)
    binds = [str(path) for path in kept]
    for text in binds:
        if any(c in text for c in ":,"):
            raise ValueError(
                f"the directory {text!r} cannot be bound into the container: Apptainer's --bind "
                "cannot express a path with ':' or ','; move it"
            )
    return binds


def exec_line(job: JobSpec, command: str, *more: Path) -> list[str]:
    """The lines that ``exec`` ``command`` (shell text), in the job's container if it has one.

    Raises
    ------
    ValueError
        When a bound directory cannot be written (:func:`container_binds`).
    """
    image = job.resources.environment.container
    if image is None:
        return [f"exec {command}"]
    words = ["exec"]
    for path in container_binds(job, *more):
        words += ["--bind", path]
    if job.resources.gpus:
        words.append("--nv")  # the host's NVIDIA driver and devices inside the container
    words.append(image)
    return [
        "reflow_runtime=$(command -v apptainer || command -v singularity) || {",
        "  echo 'reflow: the task runs in a container, but neither apptainer nor singularity "
        "is on the PATH of this node' >&2",
        "  exit 1",
        "}",
        f'exec "$reflow_runtime" {shlex.join(words)} {command}',
    ]


def command_lines(job: JobSpec, *, background: bool = False) -> list[str]:
    """The job script's lines that set up the job's environment and run its command.

    ``exec`` the command (in its container, if any) after the modules and
    prologue; with ``background`` the command is started with ``&`` instead,
    and the set-up runs with it in a subshell, so that a module that fails
    to load gives the subshell's exit status like a failing command (the PBS
    scripts wait for it and record that status).

    Raises
    ------
    ValueError
        When a bound directory cannot be written (:func:`container_binds`).
    """
    command = shlex.join(job.command)
    if not background:
        return [*setup_lines(job.resources.environment), *exec_line(job, command)]
    if not job.resources.environment:
        return [f"{command} &"]
    inner = [*setup_lines(job.resources.environment), *exec_line(job, command)]
    return ["(", *(f"  {line}" for line in inner), ") &"]


def wrapped_command(job: JobSpec) -> tuple[str, ...]:
    """``job.command``, run through ``bash -c`` when the job sets up an environment.

    Without modules, prologue or container the command is returned as it is.

    Raises
    ------
    ValueError
        When a bound directory cannot be written (:func:`container_binds`).
    """
    environment = job.resources.environment
    if not environment:
        return tuple(job.command)
    script = "\n".join([*setup_lines(environment), *exec_line(job, '"$@"')])
    return ("bash", "-c", script, "reflow-job", *job.command)

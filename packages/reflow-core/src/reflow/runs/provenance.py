"""What exactly ran: the provenance recorded with a run when it is created.

:func:`collect_provenance` gathers, once per run, the facts a report needs to
answer "what exactly ran, and where": the command line as the user typed it,
the versions of reflow and of its plugins, Python, the script's path and
SHA-256, the git commit of the script's repository and whether its tree had
uncommitted changes, the user and host, and where each task's decorator is
(``file:line``, for ``reflow suggest``).  The executor, its options and the
store URL are already in the :class:`~reflow.runs.context.RunContext`.

It is kept in ``run.json`` (the context's ``provenance``), next to the
run's files; the stores do not hold it (a report of a run whose directory is
gone says so).
Nothing in it may be a secret: the store URL is recorded without password and
the command line is the one ``ps`` shows anyway.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reflow._version import __version__

if TYPE_CHECKING:
    from reflow.define.flow import TaskSpec

__all__ = ["collect_provenance", "command_line", "task_locations"]

_GIT_TIMEOUT = 5.0
"""Seconds a git query may take: a hung network filesystem must not hold up a run."""


def command_line(argv: Sequence[str]) -> str:
    """The command line as the user typed it, quoted for a shell.

    A script started with ``python script.py`` has the script as ``argv[0]``;
    a console script (``reflow``, or a script installed as a command) its full
    path, which is shortened to its name, as it was typed.
    """
    if not argv:
        return ""
    first = argv[0]
    if first.endswith(".py"):
        words = [Path(sys.executable).name, first, *argv[1:]]
    else:
        words = [Path(first).name or first, *argv[1:]]
    return shlex.join(words)


def _plugin_versions() -> dict[str, str]:
    """reflow-core and every reflow plugin package this process loaded, with its version.

    The plugins loaded are the ones the run uses (its store's, its executor's).
    Read from each package's ``__version__``: asking ``importlib.metadata``
    would cost a tenth of a second per run.
    """
    found = {"reflow-core": __version__}
    for name, module in list(sys.modules.items()):
        version = getattr(module, "__version__", None)
        if name.startswith("reflow_") and "." not in name and isinstance(version, str):
            found[name.replace("_", "-")] = version
    return dict(sorted(found.items()))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _git(directory: Path, *args: str) -> str | None:
    """Run one git query in ``directory``; ``None`` when git is missing or says no."""
    # Here: a run outside any repository needs neither (~5 ms of imports).
    import shutil
    import subprocess

    git = shutil.which("git")
    if git is None:
        return None
    try:
        done = subprocess.run(
            [git, "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
            check=False,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _in_repository(directory: Path) -> bool:
    """Whether git could find a repository from ``directory``: a ``.git`` in it or above.

    A few ``stat`` calls spare a script outside any repository (a scratch
    directory, a notebook's) the ~5-20 ms of starting git.  With ``GIT_DIR``
    set git is asked anyway: the repository may be anywhere.
    """
    if "GIT_DIR" in os.environ:
        return True
    return any((place / ".git").exists() for place in (directory, *directory.parents))


def _git_state(script: Path) -> dict[str, Any] | None:
    """The commit of the repository holding ``script``, and whether its tree was dirty.

    One ``git status`` gives both: its ``# branch.oid`` header is the commit
    and any other line a changed tracked file.  Untracked files do not count:
    a run directory inside the repository would otherwise make every run dirty.
    """
    if not _in_repository(script.parent):
        return None
    status = _git(script.parent, "status", "--porcelain=v2", "--branch", "--untracked-files=no")
    if status is None:
        return None
    lines = status.splitlines()
    commit = next((line.split()[2] for line in lines if line.startswith("# branch.oid ")), "")
    if not commit or commit == "(initial)":
        return None
    return {"commit": commit, "dirty": any(not line.startswith("#") for line in lines)}


def _python() -> str:
    """``CPython 3.11.7``, as ``platform`` says it, without importing it (~2 ms)."""
    name = sys.implementation.name
    pretty = {"cpython": "CPython", "pypy": "PyPy"}.get(name, name)
    return f"{pretty} {sys.version.split()[0]}"


def task_locations(tasks: Mapping[str, TaskSpec]) -> dict[str, str]:
    """Where each task is defined: ``file:line`` of its first decorator, where Python knows it."""
    where: dict[str, str] = {}
    resolved: dict[str, Path] = {}  # tasks share a few files: resolve each once
    for name, spec in tasks.items():
        # Since Python 3.8 a decorated function's first line is its first
        # decorator's: the line to edit.  Reading it from the code object costs
        # nothing, where inspect.getsourcelines would parse the file.
        func = spec.func
        if hasattr(func, "__wrapped__"):  # unwrap() costs ~10 us even with nothing to unwrap
            func = inspect.unwrap(func)
        code = getattr(func, "__code__", None)
        if code is None or code.co_filename.startswith("<"):
            continue
        path = resolved.get(code.co_filename)
        if path is None:
            path = resolved[code.co_filename] = Path(code.co_filename).resolve()
        where[name] = f"{path}:{code.co_firstlineno}"
    return where


def _script_of(tasks: Mapping[str, TaskSpec], script: Path | None) -> Path | None:
    if script is not None:
        return script
    for place in task_locations(tasks).values():
        return Path(place.rsplit(":", 1)[0])
    return None


def collect_provenance(
    tasks: Mapping[str, TaskSpec], script: Path | None, argv: Sequence[str], user: str
) -> dict[str, Any]:
    """Gather a run's provenance (see the module docstring), JSON-ready.

    Parameters
    ----------
    tasks : Mapping[str, TaskSpec]
        The workflow's tasks (their functions say where they are defined).
    script : Path or None
        The file that defines the workflow; ``None`` (defined in an
        interactive session) takes the file of the first task defined in one.
    argv : Sequence[str]
        The command line.
    user : str
        Who made the run.

    Returns
    -------
    dict[str, Any]
        ``command``, ``reflow``, ``packages``, ``python``, ``user``, ``host``,
        ``script`` (``path``, ``sha256``), ``git`` (``commit``, ``dirty``,
        or ``None`` outside a repository) and ``tasks``
        (name -> ``file:line``).
    """
    path = _script_of(tasks, script)
    script_info: dict[str, Any] | None = None
    git: dict[str, Any] | None = None
    if path is not None:
        try:
            script_info = {"path": str(path), "sha256": _sha256(path)}
        except OSError:
            script_info = {"path": str(path), "sha256": ""}
        git = _git_state(path)
    return {
        "command": command_line(argv),
        "reflow": __version__,
        "packages": _plugin_versions(),
        "python": _python(),
        "python_executable": sys.executable,
        "user": user,
        # socket.gethostname() without importing socket; not getfqdn: a DNS lookup
        # may hang on a compute node.
        "host": os.uname().nodename,
        "script": script_info,
        "git": git,
        "tasks": task_locations(tasks),
    }

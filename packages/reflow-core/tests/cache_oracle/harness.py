"""The cache oracle's harness: a user's project in a directory, its commands, and the check.

A :class:`Project` is what a user has on disk: a workflow script
``pipeline.py``, perhaps modules or packages of their own beside it, and
data files. Its commands run as the user runs them, each a subprocess with
the project as its working directory, a store of its own and a timeout.
:func:`trial` runs it cold, makes the user's edit, runs it through the cache
and with ``--force``. :meth:`Trial.check_edit` is the oracle: the cached value
must equal the forced one, which must be the value the edited code computes.
:meth:`Trial.check_hit` is its negative side: an edit that changes nothing a
task computes must leave the task a cache hit.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from reflow.stores.records import TaskInstanceRecord

__all__ = [
    "COMMANDS",
    "NOT_CHECKED",
    "RUN",
    "SUBMIT",
    "CacheMismatchError",
    "Command",
    "Edit",
    "Outcome",
    "Project",
    "Replace",
    "Rewrite",
    "Trial",
    "case_params",
    "pipeline",
    "replace",
    "trial",
]

TIMEOUT = 300.0
"""Seconds one command may take: generous, so a loaded 2-core machine is slow, not flaky."""

CALLS_MODULE = '''\
"""Written by the cache oracle: every task records that its code ran."""

import os


def ran(task):
    with open(os.environ["ORACLE_CALLS"], "a") as log:
        log.write(task + "\\n")
'''
"""A module of the user's own beside the script; the env var keeps its path out of the identity."""

HEADER = """\
import dataclasses
import enum
import functools
import operator
import os
import time
from pathlib import Path
from typing import Annotated, Optional

from reflow import Result, RunDir, Workflow

from oracle_calls import ran

wf = Workflow("oracle")
"""

FOOTER = """

if __name__ == "__main__":
    raise SystemExit(wf.cli())
"""

# "Run <id>" heads the status block; the end-of-run summary says "Run <id> <STATE> after <t>".
_RUN_ID = re.compile(r"^Run\s+(\S+)(?:\s+[A-Z]+ after \S+)?\s*$", re.MULTILINE)
_SUBMITTED = re.compile(r"^Submitted run (\S+) in ", re.MULTILINE)


def pipeline(body: str) -> str:
    """A workflow script: the common imports and ``wf``, then ``body``, then ``wf.cli()``.

    Parameters
    ----------
    body : str
        The tasks and helpers (dedented here).

    Returns
    -------
    str
        The script's text.
    """
    return HEADER + textwrap.dedent(body) + FOOTER


@dataclass(frozen=True)
class Command:
    """One of the workflow script's two ways to run a whole workflow.

    Attributes
    ----------
    name : str
        ``run`` or ``submit``; also the default run directory's name.
    argv : tuple of str
        The script's arguments that start it and wait for the end.
    """

    name: str
    argv: tuple[str, ...]

    def __str__(self) -> str:
        return self.name


RUN = Command("run", ("run",))
SUBMIT = Command("submit", ("submit", "--executor", "local", "--wait"))
COMMANDS = (RUN, SUBMIT)
"""Parametrize a case over these where it applies to both."""


NOT_CHECKED: Any = object()
"""The ``before`` of a case whose cold value is itself what the bug gets wrong."""


class CacheMismatchError(AssertionError):
    """The cache gave a value the code does not give, or re-ran what it should have reused.

    Only this error means the cache is wrong; a command that fails or a cold
    value that is not the expected one raise other errors, so that an
    ``xfail(raises=CacheMismatchError)`` case fails for real when its set-up breaks.
    """


@dataclass(frozen=True)
class Outcome:
    """One finished run of the project: every task's value, and the call log then.

    Attributes
    ----------
    run_id : str
        The run's id.
    values : mapping of str to Any
        Each task whose instances all succeeded -> its output (a list by index
        for an array task).
    problems : mapping of str to str
        Each other task -> the states and errors of its instances.
    calls : mapping of str to int
        Task -> how many times its code had run in the project when the run ended.
    output : str
        What the command printed, for error messages.
    """

    run_id: str
    values: Mapping[str, Any]
    problems: Mapping[str, str]
    calls: Mapping[str, int]
    output: str

    def value(self, task: str) -> Any:
        """The output of ``task``.

        Raises
        ------
        RuntimeError
            If the task did not succeed in this run: a broken set-up, not a stale cache.
        """
        if task in self.values:
            return self.values[task]
        problem = self.problems.get(task, "no instance in the run")
        raise RuntimeError(f"{task} has no value in run {self.run_id}: {problem}\n{self.output}")

    def runs(self, task: str) -> int:
        """How many times the code of ``task`` had run in the project by the end of this run."""
        return self.calls.get(task, 0)


class Project:
    """A user's project directory and the commands run in it.

    Parameters
    ----------
    root : Path
        An empty directory; the project's files are written into it.
    files : mapping of str to str
        Relative path -> text. ``pipeline.py`` is the workflow script.
    """

    def __init__(self, root: Path, files: Mapping[str, str]) -> None:
        self.root = root
        self.private = root / ".oracle"
        self.private.mkdir(parents=True)
        (self.private / "config.toml").write_text("")
        self.write("oracle_calls.py", CALLS_MODULE)
        for name, text in files.items():
            self.write(name, text)

    # -- files ------------------------------------------------------------------

    def path(self, name: str) -> Path:
        """The absolute path of a project file."""
        return self.root / name

    def write(self, name: str, text: str) -> None:
        """Write a project file (dedented), creating its directories."""
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))

    def read(self, name: str) -> str:
        """The text of a project file."""
        return self.path(name).read_text()

    def replace(self, name: str, old: str, new: str) -> None:
        """Edit a file as a user does: ``old`` must be there exactly once, so no edit is lost.

        Raises
        ------
        AssertionError
            If ``old`` is not in the file exactly once.
        """
        text = self.read(name)
        count = text.count(old)
        assert count == 1, f"{name} holds {old!r} {count} times, not once"
        self.path(name).write_text(text.replace(old, new))

    def touch_later(self, name: str) -> None:
        """Move a file's modification time a few seconds on.

        A user's edit comes long after the run it follows; a test's comes within
        milliseconds, which a file system with coarse timestamps may not tell apart.
        """
        stat = self.path(name).stat()
        later = stat.st_mtime_ns + 5_000_000_000
        os.utime(self.path(name), ns=(later, later))

    # -- commands ---------------------------------------------------------------

    @property
    def store_path(self) -> Path:
        """The project's own manifest database."""
        return self.private / "manifest.db"

    @property
    def env(self) -> dict[str, str]:
        """The environment of every command: the project's own store, job state and call log."""
        # A developer's own settings (a store URL, an executor, a mode) must not
        # reach the project: only the REFLOW_* variables set here do.
        env = {k: v for k, v in os.environ.items() if not k.startswith("REFLOW_")}
        env.update(
            REFLOW_STORE_PATH=str(self.store_path),
            REFLOW_LOCAL_STATE=str(self.private / "jobs"),
            REFLOW_CONFIG=str(self.private / "config.toml"),
            ORACLE_CALLS=str(self.private / "calls.log"),
            ORACLE_DIR=str(self.private),
            # Python trusts a module's .pyc when the source's mtime (in whole
            # seconds) and size match: an edit within the second that keeps the
            # size would run the old bytecode, in the forced run too.
            PYTHONDONTWRITEBYTECODE="1",
        )
        return env

    def invoke(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``python pipeline.py ARGV`` in the project directory.

        Raises
        ------
        RuntimeError
            With ``check``, if the command exits non-zero.
        """
        done = subprocess.run(
            [sys.executable, "pipeline.py", *argv],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"pipeline.py {' '.join(argv)} exited {done.returncode}\n"
                f"--- stdout\n{done.stdout}--- stderr\n{done.stderr}"
            )
        return done

    def run(self, command: Command, *args: str, run_dir: str | None = None) -> Outcome:
        """Run the workflow to its end with ``command`` and read what it gave.

        Parameters
        ----------
        command : Command
            ``RUN`` or ``SUBMIT``.
        *args : str
            More arguments: ``--force``, workflow parameters.
        run_dir : str or None
            The run directory, relative to the project; by default one per command.

        Raises
        ------
        RuntimeError
            If the command started no run.
        """
        done = self.invoke(
            *command.argv, "--run-dir", run_dir or f"runs/{command}", *args, check=False
        )
        found = _RUN_ID.search(done.stdout)
        if found is None:
            raise RuntimeError(
                f"{command} started no run (exit {done.returncode}):\n{done.stdout}{done.stderr}"
            )
        return self.outcome(found.group(1), done.stdout + done.stderr)

    def submit(self, *args: str, run_dir: str = "runs/queued") -> str:
        """Submit the workflow with the local executor, without waiting; return the run's id.

        Raises
        ------
        RuntimeError
            If the command fails or names no run.
        """
        done = self.invoke("submit", "--executor", "local", "--run-dir", run_dir, *args)
        found = _SUBMITTED.search(done.stdout)
        if found is None:
            raise RuntimeError(f"submit named no run:\n{done.stdout}{done.stderr}")
        return found.group(1)

    def outcome(self, run_id: str, output: str = "") -> Outcome:
        """Read a run's values from the store, and the call log as it is now."""
        from reflow import TaskState
        from reflow.stores.sqlite import SqliteStore

        store = SqliteStore(self.store_path)
        try:
            records = store.list_task_instance_records(run_id)
        finally:
            store.close()
        by_task: dict[str, list[TaskInstanceRecord]] = {}
        for record in records:
            by_task.setdefault(record.task_name, []).append(record)
        values: dict[str, Any] = {}
        problems: dict[str, str] = {}
        for task, instances in by_task.items():
            if any(r.state is not TaskState.SUCCESS for r in instances):
                problems[task] = "; ".join(
                    f"[{r.array_index}] {r.state.value} {r.error_text or ''}" for r in instances
                )
            elif instances[0].array_index is None:
                values[task] = instances[0].output
            else:
                values[task] = [
                    r.output for r in sorted(instances, key=lambda r: r.array_index or 0)
                ]
        return Outcome(run_id, values, problems, Counter(self.calls()), output)

    def calls(self) -> list[str]:
        """The tasks whose code ran, in order, over all runs of the project so far."""
        log = self.private / "calls.log"
        return log.read_text().split() if log.exists() else []

    def wait_for(self, run_id: str, timeout: float = TIMEOUT) -> str:
        """Wait until a submitted run ends; return its state's name.

        Raises
        ------
        TimeoutError
            If the run has not ended after ``timeout`` seconds.
        """
        from reflow import RunState
        from reflow.stores.sqlite import SqliteStore

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            store = SqliteStore(self.store_path)
            try:
                record = store.get_run_record(run_id)
            finally:
                store.close()
            if record is not None and record.status in RunState.terminal():
                return record.status.value
            time.sleep(0.2)  # polling a state, not waiting for one to be likely
        raise TimeoutError(f"run {run_id} did not end within {timeout:.0f} s")

    def wait_for_file(self, name: str, timeout: float = TIMEOUT) -> None:
        """Wait until a task creates ``name`` under the project's private directory.

        Raises
        ------
        TimeoutError
            If the file does not appear within ``timeout`` seconds.
        """
        path = self.private / name
        deadline = time.monotonic() + timeout
        while not path.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} did not appear within {timeout:.0f} s")
            time.sleep(0.05)


Edit = Callable[[Project], None]
"""A user's edit: rewrites some of the project's files."""


@dataclass(frozen=True)
class Replace:
    """An edit of one file: each ``old`` text replaced by its ``new`` one, in order.

    Attributes
    ----------
    file : str
        The project file.
    changes : tuple of (str, str)
        ``(old, new)`` pairs; each ``old`` must be in the file exactly once.
    """

    file: str
    changes: tuple[tuple[str, str], ...]

    def __call__(self, project: Project) -> None:
        for old, new in self.changes:
            project.replace(self.file, old, new)

    def undo(self, project: Project) -> None:
        """Put the file back as it was before this edit."""
        for old, new in reversed(self.changes):
            project.replace(self.file, new, old)


@dataclass(frozen=True)
class Rewrite:
    """An edit of a data file: new text under the same name, some time after the run.

    Attributes
    ----------
    file : str
        The project file.
    text : str
        Its new text.
    """

    file: str
    text: str

    def __call__(self, project: Project) -> None:
        project.write(self.file, self.text)
        project.touch_later(self.file)


def replace(file: str, old: str, new: str, *more: tuple[str, str]) -> Replace:
    """An edit of ``file``: ``old`` -> ``new``, then each further ``(old, new)`` pair."""
    return Replace(file, ((old, new), *more))


class Marked(Protocol):
    """A case: its id, and the issue 13 branch expected to fix it if it fails today."""

    @property
    def id(self) -> str: ...

    @property
    def fixed_by(self) -> str | None: ...


def case_params(cases: Iterable[Marked], commands: Sequence[Command] = COMMANDS) -> list[Any]:
    """``pytest.param(case, command)`` for each case and command, marked where today's code fails.

    A case with ``fixed_by`` is a strict xfail that only an :class:`CacheMismatchError`
    satisfies: when the fix lands, it passes and the suite says to remove the mark.
    """
    import pytest

    params = []
    for case in cases:
        marks = []
        if case.fixed_by is not None:
            reason = f"issue 13: {case.fixed_by}"
            marks.append(pytest.mark.xfail(strict=True, raises=CacheMismatchError, reason=reason))
        for command in commands:
            params.append(pytest.param(case, command, marks=marks, id=f"{case.id}-{command}"))
    return params


@dataclass(frozen=True)
class Trial:
    """The oracle's three runs of one project around one edit.

    Attributes
    ----------
    cold : Outcome
        The first run, of the project as written.
    cached : Outcome
        After the edit, through the cache.
    forced : Outcome
        After the edit, with ``--force``.
    """

    cold: Outcome
    cached: Outcome
    forced: Outcome

    def check_edit(self, task: str, *, before: Any, after: Any) -> None:
        """The oracle: the cached run gives what the forced run gives, and that is ``after``.

        Parameters
        ----------
        task : str
            The task whose output is compared.
        before, after : Any
            What ``task`` gives before and after the edit, by the code's own
            logic; ``before`` may be :data:`NOT_CHECKED`.

        Raises
        ------
        CacheMismatchError
            If the forced run does not give ``after``, or the cached run does not
            give what the forced run gives.
        """
        cold = self.cold.value(task)
        if before is not NOT_CHECKED:
            assert cold == before, f"{task}: the cold run gave {cold!r}, not {before!r}"
        assert self.cold.runs(task) >= 1, f"{task} never logged a call: the call log is broken"
        forced = self.forced.value(task)
        if forced != after:
            raise CacheMismatchError(f"{task}: the forced run gave {forced!r}, not {after!r}")
        cached = self.cached.value(task)
        if cached != forced:
            raise CacheMismatchError(
                f"{task}: stale cache: the cached run gave {cached!r}, the forced run {forced!r}"
            )

    def check_hit(self, task: str, *, value: Any) -> None:
        """The negative side: after an edit that changes nothing ``task`` computes, it is reused.

        Raises
        ------
        CacheMismatchError
            If the cached run ran ``task`` again or gave another value.
        """
        cold = self.cold.value(task)
        assert cold == value, f"{task}: the cold run gave {cold!r}, not {value!r}"
        if self.cached.runs(task) != self.cold.runs(task):
            raise CacheMismatchError(
                f"{task} ran again after an edit that changes nothing it computes"
            )
        cached = self.cached.value(task)
        if cached != value:
            raise CacheMismatchError(f"{task}: the cached run gave {cached!r}, not {value!r}")
        # The forced run must show in the call log, or the first check proves nothing.
        assert self.forced.value(task) == value, f"{task}: the forced run gave another value"
        assert self.forced.runs(task) > self.cached.runs(task), f"{task}: a run was not logged"


def trial(
    project: Project,
    command: Command,
    edit: Edit,
    *,
    args: Sequence[str] = (),
    args_after: Sequence[str] | None = None,
    cached_args: Sequence[str] = (),
    cold_command: Command | None = None,
) -> Trial:
    """Run the project cold, apply ``edit``, run it through the cache and with ``--force``.

    Parameters
    ----------
    project : Project
        The project, as written.
    command : Command
        How the cached and forced runs are started.
    edit : Edit
        The user's edit between the cold and the cached run.
    args : sequence of str
        Workflow parameters of the cold run (and of the later ones, unless
        ``args_after``).
    args_after : sequence of str or None
        Workflow parameters of the cached and forced runs, for an edit of the
        command line.
    cached_args : sequence of str
        More arguments of the cached run only, e.g. ``--force-tasks``.
    cold_command : Command or None
        How the cold run is started, if not as ``command``.

    Returns
    -------
    Trial
        The three runs.
    """
    later = list(args if args_after is None else args_after)
    cold = project.run(cold_command or command, *args)
    edit(project)
    cached = project.run(command, *later, *cached_args)
    forced = project.run(command, *later, "--force")
    return Trial(cold, cached, forced)

"""The fakes' shared job table: one JSON file under the state directory, behind a lock.

Every fake command and the runner open the table with :meth:`StateStore.edit` (an
exclusive ``flock`` on ``state_dir/lock``), change it and let it be written back
atomically (temporary file and rename).  Nothing is cached between calls, so a
command that exits leaves nothing behind but the file.

Jobs and their elements are plain JSON-able dictionaries (:class:`Job`,
:class:`Element`); the flavour modules read them to answer queries in their
tool's own format, the runner changes their run state.  A job without an array
has one element whose ``index`` is ``None``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, TypedDict

__all__ = [
    "Dependency",
    "DependencyKind",
    "Element",
    "Job",
    "State",
    "StateStore",
    "dependency_status",
    "element_ok",
    "end_element",
    "new_element",
]

DependencyKind = Literal["afterok", "afterany", "afterranany", "afternotok", "afterstart"]
"""``afterok``: every target element ended with status 0; ``afterany``: every one
ended; ``afterranany``: every one ended and none was deleted before it ran;
``afternotok``: every one ended and at least one failed; ``afterstart``: at least
one started."""


class Dependency(TypedDict):
    """One condition a job waits for: ``kind`` on job ``job`` (element ``index`` or all)."""

    kind: DependencyKind
    job: int
    index: int | None


class Element(TypedDict):
    """One process of a job: the job itself, or one array element (``index``)."""

    index: int | None
    state: Literal["queued", "running", "ended"]
    pid: int | None
    start: float | None
    end: float | None
    returncode: int | None
    """As :attr:`subprocess.Popen.returncode`: negative for a signal."""
    reason: str | None
    """Why it ended other than by exiting: walltime, cancelled, dependency, launch."""
    cancel: bool
    term_sent: float | None
    stdout: str
    stderr: str
    env: dict[str, str]


class Job(TypedDict):
    """A submitted job: what to run, its limits and dependencies, its elements."""

    id: int
    flavour: str
    name: str
    queue: str
    user: str
    argv: list[str]
    cwd: str
    env: dict[str, str]
    submit_time: float
    walltime: float | None
    deps: list[Dependency]
    dep_policy: Literal["end", "pend"]
    """What a dependency that can never be met does: end the job, or leave it pending."""
    throttle: int | None
    timeout_signal: int
    cancel_signal: int
    kill_delay: float
    output_append: bool
    walltime_note: str | None
    """Appended to the element's stderr file after a walltime kill (``{used}``, ``{limit}``)."""
    elements: list[Element]
    extra: dict[str, Any]


class State(TypedDict):
    """The whole table."""

    flavour: str
    server: str
    next_id: int
    slots: int
    max_array_size: int
    history: bool
    queues: list[str]
    created: float
    runner_pid: int | None
    jobs: dict[str, Job]


def new_element(
    index: int | None, stdout: str, stderr: str, env: dict[str, str] | None = None
) -> Element:
    """A queued element that writes to ``stdout`` and ``stderr``."""
    return Element(
        index=index,
        state="queued",
        pid=None,
        start=None,
        end=None,
        returncode=None,
        reason=None,
        cancel=False,
        term_sent=None,
        stdout=stdout,
        stderr=stderr,
        env=dict(env or {}),
    )


def end_element(
    element: Element, now: float, reason: str | None, returncode: int | None = None
) -> None:
    """Mark ``element`` ended at ``now`` for ``reason`` (with ``returncode``, if it ran)."""
    element["state"] = "ended"
    element["end"] = now
    element["reason"] = reason
    element["returncode"] = returncode


def element_ok(element: Element) -> bool:
    """Whether ``element`` ended by exiting with status 0."""
    return element["state"] == "ended" and element["returncode"] == 0 and element["reason"] is None


def dependency_status(state: State, dep: Dependency) -> Literal["wait", "ok", "never"]:
    """Whether ``dep`` is met (``ok``), may still be met (``wait``) or never will."""
    job = state["jobs"].get(str(dep["job"]))
    if job is None:
        return "never"
    targets = [e for e in job["elements"] if dep["index"] is None or e["index"] == dep["index"]]
    if not targets:
        return "never"
    ended = all(e["state"] == "ended" for e in targets)
    kind = dep["kind"]
    if kind == "afterstart":
        if any(e["start"] is not None for e in targets):
            return "ok"
        return "never" if ended else "wait"
    if kind == "afterok" and any(e["state"] == "ended" and not element_ok(e) for e in targets):
        return "never"
    if kind == "afterranany" and any(
        e["state"] == "ended" and e["start"] is None for e in targets
    ):
        return "never"
    if not ended:
        return "wait"
    if kind == "afternotok":
        return "never" if all(element_ok(e) for e in targets) else "ok"
    return "ok"


class StateStore:
    """The job table of one fake scheduler, under ``root``.

    Parameters
    ----------
    root : Path
        The state directory (``REFLOW_FAKE_SCHEDULER_DIR``).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / "state.json"
        self._lock_path = root / "lock"

    def create(self, state: State) -> None:
        """Write a fresh table (the directory is created)."""
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "jobs").mkdir(exist_ok=True)
        with self._locked():
            self._write(state)

    def job_dir(self, job_id: int) -> Path:
        """A directory private to job ``job_id`` (its script, its undelivered output)."""
        path = self.root / "jobs" / str(job_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read(self) -> tuple[State, str]:
        text = self.path.read_text(encoding="utf-8")
        loaded: State = json.loads(text)
        return loaded, text

    def _write(self, state: State) -> None:
        text = json.dumps(state, sort_keys=True)
        tmp = self.path.with_name(f"state.json.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(self.path)

    @contextlib.contextmanager
    def edit(self) -> Iterator[State]:
        """Lock the table and yield it; what the block changes is written back."""
        with self._locked():
            state, before = self._read()
            yield state
            if json.dumps(state, sort_keys=True) != before:
                self._write(state)

    def read(self) -> State:
        """A snapshot of the table."""
        with self._locked():
            return self._read()[0]

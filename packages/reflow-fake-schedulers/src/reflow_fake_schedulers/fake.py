"""Start and stop one fake scheduler: its state directory, its commands, its runner."""

from __future__ import annotations

import contextlib
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Protocol

from reflow.errors import ReflowError
from reflow_fake_schedulers._common import STATE_DIR_VAR
from reflow_fake_schedulers.state import State, StateStore

__all__ = ["FLAVOURS", "FakeScheduler", "FakeSchedulerError"]

FLAVOURS: dict[str, tuple[str, ...]] = {
    "pbs": ("qsub", "qstat", "qdel"),
    "lsf": ("bsub", "bjobs", "bkill"),
    "flux": ("flux",),
}
"""The commands each flavour puts in :attr:`FakeScheduler.bin_dir`."""

_MAX_ARRAY = {"pbs": 10000, "lsf": 1000, "flux": 1000}
_QUEUES = {"pbs": ["workq"], "lsf": ["normal"], "flux": []}
_START_TIMEOUT = 30.0


class FakeSchedulerError(ReflowError):
    """A fake scheduler could not be started or used as asked."""


class _Patcher(Protocol):
    def setenv(self, name: str, value: str, prepend: str | None = None) -> None: ...


class FakeScheduler:
    """A running fake of one scheduler's commands, backed by a local job runner.

    Create one with :meth:`start`; see ``docs/fake-schedulers.md``.

    Attributes
    ----------
    flavour : str
        ``"pbs"``, ``"lsf"`` or ``"flux"``.
    state_dir : Path
        Where the job table, the job scripts and the runner's log live.
    bin_dir : Path
        The directory holding the fake commands (:data:`FLAVOURS`).
    env : dict[str, str]
        What the commands need: ``PATH`` with :attr:`bin_dir` first and
        ``REFLOW_FAKE_SCHEDULER_DIR``.  Subprocesses started with it (or with
        :meth:`apply`) reach the fake.
    """

    def __init__(self, flavour: str, state_dir: Path, process: subprocess.Popen[bytes]) -> None:
        self.flavour = flavour
        self.state_dir = state_dir
        self.bin_dir = state_dir / "bin"
        self.store = StateStore(state_dir)
        self._process = process
        path = os.environ.get("PATH", os.defpath)
        self.env: dict[str, str] = {
            "PATH": f"{self.bin_dir}{os.pathsep}{path}",
            STATE_DIR_VAR: str(state_dir),
        }

    @classmethod
    def start(
        cls,
        flavour: str,
        state_dir: Path,
        *,
        slots: int = 4,
        max_array_size: int | None = None,
        job_history: bool = True,
        queues: Sequence[str] | None = None,
    ) -> FakeScheduler:
        """Create the state under ``state_dir``, write the commands, start the runner.

        Parameters
        ----------
        flavour : str
            ``"pbs"`` (PBS Pro / OpenPBS), ``"lsf"`` (IBM Spectrum LSF) or ``"flux"``.
        state_dir : Path
            A directory of the fake's own; created, and must not hold another fake.
        slots : int
            How many job processes (array elements count one each) run at once;
            the rest wait in the queue.
        max_array_size : int, optional
            The largest array: PBS ``max_array_size`` (10000 by default), LSF
            ``MAX_JOB_ARRAY_SIZE`` (1000 by default, also the highest index).
        job_history : bool
            PBS only: whether finished jobs stay visible to ``qstat -x``
            (``job_history_enable``); without it they vanish when they end.
        queues : Sequence[str], optional
            The queues ``-q`` accepts (PBS ``workq``, LSF ``normal``; Flux none).
        """
        if flavour not in FLAVOURS:
            raise FakeSchedulerError(
                f"No fake scheduler flavour {flavour!r}: use one of {', '.join(FLAVOURS)}"
            )
        if slots < 1:
            raise FakeSchedulerError(f"slots must be at least 1, got {slots}")
        state_dir = Path(state_dir).absolute()
        store = StateStore(state_dir)
        if store.path.exists():
            raise FakeSchedulerError(
                f"{state_dir} already holds a fake scheduler; give each fake its own directory"
            )
        store.create(
            State(
                flavour=flavour,
                server=platform.node().split(".")[0] or "localhost",
                next_id=100,
                slots=slots,
                max_array_size=max_array_size or _MAX_ARRAY[flavour],
                history=job_history,
                queues=list(queues if queues is not None else _QUEUES[flavour]),
                created=time.time(),
                runner_pid=None,
                jobs={},
            )
        )
        _write_commands(flavour, state_dir)
        log = (state_dir / "runner.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "reflow_fake_schedulers.runner", str(state_dir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        fake = cls(flavour, state_dir, process)
        fake._wait_ready()
        return fake

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while self.store.read()["runner_pid"] is None:
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log = (self.state_dir / "runner.log").read_text(errors="replace")
                raise FakeSchedulerError(f"the fake scheduler's runner did not start:\n{log}")
            time.sleep(0.02)

    def apply(self, monkeypatch: _Patcher | None = None) -> None:
        """Put :attr:`env` into ``os.environ`` (through ``monkeypatch.setenv`` when given)."""
        for name, value in self.env.items():
            if monkeypatch is not None:
                monkeypatch.setenv(name, value)
            else:
                os.environ[name] = value

    def stop(self) -> None:
        """Kill every job still running and the runner; safe to call twice."""
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        with contextlib.suppress(OSError, ValueError):
            for job in self.store.read()["jobs"].values():
                for element in job["elements"]:
                    if element["state"] == "running" and element["pid"]:
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.killpg(element["pid"], signal.SIGKILL)

    def __enter__(self) -> FakeScheduler:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"FakeScheduler({self.flavour!r}, state_dir={str(self.state_dir)!r})"


def _write_commands(flavour: str, state_dir: Path) -> None:
    # Each command names its own state directory, as a real client finds its server in
    # its configuration (pbs.conf, lsf.conf): jobs can call the commands with no more
    # than the bin directory on PATH.
    bin_dir = state_dir / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    python = shlex.quote(sys.executable)
    where = shlex.quote(str(state_dir))
    for name in FLAVOURS[flavour]:
        module = f"reflow_fake_schedulers.{flavour}"
        text = (
            f"#!/bin/sh\n{STATE_DIR_VAR}={where}\nexport {STATE_DIR_VAR}\n"
            f'exec {python} -m {module} {name} "$@"\n'
        )
        path = bin_dir / name
        path.write_text(text)
        path.chmod(0o755)

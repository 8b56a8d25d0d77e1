"""The fakes' job runner: one background process that really runs the queued jobs.

Started by :meth:`reflow_fake_schedulers.FakeScheduler.start` as
``python -m reflow_fake_schedulers.runner STATE_DIR``.  Every tick it
locks the job table (:mod:`.state`) and

1. reaps the elements whose process ended and records their exit;
2. signals the elements a cancel asked to stop, and those past their walltime
   (the job's own signal first, SIGKILL ``kill_delay`` seconds later);
3. ends the elements whose dependencies can never be met (when the flavour
   does that) and starts queued elements whose dependencies are met, in
   submission order, within the array throttle and the free slots.

Each element runs in its own session (``start_new_session``), so a signal to
its process group reaches everything the job started.  On SIGTERM the runner
kills every job it started and exits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from reflow_fake_schedulers.state import (
    Element,
    Job,
    State,
    StateStore,
    dependency_status,
    end_element,
)

__all__ = ["Runner", "main"]

TICK = 0.05
"""Seconds between two passes over the table."""


def _killpg(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class Runner:
    """Runs the jobs of the table under ``root``.

    Parameters
    ----------
    root : Path
        The fake scheduler's state directory.
    """

    def __init__(self, root: Path) -> None:
        self.store = StateStore(root)
        self.procs: dict[tuple[int, int | None], subprocess.Popen[bytes]] = {}
        self.stopping = False

    def run(self) -> None:
        """Tick until SIGTERM, then kill every job still running."""
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        with self.store.edit() as state:
            state["runner_pid"] = os.getpid()
        while not self.stopping:
            self.tick()
            time.sleep(TICK)
        self.kill_all()

    def _on_term(self, signum: int, frame: object) -> None:
        self.stopping = True

    def kill_all(self) -> None:
        """SIGKILL every job process this runner started, and reap them."""
        for proc in self.procs.values():
            _killpg(proc.pid, signal.SIGKILL)
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    def tick(self) -> None:
        """One pass: reap, signal, start."""
        now = time.time()
        with self.store.edit() as state:
            running = 0
            for job in state["jobs"].values():
                for element in job["elements"]:
                    if element["state"] == "running":
                        self._watch(job, element, now)
                    if element["state"] == "running":
                        running += 1
            free = state["slots"] - running
            for job in sorted(state["jobs"].values(), key=lambda j: j["id"]):
                free = self._start_ready(state, job, now, free)

    def _watch(self, job: Job, element: Element, now: float) -> None:
        key = (job["id"], element["index"])
        proc = self.procs.get(key)
        if proc is None or proc.poll() is not None:
            self._finish(job, element, proc, now)
            return
        start = element["start"] or now
        if element["term_sent"] is None:
            if element["cancel"]:
                element["reason"] = "cancelled"
                element["term_sent"] = now
                _killpg(proc.pid, job["cancel_signal"])
            elif job["walltime"] is not None and now - start >= job["walltime"]:
                element["reason"] = "walltime"
                element["term_sent"] = now
                _killpg(proc.pid, job["timeout_signal"])
        elif now - element["term_sent"] >= job["kill_delay"]:
            _killpg(proc.pid, signal.SIGKILL)

    def _finish(
        self, job: Job, element: Element, proc: subprocess.Popen[bytes] | None, now: float
    ) -> None:
        self.procs.pop((job["id"], element["index"]), None)
        element["state"] = "ended"
        element["end"] = now
        element["returncode"] = proc.returncode if proc is not None else -signal.SIGKILL
        if proc is None and element["reason"] is None:
            element["reason"] = "lost"
        if element["reason"] == "walltime" and job["walltime_note"] and job["walltime"]:
            used = int(now - (element["start"] or now))
            note = job["walltime_note"].format(used=used, limit=int(job["walltime"]))
            with contextlib.suppress(OSError), Path(element["stderr"]).open("a") as handle:
                handle.write(note)

    def _start_ready(self, state: State, job: Job, now: float, free: int) -> int:
        queued = [e for e in job["elements"] if e["state"] == "queued"]
        if not queued:
            return free
        verdicts = {dependency_status(state, dep) for dep in job["deps"]}
        if "never" in verdicts:
            job["extra"]["dependency_never"] = True
            if job["dep_policy"] == "end":
                for element in queued:
                    end_element(element, now, "dependency")
            return free
        if "wait" in verdicts:
            return free
        throttle = job["throttle"]
        active = sum(1 for e in job["elements"] if e["state"] == "running")
        for element in queued:
            if free <= 0 or (throttle is not None and active >= throttle):
                break
            self._launch(job, element, now)
            free -= 1
            active += 1
        return free

    def _open(self, path: str, job: Job, element: Element) -> IO[bytes]:
        mode = "ab" if job["output_append"] else "wb"
        try:
            return Path(path).open(mode)
        except OSError:
            # The real tools keep output they cannot deliver; so does the fake.
            index = "" if element["index"] is None else f".{element['index']}"
            spare = self.store.job_dir(job["id"]) / f"undelivered{index}"
            return spare.open("ab")

    def _launch(self, job: Job, element: Element, now: float) -> None:
        element["state"] = "running"
        element["start"] = now
        out = self._open(element["stdout"], job, element)
        same = element["stderr"] == element["stdout"]
        err = out if same else self._open(element["stderr"], job, element)
        try:
            proc = subprocess.Popen(
                job["argv"],
                cwd=job["cwd"],
                env={**job["env"], **element["env"]},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        except OSError as exc:
            err.write(f"{job['argv'][0]}: cannot start the job: {exc}\n".encode())
            end_element(element, now, "launch", 127)
            return
        finally:
            out.close()
            if not same:
                err.close()
        element["pid"] = proc.pid
        self.procs[(job["id"], element["index"])] = proc


def main(argv: list[str] | None = None) -> int:
    """Run the runner of the state directory given as the only argument."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m reflow_fake_schedulers.runner STATE_DIR", file=sys.stderr)
        return 2
    Runner(Path(args[0])).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

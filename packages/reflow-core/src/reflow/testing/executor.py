"""Conformance suite for executors.

An executor package proves it honours the :class:`reflow.executors.Executor`
contract by subclassing :class:`ExecutorConformance` in its tests::

    from reflow.testing.executor import ExecutorConformance
    from my_executor import MyExecutor

    class TestMyExecutor(ExecutorConformance):
        __test__ = True
        timeout = 300.0            # optional: seconds a job may take to reach a state

        def make_executor(self, tmp_path):
            return MyExecutor()

        def workdir(self, tmp_path):   # optional: a directory the jobs can see
            return Path("/shared/scratch") / tmp_path.name

Every test runs real jobs through the executor: small ``python -c`` commands
that write files into :meth:`ExecutorConformance.workdir`, which the test then
reads.  The suite covers single jobs and their exit codes and logs, arrays
(``REFLOW_ARRAY_INDEX``, explicit index lists, parallelism), ``after_any`` and
``after_ok`` dependencies, cancelling running jobs, pending jobs and single
array elements, batched queries with unknown ids, walltime expiry and
``REFLOW_MODE=dry-run``.  Jobs a test leaves behind are cancelled when it ends.

Tests that check a job's process is gone look for it only when the job ran on
the test's own host.
"""

from __future__ import annotations

import abc
import contextlib
import os
import socket
import sys
import time
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import ClassVar

import pytest

from reflow.executors.base import Executor
from reflow.executors.jobs import (
    ArraySpec,
    JobResources,
    JobSpec,
    JobState,
    JobStatus,
    element_id,
)

__all__ = ["ENDED", "ExecutorConformance", "max_overlap", "process_gone", "wait_for"]

ENDED: frozenset[JobState] = JobState.ended()
"""The states of a job that will not run (again) on its own."""

_PRELUDE = """\
import os, pathlib, socket, sys, time
def put(name, text):
    path = pathlib.Path(name)
    tmp = path.with_name(path.name + '.tmp')
    tmp.write_text(str(text))
    os.replace(tmp, path)
INDEX = os.environ.get('REFLOW_ARRAY_INDEX')
WHO = socket.gethostname() + ' ' + str(os.getpid())
"""
"""Put before every job's code: ``put(name, text)`` writes a file atomically."""


def wait_for(
    executor: Executor,
    ids: Sequence[str],
    states: Collection[JobState],
    timeout: float,
    interval: float = 0.1,
) -> dict[str, JobStatus]:
    """Query ``ids`` until every one of them is in one of ``states``.

    Parameters
    ----------
    executor : Executor
        The executor to ask, with one :meth:`~Executor.query` per round.
    ids : Sequence[str]
        Job and element ids.
    states : Collection[JobState]
        Acceptable states, e.g. :data:`ENDED`.
    timeout : float
        Seconds to wait at most.
    interval : float
        Seconds between queries.

    Returns
    -------
    dict[str, JobStatus]
        The last query's answer (with element entries of array jobs too).

    Raises
    ------
    AssertionError
        If some id is not in ``states`` after ``timeout`` seconds; the message
        shows the last answer.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = executor.query(list(ids))
        missing = [i for i in ids if i not in found]
        assert not missing, f"query() gave no entry for {missing}: {found}"
        if all(found[i].state in states for i in ids):
            return found
        if time.monotonic() >= deadline:
            wanted = sorted(state.value for state in states)
            raise AssertionError(
                f"after {timeout:.0f} s, not every job of {list(ids)} is in {wanted}: {found}"
            )
        time.sleep(interval)


def max_overlap(spans: Sequence[tuple[float, float]]) -> int:
    """The largest number of ``(start, end)`` intervals that overlap at one instant."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    current = peak = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


def process_gone(pid: int) -> bool:
    """Whether process ``pid`` no longer runs on this host (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 :].split()[0] in (b"Z", b"X")


class ExecutorConformance(abc.ABC):
    """Tests every executor must pass.

    Subclass it in an executor package's tests, set ``__test__ = True`` and
    implement :meth:`make_executor`.

    Attributes
    ----------
    timeout : float
        Seconds a job may take to reach an expected state; raise it for
        schedulers that start jobs slowly.
    poll_interval : float
        Seconds between state queries while waiting.
    walltime : str
        Walltime of the job that must end TIMEOUT; the job would run far longer.
    unknown_job_id : str
        An id the scheduler does not know.
    dry_run_wait : float
        Seconds the dry-run test waits to make sure nothing started.
    """

    __test__ = False

    timeout: ClassVar[float] = 30.0
    poll_interval: ClassVar[float] = 0.1
    walltime: ClassVar[str] = "00:00:02"
    unknown_job_id: ClassVar[str] = "999999999"
    dry_run_wait: ClassVar[float] = 1.0

    @abc.abstractmethod
    def make_executor(self, tmp_path: Path) -> Executor:
        """Return the executor under test; keep any state it needs under ``tmp_path``."""

    def python(self) -> str:
        """The Python interpreter the jobs run (it must exist where the jobs run)."""
        return sys.executable

    def workdir(self, tmp_path: Path) -> Path:
        """The jobs' working directory, visible to the jobs and to the test."""
        return tmp_path / "work"

    # -- fixtures and helpers --------------------------------------------------------

    @pytest.fixture
    def executor(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Executor]:
        """The executor under test; jobs still running afterwards are cancelled."""
        monkeypatch.delenv("REFLOW_MODE", raising=False)
        made = self.make_executor(tmp_path)
        self._submitted: list[str] = []
        yield made
        if self._submitted:
            with contextlib.suppress(Exception):
                made.cancel(self._submitted)

    @pytest.fixture
    def work(self, tmp_path: Path) -> Path:
        """The jobs' working directory, created."""
        path = self.workdir(tmp_path)
        (path / "logs").mkdir(parents=True, exist_ok=True)
        return path

    def job(
        self,
        work: Path,
        name: str,
        code: str,
        *,
        array: ArraySpec | None = None,
        after_any: Sequence[str] = (),
        after_ok: Sequence[str] = (),
        time: str = "00:10:00",
    ) -> JobSpec:
        """A job running ``code`` (after :data:`_PRELUDE`) with this suite's python."""
        return JobSpec(
            name=name,
            command=(self.python(), "-c", _PRELUDE + code),
            workdir=work,
            log_dir=work / "logs",
            resources=JobResources(cpus=1, time=time, mem="1G"),
            array=array,
            after_any=tuple(after_any),
            after_ok=tuple(after_ok),
        )

    def submit(self, executor: Executor, job: JobSpec) -> str:
        """Submit ``job`` and remember it for cleanup."""
        job_id = executor.submit(job)
        assert isinstance(job_id, str)
        assert job_id
        self._submitted.append(job_id)
        return job_id

    def wait(
        self, executor: Executor, ids: Sequence[str], states: Collection[JobState] = ENDED
    ) -> dict[str, JobStatus]:
        """:func:`wait_for` with this suite's timeout and interval."""
        return wait_for(executor, ids, states, self.timeout, self.poll_interval)

    def wait_file(self, path: Path) -> str:
        """Wait until a job has written ``path``; return its text."""
        deadline = time.monotonic() + self.timeout
        while not path.exists():
            assert time.monotonic() < deadline, f"no job wrote {path} within {self.timeout} s"
            time.sleep(self.poll_interval)
        return path.read_text()

    def assert_process_gone(self, who: str) -> None:
        """Check that the process a job described as ``"<host> <pid>"`` has ended."""
        host, _, pid = who.partition(" ")
        if host != socket.gethostname():
            return
        deadline = time.monotonic() + self.timeout
        while not process_gone(int(pid)):
            assert time.monotonic() < deadline, f"process {pid} of a cancelled job still runs"
            time.sleep(self.poll_interval)

    # -- single jobs -----------------------------------------------------------------

    def test_single_job_completes_with_its_log(self, executor: Executor, work: Path) -> None:
        code = "print('hello from reflow', flush=True)\nput('cwd.txt', os.getcwd())\n"
        job_id = self.submit(executor, self.job(work, "conf-single", code))
        status = self.wait(executor, [job_id])[job_id]
        assert status.state is JobState.COMPLETED, status
        assert status.exit_code == 0, status
        assert Path(self.wait_file(work / "cwd.txt")).resolve() == work.resolve()
        log = work / "logs" / f"conf-single-{job_id}.out"
        deadline = time.monotonic() + self.timeout
        while "hello from reflow" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, f"the job's stdout never reached {log}"
            time.sleep(self.poll_interval)

    def test_failing_job_reports_its_exit_code(self, executor: Executor, work: Path) -> None:
        job_id = self.submit(executor, self.job(work, "conf-fail", "sys.exit(3)\n"))
        status = self.wait(executor, [job_id])[job_id]
        assert status.state is JobState.FAILED, status
        assert status.exit_code == 3, status

    # -- arrays ----------------------------------------------------------------------

    def _check_array(self, executor: Executor, work: Path, indices: tuple[int, ...]) -> None:
        code = "put(f'index-{INDEX}.txt', INDEX)\n"
        job = self.job(work, "conf-array", code, array=ArraySpec(indices))
        job_id = self.submit(executor, job)
        elements = [element_id(job_id, i) for i in indices]
        found = self.wait(executor, [job_id, *elements])
        assert found[job_id].state is JobState.COMPLETED, found
        for element in elements:
            assert found[element].state is JobState.COMPLETED, found
        found = executor.query([job_id])
        listed = {key for key in found if key != job_id}
        assert listed == set(elements), f"query([{job_id!r}]) listed {listed}, not {elements}"
        for index in range(max(indices) + 1):
            path = work / f"index-{index}.txt"
            if index in indices:
                assert path.read_text() == str(index)
            else:
                assert not path.exists(), f"element {index} ran but is not in {indices}"

    def test_array_elements_get_their_index(self, executor: Executor, work: Path) -> None:
        self._check_array(executor, work, (0, 1, 2, 3, 4))

    def test_array_with_explicit_indices(self, executor: Executor, work: Path) -> None:
        self._check_array(executor, work, (1, 3, 4))

    def test_array_parallelism_is_honoured(self, executor: Executor, work: Path) -> None:
        code = (
            "start = time.time()\n"
            "time.sleep(0.6)\n"
            "put(f'span-{INDEX}.txt', f'{start} {time.time()}')\n"
        )
        job = self.job(work, "conf-throttle", code, array=ArraySpec((0, 1, 2, 3, 4), 2))
        job_id = self.submit(executor, job)
        assert self.wait(executor, [job_id])[job_id].state is JobState.COMPLETED
        spans: list[tuple[float, float]] = []
        for index in range(5):
            start, end = (work / f"span-{index}.txt").read_text().split()
            spans.append((float(start), float(end)))
        assert max_overlap(spans) <= 2, f"more than 2 elements ran at once: {spans}"

    # -- dependencies ----------------------------------------------------------------

    def test_after_any_waits_for_a_failed_dependency(self, executor: Executor, work: Path) -> None:
        first = self.submit(
            executor,
            self.job(
                work, "conf-dep-a", "time.sleep(1)\nput('a-end.txt', time.time())\nsys.exit(1)"
            ),
        )
        second = self.submit(
            executor,
            self.job(work, "conf-dep-b", "put('b-start.txt', time.time())\n", after_any=[first]),
        )
        found = self.wait(executor, [first, second])
        assert found[first].state is JobState.FAILED, found
        assert found[second].state is JobState.COMPLETED, found
        assert float((work / "b-start.txt").read_text()) >= float((work / "a-end.txt").read_text())

    def test_after_ok_runs_after_success(self, executor: Executor, work: Path) -> None:
        first = self.submit(executor, self.job(work, "conf-ok-a", "put('a.txt', time.time())\n"))
        second = self.submit(
            executor, self.job(work, "conf-ok-b", "put('b.txt', time.time())\n", after_ok=[first])
        )
        found = self.wait(executor, [first, second])
        assert found[second].state is JobState.COMPLETED, found
        assert float((work / "b.txt").read_text()) >= float((work / "a.txt").read_text())

    def test_after_ok_never_runs_after_a_failure(self, executor: Executor, work: Path) -> None:
        first = self.submit(
            executor, self.job(work, "conf-nok-a", "time.sleep(0.3)\nsys.exit(1)\n")
        )
        second = self.submit(
            executor, self.job(work, "conf-nok-b", "put('b-ran.txt', 1)\n", after_ok=[first])
        )
        found = self.wait(executor, [first, second])
        assert found[first].state is JobState.FAILED, found
        assert found[second].state in ENDED - {JobState.COMPLETED}, found
        assert not (work / "b-ran.txt").exists(), "the after_ok job ran after a failure"

    # -- cancel ----------------------------------------------------------------------

    def test_cancel_running_job(self, executor: Executor, work: Path) -> None:
        code = "put('who.txt', WHO)\ntime.sleep(300)\n"
        job_id = self.submit(executor, self.job(work, "conf-cancel", code))
        who = self.wait_file(work / "who.txt")
        executor.cancel([job_id])
        status = self.wait(executor, [job_id])[job_id]
        assert status.state is JobState.CANCELLED, status
        self.assert_process_gone(who)

    def test_cancel_job_held_by_dependency(self, executor: Executor, work: Path) -> None:
        blocker = self.submit(
            executor, self.job(work, "conf-hold-a", "put('a.txt', WHO)\ntime.sleep(300)\n")
        )
        held = self.submit(
            executor, self.job(work, "conf-hold-b", "put('b-ran.txt', 1)\n", after_any=[blocker])
        )
        self.wait_file(work / "a.txt")
        assert executor.query([held])[held].state is JobState.PENDING
        executor.cancel([held])
        assert self.wait(executor, [held])[held].state is JobState.CANCELLED
        executor.cancel([blocker])
        assert self.wait(executor, [blocker])[blocker].state is JobState.CANCELLED
        time.sleep(0.5)
        assert not (work / "b-ran.txt").exists(), "a cancelled job ran once its dependency ended"

    def test_cancel_of_ended_or_unknown_job_is_ignored(
        self, executor: Executor, work: Path
    ) -> None:
        job_id = self.submit(executor, self.job(work, "conf-noop", "pass\n"))
        self.wait(executor, [job_id])
        executor.cancel([job_id, self.unknown_job_id])
        executor.cancel([])
        assert executor.query([job_id])[job_id].state is JobState.COMPLETED

    def test_elements_are_queried_and_cancelled_alone(
        self, executor: Executor, work: Path
    ) -> None:
        code = (
            "put(f'who-{INDEX}.txt', WHO)\n"
            "time.sleep(300 if INDEX == '1' else 0.5)\n"
            "put(f'done-{INDEX}.txt', 1)\n"
        )
        job_id = self.submit(
            executor, self.job(work, "conf-elem", code, array=ArraySpec((0, 1, 2)))
        )
        target = element_id(job_id, 1)
        who = self.wait_file(work / "who-1.txt")
        alone = self.wait(executor, [target], {JobState.RUNNING})
        assert alone[target].state is JobState.RUNNING, alone
        executor.cancel([target])
        assert self.wait(executor, [target])[target].state is JobState.CANCELLED
        others = [element_id(job_id, 0), element_id(job_id, 2)]
        found = self.wait(executor, others)
        assert all(found[e].state is JobState.COMPLETED for e in others), found
        assert (work / "done-0.txt").exists()
        assert (work / "done-2.txt").exists()
        assert not (work / "done-1.txt").exists()
        self.assert_process_gone(who)

    # -- query -----------------------------------------------------------------------

    def test_query_many_ids_at_once(self, executor: Executor, work: Path) -> None:
        ids = [
            self.submit(executor, self.job(work, f"conf-many-{n}", f"sys.exit({n % 2})\n"))
            for n in range(4)
        ]
        self.wait(executor, ids)
        found = executor.query([*ids, self.unknown_job_id])
        assert found[self.unknown_job_id].state is JobState.UNKNOWN
        assert [found[i].state for i in ids] == [
            JobState.COMPLETED,
            JobState.FAILED,
            JobState.COMPLETED,
            JobState.FAILED,
        ], found
        assert executor.query([]) == {}

    # -- walltime and dry runs -------------------------------------------------------

    def test_walltime_exceeded_is_timeout(self, executor: Executor, work: Path) -> None:
        job = self.job(
            work, "conf-walltime", "put('who.txt', WHO)\ntime.sleep(600)\n", time=self.walltime
        )
        job_id = self.submit(executor, job)
        status = self.wait(executor, [job_id])[job_id]
        assert status.state is JobState.TIMEOUT, status
        self.assert_process_gone(self.wait_file(work / "who.txt"))

    def test_dry_run_starts_nothing(
        self,
        executor: Executor,
        work: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("REFLOW_MODE", "dry-run")
        job_id = executor.submit(self.job(work, "conf-dry", "put('ran.txt', 1)\n"))
        assert job_id == "DRYRUN"
        assert "conf-dry" in capsys.readouterr().out
        time.sleep(self.dry_run_wait)
        assert not (work / "ran.txt").exists(), "a dry run started the job"
        assert list((work / "logs").iterdir()) == [], "a dry run wrote job logs"

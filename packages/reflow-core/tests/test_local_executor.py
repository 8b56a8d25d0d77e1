"""The local executor: the executor conformance suite, plus what only it promises."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

from reflow.errors import ConfigError, ReflowError
from reflow.executors import (
    ArraySpec,
    JobResources,
    JobSpec,
    JobState,
    element_id,
    load_executor,
)
from reflow.executors.local.executor import LocalExecutor
from reflow.executors.local.state import UnitStatus, load_job, read_json, summarize
from reflow.testing.executor import ENDED, ExecutorConformance, max_overlap, process_gone, wait_for

TIMEOUT = 30.0


class TestLocalExecutor(ExecutorConformance):
    __test__ = True
    dry_run_wait = 0.5

    def make_executor(self, tmp_path: Path) -> LocalExecutor:
        return LocalExecutor(state_dir=tmp_path / "state")


# -- helpers -----------------------------------------------------------------------------


def _job(tmp_path: Path, name: str, code: str, **kwargs: object) -> JobSpec:
    prelude = "import os, pathlib, subprocess, sys, time\n"
    return JobSpec(
        name=name,
        command=(sys.executable, "-c", prelude + textwrap.dedent(code)),
        workdir=tmp_path,
        log_dir=tmp_path / "logs",
        **kwargs,  # type: ignore[arg-type]
    )


def _wait_file(path: Path) -> str:
    deadline = time.monotonic() + TIMEOUT
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)
    return path.read_text()


@pytest.fixture
def executor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalExecutor:
    monkeypatch.delenv("REFLOW_MODE", raising=False)
    return LocalExecutor(state_dir=tmp_path / "state", slots=2)


# -- registration and configuration ----------------------------------------------------------


def test_registered_as_the_local_executor() -> None:
    assert load_executor("local") is LocalExecutor
    assert LocalExecutor.name == "local"


def test_settings_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFLOW_LOCAL_STATE", str(tmp_path / "from-env"))
    monkeypatch.setenv("REFLOW_LOCAL_SLOTS", "3")
    executor = LocalExecutor()
    assert executor.state_dir == tmp_path / "from-env"
    assert executor.slots == 3
    assert LocalExecutor(state_dir=tmp_path / "arg", slots=1).slots == 1


def test_default_state_dir_is_in_the_user_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REFLOW_LOCAL_STATE", raising=False)
    monkeypatch.delenv("REFLOW_LOCAL_SLOTS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    executor = LocalExecutor()
    if sys.platform.startswith("linux"):
        assert executor.state_dir == tmp_path / "cache" / "reflow" / "local-jobs"
    assert executor.slots >= 1


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_bad_slot_count_is_refused(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFLOW_LOCAL_SLOTS", value)
    with pytest.raises(ConfigError, match="REFLOW_LOCAL_SLOTS"):
        LocalExecutor()
    with pytest.raises(ConfigError, match="slots"):
        LocalExecutor(slots=0)


def test_submit_refuses_unknown_dependency_and_bad_walltime(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    with pytest.raises(ReflowError, match=r"'needs-dep'.*dependency '4242'"):
        executor.submit(_job(tmp_path, "needs-dep", "pass", after_ok=("4242",)))
    with pytest.raises(ReflowError, match=r"'bad-time'.*time="):
        executor.submit(_job(tmp_path, "bad-time", "pass", resources=JobResources(time="soon")))
    assert not (executor.state_dir / "jobs").exists() or not any(
        (executor.state_dir / "jobs").iterdir()
    )


# -- behaviour ---------------------------------------------------------------------------------


def test_later_process_queries_and_cancels_earlier_submissions(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    script = textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path
        from reflow.executors import ArraySpec, JobSpec
        from reflow.executors.local.executor import LocalExecutor

        tmp = Path({str(tmp_path)!r})
        ex = LocalExecutor(state_dir=tmp / "state")
        def job(name, code, **kw):
            return JobSpec(name, (sys.executable, "-c", code), tmp, tmp / "logs", **kw)
        quick = ex.submit(job("quick", "import os; print(os.environ['REFLOW_ARRAY_INDEX'])",
                              array=ArraySpec((0, 1, 2))))
        slow = ex.submit(job("slow", "import time; time.sleep(300)"))
        print(json.dumps([quick, slow]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=TIMEOUT, check=True
    )
    quick, slow = json.loads(done.stdout)
    found = wait_for(executor, [quick], ENDED, TIMEOUT)
    assert found[quick].state is JobState.COMPLETED
    assert [found[element_id(quick, i)].state for i in range(3)] == [JobState.COMPLETED] * 3
    assert (tmp_path / "logs" / f"quick-{quick}_2.out").read_text() == "2\n"
    wait_for(executor, [slow], {JobState.RUNNING}, TIMEOUT)
    executor.cancel([slow])
    assert executor.query([slow])[slow].state is JobState.CANCELLED


def test_slot_limit_is_machine_wide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REFLOW_MODE", raising=False)
    executor = LocalExecutor(state_dir=tmp_path / "state", slots=1)
    code = """
        start = time.time()
        time.sleep(0.4)
        pathlib.Path(sys.argv[1]).write_text(f"{start} {time.time()}")
    """
    ids = []
    for n in range(2):
        job = _job(tmp_path, f"slot-{n}", code)
        ids.append(executor.submit(replace(job, command=(*job.command, f"span-{n}"))))
    # A second executor on the same state directory shares the same slot.
    other = LocalExecutor(state_dir=tmp_path / "state", slots=1)
    job = _job(tmp_path, "slot-2", code)
    ids.append(other.submit(replace(job, command=(*job.command, "span-2"))))
    found = wait_for(executor, ids, ENDED, TIMEOUT)
    assert all(found[i].state is JobState.COMPLETED for i in ids), found
    spans = [tuple(map(float, (tmp_path / f"span-{n}").read_text().split())) for n in range(3)]
    assert max_overlap(spans) == 1, spans  # type: ignore[arg-type]


def test_job_wanting_more_cpus_than_slots_runs_alone(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    code = """
        start = time.time()
        time.sleep(0.4)
        pathlib.Path(f"span-{os.environ.get('REFLOW_ARRAY_INDEX', 'big')}").write_text(
            f"{start} {time.time()}"
        )
    """
    big = executor.submit(_job(tmp_path, "big", code, resources=JobResources(cpus=64)))
    small = executor.submit(_job(tmp_path, "small", code, array=ArraySpec((0, 1))))
    found = wait_for(executor, [big, small], ENDED, TIMEOUT)
    assert found[big].state is found[small].state is JobState.COMPLETED, found
    spans = {
        name: tuple(map(float, (tmp_path / f"span-{name}").read_text().split()))
        for name in ("big", "0", "1")
    }
    assert max_overlap([spans["big"], spans["0"]]) == 1, spans  # type: ignore[list-item]
    assert max_overlap([spans["big"], spans["1"]]) == 1, spans  # type: ignore[list-item]


def test_killed_supervisor_gives_a_definite_failure(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    job_id = executor.submit(
        _job(
            tmp_path, "orphan", "pathlib.Path('pid').write_text(str(os.getpid()))\ntime.sleep(99)"
        )
    )
    pid = int(_wait_file(tmp_path / "pid"))
    supervisor = read_json(executor.state_dir / "jobs" / job_id / "supervisor.json")
    os.kill(supervisor["pid"], signal.SIGKILL)
    status = wait_for(executor, [job_id], ENDED, TIMEOUT)[job_id]
    assert status.state is JobState.FAILED
    assert "local supervisor died" in status.reason
    deadline = time.monotonic() + TIMEOUT
    while not process_gone(pid):
        assert time.monotonic() < deadline, "the orphaned job process was not killed"
        time.sleep(0.05)
    # The answer is recorded: it no longer depends on the dead process.
    view = load_job(executor.state_dir, job_id, settle=False)
    assert view is not None
    assert view.statuses[None].state is JobState.FAILED


def test_no_process_of_a_cancelled_job_survives(executor: LocalExecutor, tmp_path: Path) -> None:
    code = """
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        index = os.environ["REFLOW_ARRAY_INDEX"]
        pathlib.Path(f"pids-{index}").write_text(f"{os.getpid()} {child.pid}")
        time.sleep(300)
    """
    job_id = executor.submit(_job(tmp_path, "family", code, array=ArraySpec((0, 1))))
    pids = [int(p) for i in (0, 1) for p in _wait_file(tmp_path / f"pids-{i}").split()]
    supervisor = read_json(executor.state_dir / "jobs" / job_id / "supervisor.json")["pid"]
    executor.cancel([job_id])
    found = executor.query([job_id])
    assert found[job_id].state is JobState.CANCELLED, found
    assert found[element_id(job_id, 1)].state is JobState.CANCELLED, found
    deadline = time.monotonic() + TIMEOUT
    while not all(process_gone(pid) for pid in [*pids, supervisor]):
        assert time.monotonic() < deadline, f"processes of a cancelled job survive: {pids}"
        time.sleep(0.05)


def test_walltime_escalates_to_sigkill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REFLOW_MODE", raising=False)
    executor = LocalExecutor(state_dir=tmp_path / "state", kill_grace=0.5)
    code = """
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        pathlib.Path('pid').write_text(str(os.getpid()))
        time.sleep(300)
    """
    job_id = executor.submit(_job(tmp_path, "stubborn", code, resources=JobResources(time="0:01")))
    status = wait_for(executor, [job_id], ENDED, TIMEOUT)[job_id]
    assert status.state is JobState.TIMEOUT
    assert status.exit_code == 128 + signal.SIGKILL
    assert "walltime 00:00:01 exceeded" in status.reason
    assert process_gone(int((tmp_path / "pid").read_text()))


def test_signal_deaths_and_missing_programs(executor: LocalExecutor, tmp_path: Path) -> None:
    killed = executor.submit(_job(tmp_path, "killed", "os.kill(os.getpid(), 9)"))
    missing = executor.submit(
        JobSpec("missing", ("/nonexistent/program",), tmp_path, tmp_path / "logs")
    )
    found = wait_for(executor, [killed, missing], ENDED, TIMEOUT)
    assert (found[killed].state, found[killed].exit_code) == (JobState.FAILED, 137)
    assert "SIGKILL" in found[killed].reason
    assert (found[missing].state, found[missing].exit_code) == (JobState.FAILED, 127)
    assert "could not start" in found[missing].reason


def test_environment_and_logs(executor: LocalExecutor, tmp_path: Path) -> None:
    code = """
        print(os.environ['EXTRA'], os.environ.get('REFLOW_ARRAY_INDEX', 'none'))
        print('to stderr', file=sys.stderr)
    """
    job = _job(tmp_path, "env", code, env={"EXTRA": "yes", "REFLOW_ARRAY_INDEX": "7"})
    job_id = executor.submit(job)
    assert wait_for(executor, [job_id], ENDED, TIMEOUT)[job_id].state is JobState.COMPLETED
    assert (tmp_path / "logs" / f"env-{job_id}.out").read_text() == "yes 7\n"
    assert (tmp_path / "logs" / f"env-{job_id}.err").read_text() == "to stderr\n"
    single = executor.submit(_job(tmp_path, "plain", code, env={"EXTRA": "no"}))
    wait_for(executor, [single], ENDED, TIMEOUT)
    assert (tmp_path / "logs" / f"plain-{single}.out").read_text() == "no none\n"


def test_a_dependency_whose_supervisor_died_ends_its_dependants(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    # A waiting supervisor takes "no final.json" for "still running" only while the
    # dependency's supervisor lives; only the dependant is waited on, so nothing else
    # settles the dead job for it.
    first = executor.submit(
        _job(
            tmp_path, "orphan", "pathlib.Path('pid').write_text(str(os.getpid()))\ntime.sleep(99)"
        )
    )
    after = executor.submit(_job(tmp_path, "after", "pass", after_ok=(first,)))
    _wait_file(tmp_path / "pid")
    supervisor = read_json(executor.state_dir / "jobs" / first / "supervisor.json")
    os.kill(supervisor["pid"], signal.SIGKILL)
    found = wait_for(executor, [after], ENDED, TIMEOUT)[after]
    assert found.state is JobState.CANCELLED
    assert f"dependency never satisfied: {first} ended FAILED" in found.reason


def test_dependency_on_one_element(executor: LocalExecutor, tmp_path: Path) -> None:
    code = "sys.exit(int(os.environ['REFLOW_ARRAY_INDEX']))"
    array = executor.submit(_job(tmp_path, "arr", code, array=ArraySpec((0, 1))))
    ok = executor.submit(_job(tmp_path, "ok", "pass", after_ok=(element_id(array, 0),)))
    never = executor.submit(_job(tmp_path, "never", "pass", after_ok=(element_id(array, 1),)))
    found = wait_for(executor, [array, ok, never], ENDED, TIMEOUT)
    assert found[array].state is JobState.FAILED
    assert found[ok].state is JobState.COMPLETED
    assert found[never].state is JobState.CANCELLED
    assert "dependency never satisfied" in found[never].reason


def test_array_summary() -> None:
    def st(state: JobState, code: int | None = None) -> UnitStatus:
        return UnitStatus(state, code)

    done, failed = st(JobState.COMPLETED, 0), st(JobState.FAILED, 3)
    assert summarize({0: done, 1: done}).state is JobState.COMPLETED
    assert summarize({0: st(JobState.PENDING), 1: st(JobState.PENDING)}).state is JobState.PENDING
    assert summarize({0: done, 1: st(JobState.PENDING)}).state is JobState.RUNNING
    assert summarize({0: failed, 1: st(JobState.RUNNING)}).state is JobState.RUNNING
    mixed = summarize({0: done, 1: failed, 2: st(JobState.CANCELLED, 143)})
    assert (mixed.state, mixed.exit_code) == (JobState.FAILED, 143)
    assert "[1]" in mixed.reason
    cancelled = summarize({0: done, 1: st(JobState.CANCELLED)})
    assert cancelled.state is JobState.CANCELLED


def test_cancel_right_after_submit(executor: LocalExecutor, tmp_path: Path) -> None:
    code = "time.sleep(300)"
    array = executor.submit(_job(tmp_path, "early", code, array=ArraySpec((0, 1))))
    executor.cancel([element_id(array, 0)])
    single = executor.submit(_job(tmp_path, "earlier", code))
    executor.cancel([single])
    found = executor.query([array, single])
    assert found[element_id(array, 0)].state is JobState.CANCELLED, found
    assert found[single].state is JobState.CANCELLED, found
    wait_for(executor, [element_id(array, 1)], {JobState.RUNNING}, TIMEOUT)
    executor.cancel([array])
    found = executor.query([array])
    assert found[array].state is JobState.CANCELLED, found
    assert found[element_id(array, 1)].state is JobState.CANCELLED, found
    log = (executor.state_dir / "jobs" / array / "supervisor.log").read_text()
    assert "Traceback" not in log


BROKEN = """
from dataclasses import replace

from reflow.executors import ArraySpec
from reflow.executors.local.executor import LocalExecutor
from reflow.testing.executor import ExecutorConformance


class IgnoresAfterOk(LocalExecutor):
    def _submit(self, job):
        return super()._submit(replace(job, after_ok=()))


class NoElementEntries(LocalExecutor):
    def query(self, job_ids):
        found = super().query(job_ids)
        return {key: status for key, status in found.items() if key in job_ids}


class NoThrottle(LocalExecutor):
    def _submit(self, job):
        if job.array is not None:
            job = replace(job, array=ArraySpec(job.array.indices))
        return super()._submit(job)


class Base(ExecutorConformance):
    executor_class = LocalExecutor

    def make_executor(self, tmp_path):
        return self.executor_class(state_dir=tmp_path / "state", slots=5)


class TestIgnoresAfterOk(Base):
    __test__ = True
    executor_class = IgnoresAfterOk


class TestNoElementEntries(Base):
    __test__ = True
    executor_class = NoElementEntries


class TestNoThrottle(Base):
    __test__ = True
    executor_class = NoThrottle
"""


def test_the_suite_catches_broken_executors(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_broken.py").write_text(BROKEN)
    selected = (
        "(IgnoresAfterOk and after_ok_never) or (NoElementEntries and array_elements) "
        "or (NoThrottle and parallelism)"
    )
    pytest_args = ["-p", "no:cacheprovider", "--import-mode=importlib", "-q", "-rf"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *pytest_args, "-k", selected, "test_broken.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    failed = {line.split()[1] for line in done.stdout.splitlines() if line.startswith("FAILED")}
    assert failed == {
        "test_broken.py::TestIgnoresAfterOk::test_after_ok_never_runs_after_a_failure",
        "test_broken.py::TestNoElementEntries::test_array_elements_get_their_index",
        "test_broken.py::TestNoThrottle::test_array_parallelism_is_honoured",
    }, done.stdout[-3000:]


def test_after_corr_is_refused_by_executors_without_it(tmp_path: Path) -> None:
    from reflow.errors import ReflowError
    from reflow.executors import ArraySpec, JobSpec
    from reflow.executors.local.executor import LocalExecutor

    executor = LocalExecutor(state_dir=tmp_path / "state")
    job = JobSpec(
        name="corr",
        command=("true",),
        workdir=tmp_path,
        log_dir=tmp_path / "logs",
        array=ArraySpec((0, 1)),
        after_corr=("1",),
    )
    with pytest.raises(ReflowError, match=r"cannot make job 'corr' wait element by element"):
        executor.submit(job)
    assert not (tmp_path / "state" / "jobs").exists() or not list(
        (tmp_path / "state" / "jobs").iterdir()
    )

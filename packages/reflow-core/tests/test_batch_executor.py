"""The batch-scheduler template: run_command, array chunks, and a toy scheduler built on it.

The toy scheduler (``toy.py sub|stat|del``, written into each test's directory)
really runs jobs in the background, so :class:`ToyExecutor`, a complete
:class:`~reflow.executors.batch.BatchExecutor` in a few lines, passes the same
conformance suite as the local executor.  Its site limit of 3 array tasks,
numbered from 1, makes every larger array split into chunks.
"""

from __future__ import annotations

import inspect
import json
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from reflow.define.resources import parse_walltime
from reflow.executors import ArraySpec, JobResources, JobSpec, JobState, JobStatus, element_id
from reflow.executors.arrays import (
    ArrayChunk,
    ArrayMap,
    ArrayRegistry,
    split_array,
    split_job_id,
    summarize,
)
from reflow.executors.batch import BatchExecutor, BatchExecutorError
from reflow.executors.commands import SchedulerCommandError, run_command
from reflow.testing.executor import ExecutorConformance, wait_for

DOC = Path(__file__).resolve().parents[3] / "docs" / "writing-an-executor.md"
TIMEOUT = 30.0

# -- the toy scheduler -----------------------------------------------------------------

TOY_SCHEDULER = r'''
"""toy STATE_DIR sub SCRIPT | stat ID... | del ID... : a tiny batch scheduler for tests."""
import json, os, signal, subprocess, sys, time
from pathlib import Path

ENDED = {"CD", "F", "CA", "TO"}


def put(path, data):
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def get(path, default=None):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def flaky(state):
    """Fail transiently while the file 'flaky' holds a positive count."""
    count = get(state / "flaky", 0)
    if count > 0:
        put(state / "flaky", count - 1)
        sys.exit("toy: error: Socket timed out on send/recv operation")


def tasks_of(spec):
    if "array" not in spec:
        return [0], 1
    span, _, throttle = spec["array"].partition("%")
    first, _, last = span.partition("-")
    tasks = list(range(int(first), int(last) + 1))
    return tasks, int(throttle) if throttle else len(tasks)


def state_of(job, task):
    return get(job / f"t{task}.json", {"state": "Q", "exit": None})


def sub(state, script):
    flaky(state)
    spec = {"script": script}
    for line in Path(script).read_text().splitlines():
        if line.startswith("#TOY "):
            key, _, value = line[5:].partition("=")
            spec[key.strip()] = value.strip()
    jobs = state / "jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    number = max([int(p.name) for p in jobs.iterdir()] + [99]) + 1
    while True:
        try:
            (jobs / str(number)).mkdir()
            break
        except FileExistsError:
            number += 1
    job = jobs / str(number)
    put(job / "spec.json", spec)
    subprocess.Popen(
        [sys.executable, __file__, str(state), "run", str(job)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=open(job / "supervisor.err", "w"), start_new_session=True,
    )
    print(f"Submitted toy job {number}")


def dep_verdict(state, ids):
    """'go' when every dependency ended, 'ok' flag when all of them completed."""
    ended, ok = True, True
    for ident in filter(None, ids.split(",")):
        number, _, task = ident.partition(".")
        job = state / "jobs" / number
        spec = get(job / "spec.json")
        if spec is None:
            ok = False
            continue
        tasks = [int(task)] if task else tasks_of(spec)[0]
        states = [state_of(job, t)["state"] for t in tasks]
        ended = ended and all(s in ENDED for s in states)
        ok = ok and all(s == "CD" for s in states)
    return ended, ok


def run(state, job):
    spec = get(job / "spec.json")
    tasks, parallel = tasks_of(spec)
    cancelled = lambda t: (job / "cancel").exists() or (job / f"cancel{t}").exists()
    while True:
        any_ended, _ = dep_verdict(state, spec.get("after_any", ""))
        ok_ended, ok = dep_verdict(state, spec.get("after_ok", ""))
        if all(cancelled(t) for t in tasks) or (ok_ended and not ok):
            for t in tasks:
                put(job / f"t{t}.json", {"state": "CA", "exit": None})
            return
        if any_ended and ok_ended:
            break
        time.sleep(0.05)
    todo, running = list(tasks), {}
    limit = int(spec.get("time", "3600"))
    while todo or running:
        for t in [t for t in todo if cancelled(t)]:
            todo.remove(t)
            put(job / f"t{t}.json", {"state": "CA", "exit": None})
        while todo and len(running) < parallel:
            t = todo.pop(0)
            env = dict(os.environ, TOY_JOB_ID=job.name)
            if "array" in spec:
                env["TOY_TASK_ID"] = str(t)
            name = lambda key: spec[key].replace("%j", job.name).replace("%t", str(t))
            with open(name("output"), "w") as out, open(name("error"), "w") as err:
                proc = subprocess.Popen(
                    ["/bin/bash", spec["script"]], stdout=out, stderr=err, env=env,
                    cwd=state, start_new_session=True,
                )
            running[t] = (proc, time.monotonic())
            put(job / f"t{t}.json", {"state": "R", "exit": None, "pid": proc.pid})
        for t, (proc, start) in list(running.items()):
            late = time.monotonic() - start > limit
            if proc.poll() is None and (late or cancelled(t)):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            if proc.poll() is None:
                continue
            del running[t]
            code = proc.returncode
            done = "TO" if late else "CA" if cancelled(t) else "CD" if code == 0 else "F"
            put(job / f"t{t}.json", {"state": done, "exit": code if code >= 0 else None})
        time.sleep(0.02)


def stat(state, ids):
    flaky(state)
    for ident in ids:
        job = state / "jobs" / ident
        spec = get(job / "spec.json")
        if spec is None:
            continue
        for t in tasks_of(spec)[0]:
            info = state_of(job, t)
            code = "-" if info["exit"] is None else info["exit"]
            print(f"{ident}.{t}" if "array" in spec else ident, info["state"], code)


def delete(state, ids):
    flaky(state)
    for ident in ids:
        number, _, task = ident.partition(".")
        job = state / "jobs" / number
        if job.is_dir():
            (job / f"cancel{task}").touch()


if __name__ == "__main__":
    state, verb, args = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    state.mkdir(parents=True, exist_ok=True)
    if verb == "sub":
        sub(state, args[0])
    elif verb == "stat":
        stat(state, args)
    elif verb == "del":
        delete(state, args)
    else:
        run(state, Path(args[0]))
'''


class ToyExecutor(BatchExecutor):
    """Runs reflow's jobs on the toy scheduler: ``toy sub``, ``toy stat``, ``toy del``."""

    name: ClassVar[str] = "toy"
    array_index_base: ClassVar[int] = 1  # toy numbers array tasks from 1
    task_id_variable: ClassVar[str] = "TOY_TASK_ID"
    state_map: ClassVar[dict[str, JobState]] = {
        "Q": JobState.PENDING,
        "R": JobState.RUNNING,
        "CD": JobState.COMPLETED,
        "F": JobState.FAILED,
        "CA": JobState.CANCELLED,
        "TO": JobState.TIMEOUT,
    }

    def __init__(self, toy: Sequence[str], state_dir: str | None = None, **options: Any) -> None:
        super().__init__(state_dir, **options)
        self.toy = list(toy)  # the toy scheduler's command, e.g. ["toy"]

    def recorded_options(self) -> dict[str, Any]:
        return {**super().recorded_options(), "toy": self.toy}

    def max_array_index(self) -> int | None:
        return 3  # the toy site's limit: larger arrays are split into chunks

    def native_element_id(self, job_id: str, task: int) -> str:
        return f"{job_id}.{task}"  # toy calls task 2 of job 100 "100.2"

    def render_script(self, job: JobSpec, chunk: ArrayChunk | None) -> str:
        after_any, after_ok = self.dependencies(job, chunk)
        logs = job.log_dir / (f"{job.name}-%j" + ("" if chunk is None else "_%t"))
        lines = [
            "#!/bin/bash",
            f"#TOY name={job.name}",
            f"#TOY time={parse_walltime(job.resources.time)}",
            f"#TOY output={logs}.out",
            f"#TOY error={logs}.err",
        ]
        if chunk is not None:
            throttle = "" if chunk.parallelism is None else f"%{chunk.parallelism}"
            lines.append(f"#TOY array={chunk.first}-{chunk.last}{throttle}")
        if after_any:
            lines.append(f"#TOY after_any={','.join(after_any)}")
        if after_ok:
            lines.append(f"#TOY after_ok={','.join(after_ok)}")
        return "\n".join(lines) + "\n" + self.script_body(job, chunk)

    def submit_argv(self, script_path: Path, job: JobSpec, chunk: ArrayChunk | None) -> list[str]:
        return [*self.toy, "sub", str(script_path)]

    def parse_job_id(self, stdout: str) -> str:
        return stdout.rsplit(maxsplit=1)[-1]  # "Submitted toy job 101"

    def query_argv(self, job_ids: Sequence[str]) -> list[list[str]]:
        return [[*self.toy, "stat", *job_ids]]

    def parse_states(self, outputs: Sequence[str], job_ids: Sequence[str]) -> dict[str, JobStatus]:
        found: dict[str, JobStatus] = {}
        for line in "\n".join(outputs).splitlines():
            ident, state, code = line.split()  # "101.2 CD 0"
            found[ident] = JobStatus(self.map_state(state), None if code == "-" else int(code))
        return found

    def cancel_argv(self, job_ids: Sequence[str]) -> list[str]:
        return [*self.toy, "del", *job_ids]


def make_toy(tmp_path: Path, **options: Any) -> ToyExecutor:
    program = tmp_path / "toy.py"
    program.write_text(TOY_SCHEDULER)
    toy = [sys.executable, str(program), str(tmp_path / "toy-state")]
    options.setdefault("backoff", 0.01)
    return ToyExecutor(toy, state_dir=str(tmp_path / "reflow-state"), **options)


class TestToyConformance(ExecutorConformance):
    __test__ = True
    dry_run_wait = 0.5

    def make_executor(self, tmp_path: Path) -> ToyExecutor:
        return make_toy(tmp_path)


# -- helpers ---------------------------------------------------------------------------


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ToyExecutor]:
    """A toy executor; every toy job still running afterwards is cancelled."""
    monkeypatch.delenv("REFLOW_MODE", raising=False)
    executor = make_toy(tmp_path)
    yield executor
    jobs = tmp_path / "toy-state" / "jobs"
    if jobs.is_dir():
        executor.cancel([p.name for p in jobs.iterdir()])


def _job(tmp_path: Path, name: str, code: str, **kwargs: Any) -> JobSpec:
    prelude = "import os, pathlib, sys, time\nINDEX = os.environ.get('REFLOW_ARRAY_INDEX')\n"
    return JobSpec(
        name=name,
        command=(sys.executable, "-c", prelude + textwrap.dedent(code)),
        workdir=tmp_path / "work",
        log_dir=tmp_path / "work" / "logs",
        resources=JobResources(time="00:05:00"),
        **kwargs,
    )


def _script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(f"#!{sys.executable}\nimport pathlib, sys, time\n{textwrap.dedent(body)}")
    path.chmod(0o755)
    return str(path)


EXPLICIT = (0, 2, 3, 5, 6, 8, 9)


# -- run_command -------------------------------------------------------------------------


def test_transient_failures_are_retried(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    program = _script(
        tmp_path,
        "flaky",
        f"""
        path = pathlib.Path({str(counter)!r})
        n = int(path.read_text()) if path.exists() else 0
        path.write_text(str(n + 1))
        if n < 2:
            sys.exit("sbatch: error: Socket timed out on send/recv operation")
        print("Submitted batch job 42")
        """,
    )
    result = run_command([program, "--flag"], retries=3, backoff=0.01)
    assert result.stdout.strip() == "Submitted batch job 42"
    assert counter.read_text() == "3"


def test_retries_are_bounded(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    program = _script(
        tmp_path,
        "down",
        f"""
        path = pathlib.Path({str(counter)!r})
        path.write_text(str(int(path.read_text()) + 1 if path.exists() else 1))
        sys.exit("error: unable to contact qmaster")
        """,
    )
    with pytest.raises(SchedulerCommandError, match="unable to contact qmaster") as caught:
        run_command([program], retries=2, backoff=0.01)
    assert counter.read_text() == "3"
    assert "after 3 attempts" in str(caught.value)


def test_a_permanent_failure_is_not_retried(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    program = _script(
        tmp_path,
        "reject",
        f"""
        path = pathlib.Path({str(counter)!r})
        path.write_text(str(int(path.read_text()) + 1 if path.exists() else 1))
        print("partial output")
        sys.exit("sbatch: error: Invalid account or account/partition combination specified")
        """,
    )
    with pytest.raises(SchedulerCommandError) as caught:
        run_command([program, "job.sh"], retries=3, backoff=0.01)
    error = caught.value
    assert counter.read_text() == "1"
    assert error.argv == (program, "job.sh")
    assert error.returncode == 1
    assert "partial output" in error.stdout
    assert "Invalid account" in error.stderr
    assert "Invalid account" in str(error) and "exit status 1" in str(error)
    assert program in str(error)


def test_the_transient_predicate_decides(tmp_path: Path) -> None:
    program = _script(tmp_path, "busy", "sys.exit('controller busy, come back')")
    with pytest.raises(SchedulerCommandError, match="after 2 attempts"):
        run_command([program], retries=1, backoff=0.01, transient=lambda r: "busy" in r.stderr)


def test_a_hanging_command_times_out(tmp_path: Path) -> None:
    program = _script(tmp_path, "hang", "time.sleep(30)")
    start = time.monotonic()
    with pytest.raises(
        SchedulerCommandError, match=r"did not finish within 0.3 s \(attempt 2 of 2"
    ):
        run_command([program], timeout=0.3, retries=1, backoff=0.01)
    with pytest.raises(SchedulerCommandError, match=r"attempt 1 of 3.*not retried"):
        run_command([program], timeout=0.3, retries=2, backoff=0.01, retry_timeouts=False)
    assert time.monotonic() - start < 5


def test_a_missing_program_is_named(tmp_path: Path) -> None:
    with pytest.raises(SchedulerCommandError, match=r"'no-such-sbatch' was not found.*PATH"):
        run_command(["no-such-sbatch", "job.sh"])


def test_input_reaches_the_command(tmp_path: Path) -> None:
    program = _script(tmp_path, "echo", "print(sys.stdin.read().upper())")
    assert run_command([program], input="#BSUB -J x\n").stdout.strip() == "#BSUB -J X"


# -- chunks and maps -----------------------------------------------------------------------


def test_split_array_rebases_each_chunk() -> None:
    chunks = split_array(ArraySpec(EXPLICIT, 2), base=1, max_index=3)
    assert [c.indices for c in chunks] == [(0, 2, 3), (5, 6, 8), (9,)]
    assert [(c.first, c.last, c.parallelism) for c in chunks] == [(1, 3, 2), (1, 3, 2), (1, 1, 2)]
    assert chunks[1].native_task(8) == 3 and chunks[1].reflow_index(3) == 8
    assert chunks[1].native_task(0) is None and chunks[1].reflow_index(4) is None
    assert [c.offset for c in chunks] == [None, None, 8]
    assert split_array(ArraySpec((0, 1, 2)), 0, None)[0].offset == 0
    with pytest.raises(ValueError, match="below the first"):
        split_array(ArraySpec((0,)), 1, 0)


def test_array_map_translates_both_ways(tmp_path: Path) -> None:
    chunks = split_array(ArraySpec(EXPLICIT), 1, 3)
    array = ArrayMap.build(list(zip(["7", "8", "9"], chunks, strict=True)))
    assert array.job_id == "7+8+9" and split_job_id(array.job_id) == ["7", "8", "9"]
    assert array.locate(5) == ("8", 1) and array.locate(9) == ("9", 1)
    assert array.locate(4) is None
    assert array.reflow_index("8", 1) == 5 and array.reflow_index("9", 2) is None
    assert [(i, c, t) for i, c, t in array.elements()][:4] == [
        (0, "7", 1),
        (2, "7", 2),
        (3, "7", 3),
        (5, "8", 1),
    ]
    registry = ArrayRegistry(tmp_path / "arrays")
    registry.save(array)
    again = ArrayRegistry(tmp_path / "arrays").load("7+8+9")
    assert again is not None and again.indices == list(EXPLICIT)
    assert again.locate(8) == ("8", 3)
    registry.forget("7+8+9")
    assert ArrayRegistry(tmp_path / "arrays").load("7+8+9") is None


def test_summary_of_elements() -> None:
    S = JobStatus
    ok, bad = S(JobState.COMPLETED, 0), S(JobState.FAILED, 2)
    assert summarize({0: ok, 1: ok}).state is JobState.COMPLETED
    failed = summarize({0: ok, 1: bad, 2: S(JobState.CANCELLED)})
    assert (failed.state, failed.exit_code) == (JobState.FAILED, 2)
    assert summarize({0: ok, 1: S(JobState.PENDING)}).state is JobState.RUNNING
    assert summarize({0: S(JobState.PENDING), 1: S(JobState.PENDING)}).state is JobState.PENDING
    assert summarize({0: ok, 1: S(JobState.UNKNOWN)}).state is JobState.UNKNOWN


# -- the template, on the toy scheduler ----------------------------------------------------


def test_chunked_array_runs_every_index_once(toy: ToyExecutor, tmp_path: Path) -> None:
    code = """
    tag = os.environ['TOY_JOB_ID'] + '.' + os.environ['TOY_TASK_ID']
    pathlib.Path(f'index-{INDEX}.txt').write_text(tag)
    """
    job_id = toy.submit(_job(tmp_path, "chunky", code, array=ArraySpec(EXPLICIT)))
    chunk_ids = split_job_id(job_id)
    assert len(chunk_ids) == 3
    found = wait_for(toy, [job_id], {JobState.COMPLETED}, TIMEOUT)
    assert set(found) == {job_id, *(element_id(job_id, i) for i in EXPLICIT)}
    work = tmp_path / "work"
    ran = sorted(int(p.stem.split("-")[1]) for p in work.glob("index-*.txt"))
    assert ran == list(EXPLICIT)
    for index in EXPLICIT:
        # The element ran as the native task the executor maps it to, and back.
        native = (work / f"index-{index}.txt").read_text()
        assert toy.native_ids(element_id(job_id, index)) == [native]
        array = toy.arrays.load(job_id)
        assert array is not None
        chunk, task = native.split(".")
        assert array.reflow_index(chunk, int(task)) == index
    assert toy.native_ids(element_id(job_id, 1)) is None
    assert toy.native_ids(job_id) == chunk_ids
    chunks = split_array(ArraySpec(EXPLICIT), 1, 3)
    logs = {p.name for p in (work / "logs").glob("*.out")}
    pairs = zip(chunk_ids, chunks, strict=True)
    assert logs == {f"chunky-{c}_{t}.out" for c, chunk in pairs for t in chunk.tasks}
    scripts = sorted((tmp_path / "work" / ".reflow-scripts").iterdir())
    assert len(scripts) == 3
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o700 for p in scripts)
    assert "reflow_indices=(\n  5 6 8\n)" in scripts[1].read_text()


def test_query_from_a_fresh_executor(toy: ToyExecutor, tmp_path: Path) -> None:
    job = _job(tmp_path, "fresh", "sys.exit(1 if INDEX == '8' else 0)", array=ArraySpec(EXPLICIT))
    job_id = toy.submit(job)
    wait_for(toy, [job_id], JobState.ended(), TIMEOUT)
    later = ToyExecutor(**toy.recorded_options())  # a later dispatcher, cold caches
    found = later.query([job_id, element_id(job_id, 8), element_id(job_id, 4), "123456"])
    assert found[job_id].state is JobState.FAILED
    assert found[element_id(job_id, 8)] == JobStatus(JobState.FAILED, 1)
    assert found[element_id(job_id, 9)] == JobStatus(JobState.COMPLETED, 0)
    assert found[element_id(job_id, 4)].state is JobState.UNKNOWN  # not an element
    assert found["123456"].state is JobState.UNKNOWN
    assert later.query([element_id(job_id, 5)]) == {
        element_id(job_id, 5): JobStatus(JobState.COMPLETED, 0)
    }


def test_cancel_the_joined_id_and_one_element(toy: ToyExecutor, tmp_path: Path) -> None:
    code = "pathlib.Path(f'up-{INDEX}.txt').write_text('1')\ntime.sleep(60)\n"
    first = toy.submit(_job(tmp_path, "cancel-all", code, array=ArraySpec(EXPLICIT)))
    work = tmp_path / "work"
    deadline = time.monotonic() + TIMEOUT
    while len(list(work.glob("up-*.txt"))) < len(EXPLICIT):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    toy.cancel([element_id(first, 6)])
    wait_for(toy, [element_id(first, 6)], {JobState.CANCELLED}, TIMEOUT)
    assert toy.query([element_id(first, 5)])[element_id(first, 5)].state is JobState.RUNNING
    toy.cancel([first])
    found = wait_for(toy, [first], {JobState.CANCELLED}, TIMEOUT)
    assert all(found[element_id(first, i)].state is JobState.CANCELLED for i in EXPLICIT)


def test_dependencies_use_native_ids(toy: ToyExecutor, tmp_path: Path) -> None:
    first = toy.submit(_job(tmp_path, "dep-a", "time.sleep(0.3)", array=ArraySpec(EXPLICIT, 1)))
    array = toy.arrays.load(first)
    assert array is not None
    chunk_ids = split_job_id(first)
    job = _job(tmp_path, "dep-b", "pass", after_any=(first,), after_ok=(element_id(first, 5),))
    script = toy.render_script(job, None)
    assert f"#TOY after_any={','.join(chunk_ids)}\n" in script
    assert f"#TOY after_ok={chunk_ids[1]}.1\n" in script
    # With a parallelism limit, each chunk waits for the one before it.
    spec = json.loads((tmp_path / "toy-state" / "jobs" / chunk_ids[1] / "spec.json").read_text())
    assert spec["after_any"] == chunk_ids[0]
    assert spec["array"] == "1-3%1"
    with pytest.raises(BatchExecutorError, match=r"dependency '1234\[0\]'"):
        toy.render_script(_job(tmp_path, "dep-c", "pass", after_ok=("1234[0]",)), None)


def test_transient_scheduler_errors_are_retried(toy: ToyExecutor, tmp_path: Path) -> None:
    state = tmp_path / "toy-state"
    state.mkdir(exist_ok=True)
    (state / "flaky").write_text("2")
    job_id = toy.submit(_job(tmp_path, "flaky", "pass"))
    assert (state / "flaky").read_text() == "0"
    (state / "flaky").write_text("2")
    assert wait_for(toy, [job_id], JobState.ended(), TIMEOUT)[job_id].state is JobState.COMPLETED
    impatient = make_toy(tmp_path, retries=1)
    (state / "flaky").write_text("5")
    with pytest.raises(SchedulerCommandError, match="Socket timed out"):
        impatient.query([job_id])


def test_a_failing_chunk_withdraws_the_others(tmp_path: Path) -> None:
    class Refusing(ToyExecutor):
        def submit_argv(
            self, script_path: Path, job: JobSpec, chunk: ArrayChunk | None
        ) -> list[str]:
            if chunk is not None and chunk.number == 1:
                return [sys.executable, "-c", "import sys; sys.exit('toy: error: queue full')"]
            return super().submit_argv(script_path, job, chunk)

    toy = make_toy(tmp_path)
    refusing = Refusing(**toy.recorded_options())
    job = _job(tmp_path, "refused", "time.sleep(60)", array=ArraySpec(EXPLICIT))
    with pytest.raises(SchedulerCommandError, match="queue full"):
        refusing.submit(job)
    jobs = tmp_path / "toy-state" / "jobs"
    (only,) = jobs.iterdir()  # the first chunk was submitted, then cancelled
    assert (only / "cancel").exists()
    deadline = time.monotonic() + TIMEOUT
    while any(json.loads((only / f"t{t}.json").read_text())["state"] != "CA" for t in (1, 2, 3)):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert not list(refusing.arrays.directory.glob("*.json"))


def test_unreadable_job_id_is_an_error(toy: ToyExecutor, tmp_path: Path) -> None:
    class Garbled(ToyExecutor):
        def parse_job_id(self, stdout: str) -> str:
            return "Submitted toy job"

    garbled = Garbled(**toy.recorded_options())
    with pytest.raises(BatchExecutorError, match="check the queue"):
        garbled.submit(_job(tmp_path, "garbled", "pass"))


def test_bad_jobs_are_refused_before_submitting(toy: ToyExecutor, tmp_path: Path) -> None:
    with pytest.raises(BatchExecutorError, match="walltime"):
        toy.submit(JobSpec("x", ("true",), tmp_path, tmp_path, JobResources(time="soon")))
    with pytest.raises(BatchExecutorError, match="environment variable"):
        toy.submit(JobSpec("x", ("true",), tmp_path, tmp_path, env={"A B": "1"}))
    with pytest.raises(BatchExecutorError, match="one-line"):
        toy.submit(JobSpec("x\n#TOY time=1", ("true",), tmp_path, tmp_path))
    assert not (tmp_path / "toy-state" / "jobs").exists()


def test_dry_run_prints_the_scripts(
    toy: ToyExecutor,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REFLOW_MODE", "dry-run")
    job = _job(tmp_path, "dry", "pass", array=ArraySpec(EXPLICIT, 2), env={"GREETING": "it's"})
    assert toy.submit(job) == "DRYRUN"
    out = capsys.readouterr().out
    assert "[toy dry-run] dry: 3 submission(s)" in out
    assert out.count("#!/bin/bash") == 3
    assert "#TOY array=1-3%2" in out and "#TOY array=1-1%2" in out
    assert "#TOY after_any=<id of chunk 0>" in out
    assert "reflow_indices=(\n  0 2 3\n)" in out
    assert "export GREETING='it'\"'\"'s'" in out
    assert not (tmp_path / "work").exists()
    assert not (tmp_path / "toy-state" / "jobs").exists()


def test_script_gives_the_index_for_each_task(toy: ToyExecutor, tmp_path: Path) -> None:
    job = _job(tmp_path, "direct", "print(INDEX)")
    (tmp_path / "work").mkdir()
    for chunk in split_array(ArraySpec((4, 5, 6, 10, 11)), 1, 3):
        script = tmp_path / f"chunk{chunk.number}.sh"
        script.write_text(toy.render_script(job, chunk))
        for task in chunk.tasks:
            run = subprocess.run(
                ["/bin/bash", str(script)],
                env={"TOY_TASK_ID": str(task), "PATH": "/usr/bin:/bin"},
                capture_output=True,
                text=True,
                check=True,
            )
            assert run.stdout.strip() == str(chunk.reflow_index(task))
        bad = subprocess.run(
            ["/bin/bash", str(script)],
            env={"TOY_TASK_ID": "9"},
            capture_output=True,
            text=True,
            check=False,
        )
        assert bad.returncode == 1 and "not one of this script's tasks" in bad.stderr
    single = toy.render_script(job, None)
    assert "unset REFLOW_ARRAY_INDEX" in single and "TOY_TASK_ID" not in single


# -- the documentation -------------------------------------------------------------------


def test_the_documented_example_is_this_toy_executor() -> None:
    assert inspect.getsource(ToyExecutor) in DOC.read_text()


class CarefulToy(ToyExecutor):
    """A toy whose submit command names its safe-to-repeat errors, as real plugins do."""

    transient_phrases: ClassVar[tuple[str, ...]] = ("scheduler is busy",)
    submit_program: ClassVar[str | None] = "toysub"
    safe_to_resubmit: ClassVar[tuple[str, ...]] = ("connection refused",)

    def submitted_anyway(self, result: subprocess.CompletedProcess[str]) -> bool:
        return "accepted job" in (result.stdout or "")


def test_the_template_retries_a_submission_only_when_no_job_can_exist(tmp_path: Path) -> None:
    toy = CarefulToy(["toy"], state_dir=str(tmp_path / "state"))

    def failed(argv: list[str], stderr: str, stdout: str = "") -> bool:
        return toy.transient(subprocess.CompletedProcess(argv, 1, stdout, stderr))

    # A query (not the submit command): the scheduler's own words are enough.
    assert failed(["/opt/toy/toystat", "1"], "the scheduler is busy")
    assert not failed(["/opt/toy/toystat", "1"], "no such option -x")
    # The submit command: retried only if the scheduler cannot have taken the job...
    assert failed(["/opt/toy/toysub", "job.sh"], "scheduler is busy: connection refused")
    assert not failed(["/opt/toy/toysub", "job.sh"], "the scheduler is busy")
    # ...and never when its output names a job anyway.
    assert not failed(
        ["/opt/toy/toysub", "job.sh"], "connection refused, scheduler is busy", "accepted job 7"
    )

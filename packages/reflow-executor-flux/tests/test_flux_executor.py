"""FluxExecutor's commands, against a stand-in ``flux`` that replays given answers.

The stand-in logs its arguments; ``flux submit`` prints one F58 id per
element of ``--cc`` (consecutive ids from 1000), other subcommands print
the next answer queued for them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from reflow.executors import (
    ArraySpec,
    BatchExecutorError,
    JobResources,
    JobSpec,
    JobState,
    SchedulerCommandError,
    element_id,
)
from reflow_executor_flux import FluxExecutor
from reflow_executor_flux.executor import plan_array
from reflow_executor_flux.jobid import f58_encode

DATA = Path(__file__).parent / "data"

STAND_IN = """\
import json, pathlib, sys
here = pathlib.Path(__file__).resolve().parent
sub = sys.argv[1]
with open(here / "calls.jsonl", "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
queue = here / (sub + ".json")
answers = json.loads(queue.read_text()) if queue.exists() else []
if answers:
    answer = answers.pop(0)
    queue.write_text(json.dumps(answers))
elif sub == "submit":
    count = 1
    for arg in sys.argv:
        if arg.startswith("--cc="):
            count = 0
            for part in arg[5:].split(","):
                a, _, b = part.partition("-")
                count += int(b or a) - int(a) + 1
    counter = here / "next-id"
    number = int(counter.read_text()) if counter.exists() else 1000
    counter.write_text(str(number + count))
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    lines = []
    for value in range(number, number + count):
        digits = ""
        while True:
            value, rest = divmod(value, 58)
            digits = alphabet[rest] + digits
            if value == 0:
                break
        lines.append("\\u0192" + digits)
    answer = {"stdout": "\\n".join(lines) + "\\n"}
else:
    answer = {}
sys.stdout.write(answer.get("stdout", ""))
sys.stderr.write(answer.get("stderr", ""))
sys.exit(answer.get("rc", 0))
"""


class Flux:
    """The stand-in command, its queued answers and its call log."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir()
        self.dir = directory
        self.path = directory / "flux"
        self.path.write_text(f"#!{sys.executable}\n{STAND_IN}")
        self.path.chmod(0o755)

    def answer(self, sub: str, stdout: str = "", stderr: str = "", rc: int = 0) -> None:
        queue = self.dir / f"{sub}.json"
        answers = json.loads(queue.read_text()) if queue.exists() else []
        answers.append({"stdout": stdout, "stderr": stderr, "rc": rc})
        queue.write_text(json.dumps(answers))

    def calls(self) -> list[list[str]]:
        log = self.dir / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture
def flux(tmp_path: Path) -> Flux:
    return Flux(tmp_path / "bin")


def make(flux: Flux, tmp_path: Path) -> FluxExecutor:
    return FluxExecutor(tmp_path / "state", flux=str(flux.path), backoff=0.0)


def job(tmp_path: Path, **kw: Any) -> JobSpec:
    base: dict[str, Any] = {
        "name": "wf.task",
        "command": ("python3", "-c", "print(1)"),
        "workdir": tmp_path / "work",
        "log_dir": tmp_path / "work" / "logs",
        "resources": JobResources(cpus=2, time="00:10:00", mem="2G"),
    }
    base.update(kw)
    return JobSpec(**base)


def deps(call: list[str]) -> list[str]:
    return [arg.split("=", 1)[1] for arg in call if arg.startswith("--dependency=")]


def cc(call: list[str]) -> str | None:
    return next((arg[5:] for arg in call if arg.startswith("--cc=")), None)


def test_plan_array_slices_by_parallelism() -> None:
    assert plan_array((0, 1, 2, 3, 4), 2) == [(0,), (1,), (2, 3), (4,)]
    assert plan_array((0, 1, 2, 3, 4), None) == [(0,), (1, 2, 3, 4)]
    assert plan_array((3,), 1) == [(3,)]
    assert plan_array((1, 3, 4), 1) == [(1,), (3,), (4,)]


def test_a_single_job_id_comes_back_in_decimal(flux: Flux, tmp_path: Path) -> None:
    job_id = make(flux, tmp_path).submit(job(tmp_path))
    assert job_id == "1000"  # flux submit printed ƒJx
    (call,) = flux.calls()
    assert call[0] == "submit"
    assert "--time-limit=10m" in call
    script = Path(call[-1]).read_text()
    assert 'export REFLOW_JOB_ID="${FLUX_JOB_ID:-}"' in script


@pytest.mark.parametrize("answer", ["flux_submit_one.txt", "flux_submit_cc_ascii.txt"])
def test_ids_are_read_in_f58_with_either_prefix(answer: str) -> None:
    ids = FluxExecutor.parse_job_ids((DATA / answer).read_text())
    assert ids[0] == "1234"
    assert ids[1:] == ([] if answer == "flux_submit_one.txt" else ["1888", "3363"])


def test_a_throttled_array_runs_in_slices_that_wait_for_each_other(
    flux: Flux, tmp_path: Path
) -> None:
    executor = make(flux, tmp_path)
    job_id = executor.submit(job(tmp_path, array=ArraySpec((0, 1, 2, 3, 4), 2), after_ok=("77",)))
    calls = flux.calls()
    assert [cc(c) for c in calls] == ["0", "1", "2-3", "4"]
    assert job_id == "1000"  # the first element names the array
    # Slice 0 (elements 0, 1 = ids 1000, 1001) runs at once; slice 1 waits for it, and so on.
    assert deps(calls[0]) == deps(calls[1]) == ["afterok:77"]
    assert deps(calls[2]) == ["afterany:1000", "afterany:1001", "afterok:77"]
    assert deps(calls[3]) == ["afterany:1002", "afterany:1003", "afterok:77"]
    # Every element after the first is told the array's id.
    assert 'REFLOW_JOB_ID="${FLUX_JOB_ID:-}"' in Path(calls[0][-1]).read_text()
    assert "export REFLOW_JOB_ID=1000\n" in Path(calls[2][-1]).read_text()
    # Elements are jobs of their own: element 3 is job 1003.
    assert executor.native_ids(element_id(job_id, 3)) == ["1003"]
    assert executor.native_ids(job_id) == ["1000", "1001", "1002", "1003", "1004"]


def test_without_a_limit_an_array_is_two_submissions(flux: Flux, tmp_path: Path) -> None:
    make(flux, tmp_path).submit(job(tmp_path, array=ArraySpec((1, 3, 4, 5))))
    calls = flux.calls()
    assert [cc(c) for c in calls] == ["1", "3-5"]
    assert deps(calls[1]) == []


def test_a_refused_slice_withdraws_what_was_submitted(flux: Flux, tmp_path: Path) -> None:
    flux.answer("submit", f58_encode(500) + "\n")
    flux.answer("submit", "", "flux-submit: ERROR: unknown queue 'x'\n", rc=1)
    with pytest.raises(SchedulerCommandError, match="unknown queue"):
        make(flux, tmp_path).submit(job(tmp_path, array=ArraySpec((0, 1, 2))))
    assert flux.calls()[-1] == ["cancel", "500"]


def test_copies_that_went_through_before_a_failing_one_are_withdrawn(
    flux: Flux, tmp_path: Path
) -> None:
    flux.answer("submit", f58_encode(500) + "\n")
    flux.answer("submit", f58_encode(501) + "\n", "cc=2: flux-submit: ERROR: too many jobs\n", 1)
    with pytest.raises(SchedulerCommandError, match="too many jobs"):
        make(flux, tmp_path).submit(job(tmp_path, array=ArraySpec((0, 1, 2))))
    assert flux.calls()[-1] == ["cancel", "500", "501"]


def test_a_wrong_number_of_ids_is_an_error(flux: Flux, tmp_path: Path) -> None:
    flux.answer("submit", f58_encode(500) + "\n")
    flux.answer("submit", f58_encode(501) + "\n")  # one id for two elements
    with pytest.raises(BatchExecutorError, match="printed 1 job ids for 2 elements"):
        make(flux, tmp_path).submit(job(tmp_path, array=ArraySpec((0, 1, 2))))
    assert flux.calls()[-1] == ["cancel", "500", "501"]


def test_query_asks_once_and_answers_any_encoding(flux: Flux, tmp_path: Path) -> None:
    executor = make(flux, tmp_path)
    array = executor.submit(job(tmp_path, array=ArraySpec((0, 1))))
    jobs = [
        {"id": 1000, "state": "INACTIVE", "result": "COMPLETED", "returncode": 0},
        {"id": 1001, "state": "INACTIVE", "result": "FAILED", "returncode": 2},
    ]
    flux.answer("jobs", json.dumps({"jobs": jobs}), "JobID 42 unknown\n", rc=1)
    asked = f58_encode(int(array))
    found = executor.query([asked, "42"])
    assert flux.calls()[-1] == ["jobs", "-a", "--json", "1000", "1001", "42"]
    assert found[asked].state is JobState.FAILED
    assert found[element_id(asked, 0)].state is JobState.COMPLETED
    assert found[element_id(asked, 1)].exit_code == 2
    assert found["42"].state is JobState.UNKNOWN


def test_cancel_takes_f58_ids_and_ignores_ended_jobs(flux: Flux, tmp_path: Path) -> None:
    flux.answer("cancel", "", (DATA / "fake_cancel_ended.stderr.txt").read_text(), rc=1)
    make(flux, tmp_path).cancel(["ƒNH"])
    assert flux.calls()[-1] == ["cancel", "1234"]
    flux.answer("cancel", "", "flux-cancel: ERROR: Permission denied\n", rc=1)
    with pytest.raises(SchedulerCommandError, match="Permission denied"):
        make(flux, tmp_path).cancel(["1234"])


def test_a_broker_that_cannot_be_reached_is_retried(flux: Flux, tmp_path: Path) -> None:
    flux.answer(
        "submit", "", "flux-submit: ERROR: Unable to connect to Flux: Connection refused\n", 1
    )
    assert make(flux, tmp_path).submit(job(tmp_path)) == "1000"
    assert [c[0] for c in flux.calls()] == ["submit", "submit"]


def test_dry_run_shows_every_submission(
    flux: Flux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REFLOW_MODE", "dry-run")
    executor = make(flux, tmp_path)
    assert executor.submit(job(tmp_path, array=ArraySpec((0, 1, 2), 1))) == "DRYRUN"
    out = capsys.readouterr().out
    assert sum(line.startswith("$ ") for line in out.splitlines()) == 3
    assert "'--dependency=afterany:<id of element 0>'" in out
    assert "FLUX_JOB_CC" in out
    assert flux.calls() == []


def test_recorded_options_rebuild_the_executor(flux: Flux, tmp_path: Path) -> None:
    executor = make(flux, tmp_path)
    assert FluxExecutor(**executor.recorded_options()).recorded_options() == (
        executor.recorded_options()
    )


def test_an_unknown_option_is_refused_before_flux_submit_runs(flux: Flux, tmp_path: Path) -> None:
    resources = JobResources(cpus=2, time="00:10:00", mem="2G", options={"memory": "4 G"})
    with pytest.raises(BatchExecutorError, match="submit option 'memory' is not a flux submit"):
        make(flux, tmp_path).submit(job(tmp_path, resources=resources))
    assert flux.calls() == []  # nothing submitted, so no job ran "--memory=4 G" as its command

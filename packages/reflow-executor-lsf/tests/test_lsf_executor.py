"""LSFExecutor's commands, against stand-in bsub/bjobs/bkill that replay given answers.

Each stand-in logs its arguments and standard input, then prints the next
answer queued for it (some of them the documented output in ``data/``);
``bsub`` otherwise answers ``Job <N> is submitted to queue <normal>.``.
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
from reflow_executor_lsf import LSFExecutor
from reflow_executor_lsf.states import BJOBS_FIELDS

DATA = Path(__file__).parent / "data"

STAND_IN = """\
import json, pathlib, sys
here = pathlib.Path(__file__).resolve().parent
name = pathlib.Path(sys.argv[0]).name
stdin = "" if sys.stdin.isatty() else sys.stdin.read()
with open(here / "calls.jsonl", "a") as log:
    log.write(json.dumps({"argv": [name, *sys.argv[1:]], "stdin": stdin}) + "\\n")
queue = here / (name + ".json")
answers = json.loads(queue.read_text()) if queue.exists() else []
if answers:
    answer = answers.pop(0)
    queue.write_text(json.dumps(answers))
elif name == "bsub":
    counter = here / "next-id"
    number = int(counter.read_text()) if counter.exists() else 100
    counter.write_text(str(number + 1))
    answer = {"stdout": f"Job <{number}> is submitted to queue <normal>.\\n"}
else:
    answer = {}
sys.stdout.write(answer.get("stdout", ""))
sys.stderr.write(answer.get("stderr", ""))
sys.exit(answer.get("rc", 0))
"""


class LSF:
    """The stand-in commands' directory, their queued answers and their call log."""

    def __init__(self, directory: Path) -> None:
        self.bin = directory
        directory.mkdir()
        for name in ("bsub", "bjobs", "bkill"):
            path = directory / name
            path.write_text(f"#!{sys.executable}\n{STAND_IN}")
            path.chmod(0o755)

    def answer(self, name: str, stdout: str = "", stderr: str = "", rc: int = 0) -> None:
        queue = self.bin / f"{name}.json"
        answers = json.loads(queue.read_text()) if queue.exists() else []
        answers.append({"stdout": stdout, "stderr": stderr, "rc": rc})
        queue.write_text(json.dumps(answers))

    def calls(self) -> list[dict[str, Any]]:
        log = self.bin / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture
def lsf(tmp_path: Path) -> LSF:
    return LSF(tmp_path / "bin")


def make(lsf: LSF, tmp_path: Path, **kw: Any) -> LSFExecutor:
    kw.setdefault("mem_unit", "MB")
    return LSFExecutor(tmp_path / "state", lsf_bin=str(lsf.bin), backoff=0.0, **kw)


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


def test_a_job_is_fed_to_bsub_on_stdin(lsf: LSF, tmp_path: Path) -> None:
    job_id = make(lsf, tmp_path).submit(job(tmp_path, env={"A": "1 2"}))
    assert job_id == "100"
    (call,) = lsf.calls()
    assert call["argv"] == ["bsub"]
    text = call["stdin"]
    assert text.startswith("#!/bin/sh\n#BSUB -J wf.task\n")
    assert "#BSUB -W 10\n" in text
    assert '#BSUB -R "span[hosts=1] rusage[mem=2048]"\n' in text
    assert 'export REFLOW_JOB_ID="${LSB_JOBID:-}"' in text
    assert "export A='1 2'" in text
    assert "unset REFLOW_ARRAY_INDEX" in text


@pytest.mark.parametrize(
    "answer",
    ["bsub_submitted.txt", "bsub_default_queue.txt", "bsub_processing.txt", "fake_bsub.txt"],
)
def test_the_job_id_is_read_from_each_documented_answer(
    lsf: LSF, tmp_path: Path, answer: str
) -> None:
    text = (DATA / answer).read_text()
    lsf.answer("bsub", text)
    expected = text.split("Job <", 1)[1].split(">", 1)[0]
    assert make(lsf, tmp_path).submit(job(tmp_path)) == expected


def test_an_unreadable_answer_is_an_error_that_says_to_check_the_queue(
    lsf: LSF, tmp_path: Path
) -> None:
    lsf.answer("bsub", "Request accepted\n")
    with pytest.raises(BatchExecutorError, match="check the queue"):
        make(lsf, tmp_path).submit(job(tmp_path))


def test_arrays_above_max_job_array_size_are_split_and_chained(lsf: LSF, tmp_path: Path) -> None:
    executor = make(lsf, tmp_path, max_array_size=3)
    indices = (0, 2, 3, 5, 6, 8, 9)
    job_id = executor.submit(job(tmp_path, array=ArraySpec(indices, 2)))
    assert job_id == "100+101+102"
    scripts = [call["stdin"] for call in lsf.calls()]
    assert '#BSUB -J "wf.task[1-3]%2"' in scripts[0]
    assert '#BSUB -J "wf.task[1]%2"' in scripts[2]
    assert "#BSUB -w" not in scripts[0]
    assert '#BSUB -w "ended(100)"' in scripts[1]  # the limit holds across chunks
    assert '#BSUB -w "ended(101)"' in scripts[2]
    # Element 5 is task 1 of the second chunk: LSF's "101[1]".
    lsf.answer("bkill", "Job <101[1]> is being terminated\n")
    executor.cancel([element_id(job_id, 5)])
    assert lsf.calls()[-1]["argv"] == ["bkill", "101[1]"]
    # A chunk's own id names the array too (what REFLOW_JOB_ID holds in its elements).
    assert executor.native_ids(element_id("102", 9)) == ["102[1]"]


def test_query_asks_bjobs_once_and_maps_elements(lsf: LSF, tmp_path: Path) -> None:
    executor = make(lsf, tmp_path)
    array = executor.submit(job(tmp_path, array=ArraySpec((0, 1))))
    single = executor.submit(job(tmp_path))
    records = [
        {"JOBID": array, "JOBINDEX": "1", "STAT": "DONE", "EXIT_CODE": "", "EXIT_REASON": ""},
        {
            "JOBID": array,
            "JOBINDEX": "2",
            "STAT": "EXIT",
            "EXIT_CODE": "140",
            "EXIT_REASON": "TERM_RUNLIMIT: job killed after reaching LSF run time limit",
        },
        {"JOBID": single, "JOBINDEX": "0", "STAT": "RUN", "EXIT_CODE": "", "EXIT_REASON": ""},
        {"JOBID": "999", "ERROR": "Job <999> is not found"},
    ]
    lsf.answer(
        "bjobs",
        json.dumps({"COMMAND": "bjobs", "JOBS": 4, "RECORDS": records}),
        "Job <999> is not found\n",
        rc=255,
    )
    found = executor.query([array, single, "999"])
    assert lsf.calls()[-1]["argv"] == [
        "bjobs",
        "-a",
        "-o",
        BJOBS_FIELDS,
        "-json",
        array,
        single,
        "999",
    ]
    assert found[element_id(array, 0)].state is JobState.COMPLETED
    assert found[element_id(array, 1)].state is JobState.TIMEOUT
    assert found[array].state is JobState.TIMEOUT  # the array's worst element
    assert found[single].state is JobState.RUNNING
    assert found["999"].state is JobState.UNKNOWN


def test_other_bjobs_failures_are_raised(lsf: LSF, tmp_path: Path) -> None:
    lsf.answer("bjobs", "", "bjobs: Permission denied\n", rc=255)
    with pytest.raises(SchedulerCommandError, match="Permission denied"):
        make(lsf, tmp_path).query(["5"])


def test_cancelling_ended_or_unknown_jobs_is_ignored(lsf: LSF, tmp_path: Path) -> None:
    for recorded in ("bkill_ended_unknown.stderr.txt", "fake_bkill_ended.stderr.txt"):
        lsf.answer("bkill", "", (DATA / recorded).read_text(), rc=255)
        make(lsf, tmp_path).cancel(["1234", "999"])
        assert lsf.calls()[-1]["argv"] == ["bkill", "1234", "999"]
    lsf.answer("bkill", "", "bkill: User permission denied\n", rc=255)
    with pytest.raises(SchedulerCommandError, match="permission denied"):
        make(lsf, tmp_path).cancel(["1234"])


def test_lsf_down_is_retried_but_an_ambiguous_bsub_failure_is_not(
    lsf: LSF, tmp_path: Path
) -> None:
    lsf.answer("bsub", "", "LSF is down. Please wait ...\n", rc=255)
    assert make(lsf, tmp_path).submit(job(tmp_path)) == "100"
    assert len(lsf.calls()) == 2
    lsf.answer("bsub", "", "batch system daemon not responding ... still trying\n", rc=255)
    with pytest.raises(SchedulerCommandError, match="not responding"):
        make(lsf, tmp_path).submit(job(tmp_path))
    assert len(lsf.calls()) == 3  # mbatchd may have the job: never submitted twice
    lsf.answer("bjobs", "", "batch system daemon not responding ... still trying\n", rc=255)
    lsf.answer("bjobs", json.dumps({"COMMAND": "bjobs", "JOBS": 0, "RECORDS": []}))
    assert make(lsf, tmp_path).query(["5"])["5"].state is JobState.UNKNOWN


def test_old_lsf_without_json_uses_the_delimited_form(lsf: LSF, tmp_path: Path) -> None:
    lsf.answer("bjobs", (DATA / "bjobs_delimited_mixed.txt").read_text())
    found = make(lsf, tmp_path, json_output=False).query(["1202"])
    assert lsf.calls()[-1]["argv"][1:4] == ["-a", "-noheader", "-o"]
    assert found["1202"].exit_code == 3


def test_a_bjobs_without_json_is_asked_again_in_the_delimited_form(
    lsf: LSF, tmp_path: Path
) -> None:
    lsf.answer("bjobs", "", "bjobs: illegal option -- json\nUsage: bjobs ...\n", rc=255)
    lsf.answer("bjobs", (DATA / "bjobs_delimited_mixed.txt").read_text())
    executor = make(lsf, tmp_path)
    assert executor.query(["1202"])["1202"].exit_code == 3
    assert [c["argv"][2] for c in lsf.calls()] == ["-o", "-noheader"]
    assert executor.json_output is False


def test_dry_run_prints_the_script_and_runs_nothing(
    lsf: LSF, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REFLOW_MODE", "dry-run")
    assert make(lsf, tmp_path).submit(job(tmp_path, array=ArraySpec((0, 1, 2), 1))) == "DRYRUN"
    out = capsys.readouterr().out
    assert '#BSUB -J "wf.task[1-3]%1"' in out
    assert "LSB_JOBINDEX" in out
    assert "\n$ " + str(lsf.bin / "bsub") + " < " in out  # the script bsub reads on stdin
    assert lsf.calls() == []


def test_bad_settings_are_refused_with_the_fix(lsf: LSF, tmp_path: Path) -> None:
    with pytest.raises(BatchExecutorError, match="MAX_JOB_ARRAY_SIZE"):
        make(lsf, tmp_path, max_array_size=0)
    with pytest.raises(BatchExecutorError, match="mem="):
        make(lsf, tmp_path).submit(job(tmp_path, resources=JobResources(mem="lots")))
    assert lsf.calls() == []


def test_recorded_options_rebuild_the_executor(lsf: LSF, tmp_path: Path) -> None:
    executor = make(lsf, tmp_path, max_array_size=500, json_output=False)
    again = LSFExecutor(**executor.recorded_options())
    assert again.recorded_options() == executor.recorded_options()
    assert again.max_array_index() == 500

"""SlurmExecutor's commands, against stand-in Slurm commands that replay given answers.

Each stand-in (``sbatch``, ``squeue``, ``sacct``, ``scancel``, ``scontrol`` in
``slurm_bin``) logs its arguments and the ``SBATCH_*`` / ``SLURM_BITSTR_LEN``
variables it saw, then prints the next answer queued for it (many of them
real output recorded in ``data/``).
"""

from __future__ import annotations

import json
import re
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
    JobStatus,
    SchedulerCommandError,
    element_id,
)
from reflow_executor_slurm import SlurmExecutor
from reflow_executor_slurm.states import SACCT_FIELDS, SQUEUE_FIELDS

RECORDED = Path(__file__).parent / "data"

STAND_IN = """\
import json, os, pathlib, sys
here = pathlib.Path(__file__).resolve().parent
name = pathlib.Path(sys.argv[0]).name
seen = {k: v for k, v in os.environ.items() if k.startswith(("SBATCH_", "SLURM_BITSTR"))}
with open(here / "calls.jsonl", "a") as log:
    log.write(json.dumps({"argv": [name, *sys.argv[1:]], "env": seen}) + "\\n")
queue = here / (name + ".json")
answers = json.loads(queue.read_text()) if queue.exists() else []
if answers:
    answer = answers.pop(0)
    queue.write_text(json.dumps(answers))
elif name == "sbatch":
    counter = here / "next-id"
    number = int(counter.read_text()) if counter.exists() else 100
    counter.write_text(str(number + 1))
    answer = {"stdout": f"{number}\\n"}
elif name == "scontrol":
    answer = {"stdout": "MaxArraySize            = 10001\\n"}
else:
    answer = {}
sys.stdout.write(answer.get("stdout", ""))
sys.stderr.write(answer.get("stderr", ""))
sys.exit(answer.get("rc", 0))
"""


class Slurm:
    """The stand-in commands' directory, their queued answers and their call log."""

    def __init__(self, directory: Path) -> None:
        self.bin = directory
        directory.mkdir()
        for name in ("sbatch", "squeue", "sacct", "scancel", "scontrol"):
            path = directory / name
            path.write_text(f"#!{sys.executable}\n{STAND_IN}")
            path.chmod(0o755)

    def answer(self, program: str, *answers: dict[str, Any]) -> None:
        path = self.bin / f"{program}.json"
        queued = json.loads(path.read_text()) if path.exists() else []
        path.write_text(json.dumps(queued + list(answers)))

    def calls(self, program: str | None = None) -> list[dict[str, Any]]:
        log = self.bin / "calls.jsonl"
        found = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        return [c for c in found if program is None or c["argv"][0] == program]


@pytest.fixture
def slurm(tmp_path: Path) -> Slurm:
    return Slurm(tmp_path / "bin")


def _executor(tmp_path: Path, slurm: Slurm, **options: Any) -> SlurmExecutor:
    options.setdefault("backoff", 0.01)
    return SlurmExecutor(state_dir=tmp_path / "state", slurm_bin=str(slurm.bin), **options)


def _job(tmp_path: Path, **kwargs: Any) -> JobSpec:
    return JobSpec(
        name="wf.task",
        command=("true",),
        workdir=tmp_path / "work",
        log_dir=tmp_path / "work" / "logs",
        **kwargs,
    )


def _error(text: str) -> dict[str, Any]:
    return {"stderr": text + "\n", "rc": 1}


SOCKET = "Socket timed out on send/recv operation"
CONNECT = "Unable to contact slurm controller (connect failure)"


def _recorded(name: str) -> str:
    return (RECORDED / name).read_text()


def test_submit_runs_sbatch_parsable_and_reads_the_cluster_form(
    tmp_path: Path, slurm: Slurm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SBATCH_PARTITION", "elsewhere")  # would override #SBATCH --partition
    monkeypatch.setenv("SBATCH_ACCOUNT", "site-default")  # the job sets no account: kept
    monkeypatch.setenv("SBATCH_WAIT", "1")
    slurm.answer("sbatch", {"stdout": _recorded("sbatch_parsable_cluster.txt")})
    executor = _executor(tmp_path, slurm)
    job = _job(tmp_path, resources=JobResources(options={"partition": "debug"}))
    number = _recorded("sbatch_parsable_cluster.txt").split(";")[0]
    assert executor.submit(job) == number
    (call,) = slurm.calls("sbatch")
    script = call["argv"][2]
    assert call["argv"] == ["sbatch", "--parsable", script]
    assert "#SBATCH --partition=debug\n" in Path(script).read_text()
    assert call["env"] == {"SBATCH_ACCOUNT": "site-default", "SLURM_BITSTR_LEN": "0"}
    assert (tmp_path / "work" / "logs").is_dir()
    assert not slurm.calls("scontrol"), "a single job needs no array limit"


def test_job_ids_in_sbatch_output(tmp_path: Path, slurm: Slurm) -> None:
    executor = _executor(tmp_path, slurm)
    assert executor.parse_job_id(_recorded("sbatch_parsable.txt")) == (
        _recorded("sbatch_parsable.txt").strip()
    )
    assert executor.parse_job_id("123;cluster-a\n") == "123"
    for garbled in ("", _recorded("sbatch_plain.txt")):
        with pytest.raises(ValueError):
            executor.parse_job_id(garbled)
    slurm.answer("sbatch", {"stdout": _recorded("sbatch_plain.txt")})
    with pytest.raises(BatchExecutorError, match="check the queue"):
        executor.submit(_job(tmp_path))


@pytest.mark.parametrize(
    ("recorded", "words"),
    [
        ("sbatch_bad_partition", "Invalid partition name specified"),
        ("sbatch_array_too_big", "Invalid job array specification"),
        ("sbatch_bad_option", "unrecognized option '--no-such-option=1'"),
    ],
)
def test_the_schedulers_words_reach_the_error(
    tmp_path: Path, slurm: Slurm, recorded: str, words: str
) -> None:
    code = {"sbatch_bad_option": 255}.get(recorded, 1)
    slurm.answer("sbatch", {"stderr": _recorded(f"{recorded}.stderr.txt"), "rc": code})
    executor = _executor(tmp_path, slurm)
    with pytest.raises(SchedulerCommandError, match=re.escape(words)) as caught:
        executor.submit(_job(tmp_path))
    assert f"exit status {code}" in str(caught.value)
    assert len(slurm.calls("sbatch")) == 1  # not transient: not retried


def test_large_arrays_are_split_under_the_sites_limits(tmp_path: Path, slurm: Slurm) -> None:
    config = "MaxArraySize            = 3\nSchedulerParameters     = max_array_tasks=2\n"
    slurm.answer("scontrol", {"stdout": config})
    executor = _executor(tmp_path, slurm)
    job_id = executor.submit(_job(tmp_path, array=ArraySpec((0, 2, 3, 5, 7), parallelism=1)))
    assert job_id == "100+101+102"
    scripts = [Path(c["argv"][2]).read_text() for c in slurm.calls("sbatch")]
    assert ["#SBATCH --array=0-1%1" in s for s in scripts] == [True, True, False]
    assert "#SBATCH --array=0%1" in scripts[2]
    assert "#SBATCH --dependency=afterany:100\n" in scripts[1]  # the throttle spans chunks
    assert "reflow_indices=(\n  3 5\n)" in scripts[1]
    executor.submit(_job(tmp_path, array=ArraySpec((0, 1, 2))))
    assert len(slurm.calls("scontrol")) == 1  # read once per executor
    # Each chunk's own id (a task's REFLOW_JOB_ID) names the whole array too.
    later = SlurmExecutor(**executor.recorded_options())
    assert later.native_ids("101[5]") == ["101_1"]
    assert later.native_ids("100") == ["100", "101", "102"]
    assert later.native_ids(element_id(job_id, 7)) == ["102_0"]


def test_one_squeue_and_one_sacct_per_query(tmp_path: Path, slurm: Slurm) -> None:
    executor = _executor(tmp_path, slurm, max_array_size=2)
    array = executor.submit(_job(tmp_path, array=ArraySpec((0, 1, 2))))  # 100+101
    single = executor.submit(_job(tmp_path))  # 102
    lines = ["100_0|RUNNING|0|None|", "100_1|COMPLETED|0|None|", "101_[0]|PENDING|0|Priority|"]
    slurm.answer("squeue", {"stdout": "\n".join(lines) + "\n"})
    slurm.answer("sacct", {"stdout": "102|FAILED|3:0|None\n100_1|COMPLETED|0:0|None\n"})
    found = executor.query([array, single, "999"])
    assert [c["argv"] for c in slurm.calls("squeue")] == [
        ["squeue", "-h", "-t", "all", "-j", "100,101,102,999", "-O", SQUEUE_FIELDS]
    ]
    assert [c["argv"] for c in slurm.calls("sacct")] == [
        ["sacct", "-n", "-P", "-X", "-j", "100,101,102,999", f"--format={SACCT_FIELDS}"]
    ]
    assert slurm.calls("squeue")[0]["env"]["SLURM_BITSTR_LEN"] == "0"
    assert found[element_id(array, 0)].state is JobState.RUNNING
    assert found[element_id(array, 1)] == JobStatus(JobState.COMPLETED, 0)
    assert found[element_id(array, 2)] == JobStatus(JobState.PENDING, None, "Priority")
    assert found[array].state is JobState.RUNNING
    assert found[single] == JobStatus(JobState.FAILED, 3)
    assert found["999"].state is JobState.UNKNOWN


def test_squeue_forgetting_an_id_is_not_an_error(tmp_path: Path, slurm: Slurm) -> None:
    slurm.answer("squeue", {"stderr": _recorded("squeue_unknown_one.stderr.txt"), "rc": 1})
    slurm.answer("sacct", {"stdout": "5|TIMEOUT|0:0|None\n"})
    executor = _executor(tmp_path, slurm)
    assert executor.query(["5"])["5"] == JobStatus(JobState.TIMEOUT, 0)
    slurm.answer("squeue", _error("squeue: error: Invalid user: nobody"))
    with pytest.raises(SchedulerCommandError, match="Invalid user"):
        executor.query(["5"])


def test_without_accounting_only_squeue_is_asked(tmp_path: Path, slurm: Slurm) -> None:
    slurm.answer("sacct", _error("sacct: error: Slurm accounting storage is disabled"))
    done = {"stdout": "7|COMPLETED|0|None|\n"}
    slurm.answer("squeue", done, done)
    executor = _executor(tmp_path, slurm)
    assert executor.query(["7"])["7"] == JobStatus(JobState.COMPLETED, 0)
    assert executor.query(["7"])["7"] == JobStatus(JobState.COMPLETED, 0)
    assert len(slurm.calls("sacct")) == 1
    assert len(slurm.calls("squeue")) == 2


def test_transient_errors_are_retried_with_a_bound(tmp_path: Path, slurm: Slurm) -> None:
    timed_out = _error(f"squeue: error: slurm_load_jobs error: {SOCKET}")
    slurm.answer("squeue", timed_out, timed_out, {"stdout": "8|RUNNING|0|None|\n"})
    executor = _executor(tmp_path, slurm, retries=3)
    assert executor.query(["8"])["8"].state is JobState.RUNNING
    assert len(slurm.calls("squeue")) == 3
    down = _error(f"squeue: error: {CONNECT}")
    slurm.answer("squeue", down, down, down)
    with pytest.raises(SchedulerCommandError, match=r"after 3 attempts.*connect failure"):
        _executor(tmp_path, slurm, retries=2).query(["8"])


def test_sbatch_is_retried_only_if_the_job_is_not_queued(tmp_path: Path, slurm: Slurm) -> None:
    timed_out = _error(f"sbatch: error: Batch job submission failed: {SOCKET}")
    executor = _executor(tmp_path, slurm)
    # Not in the queue: submitted again.
    slurm.answer("sbatch", timed_out)
    slurm.answer("squeue", {"stdout": "41|/somewhere/else.sh|\n"})
    assert executor.submit(_job(tmp_path)) == "100"
    assert len(slurm.calls("sbatch")) == 2
    assert slurm.calls("squeue")[0]["argv"][:2] == ["squeue", "--me"]
    # The controller took it despite the error: never submitted twice.
    slurm.answer("sbatch", timed_out)
    scripts = tmp_path / "work" / ".reflow-scripts"
    before = set(scripts.iterdir())

    def queued() -> dict[str, Any]:
        (new,) = set(scripts.iterdir()) - before
        return {"stdout": f"42|{new}|\n"}

    # The script's name is random: answer squeue once sbatch has been run.
    class Watching(SlurmExecutor):
        def _queued(self, script_path: str) -> bool:
            slurm.answer("squeue", queued())
            return super()._queued(script_path)

    watching = Watching(**executor.recorded_options())
    with pytest.raises(SchedulerCommandError, match="Socket timed out"):
        watching.submit(_job(tmp_path))
    assert len(slurm.calls("sbatch")) == 3
    # A refused connection cannot have submitted anything: retried without asking.
    slurm.answer("sbatch", _error(f"sbatch: error: {CONNECT}"))
    assert executor.submit(_job(tmp_path)) == "101"
    assert len(slurm.calls("squeue")) == 2


def test_cancel_takes_jobs_arrays_and_elements(tmp_path: Path, slurm: Slurm) -> None:
    executor = _executor(tmp_path, slurm, max_array_size=2)
    array = executor.submit(_job(tmp_path, array=ArraySpec((0, 1, 2))))  # 100+101
    executor.cancel([array, element_id(array, 2), "55", element_id("77", 1)])
    (call,) = slurm.calls("scancel")
    assert call["argv"] == ["scancel", "100", "101", "101_0", "55"]
    forgot = "scancel: error: Kill job error on job id 55: Invalid job id specified\n"
    slurm.answer("scancel", {"stderr": forgot, "rc": 1})
    executor.cancel(["55"])
    denied = "scancel: error: Kill job error on job id 56: Access/permission denied"
    slurm.answer("scancel", _error(denied))
    with pytest.raises(SchedulerCommandError, match="permission denied"):
        executor.cancel(["56"])
    executor.cancel([])
    assert len(slurm.calls("scancel")) == 3


def test_recorded_options_rebuild_the_executor(tmp_path: Path, slurm: Slurm) -> None:
    executor = _executor(tmp_path, slurm, max_array_size=50, command_timeout=5.0)
    options = executor.recorded_options()
    assert json.loads(json.dumps(options)) == options
    again = SlurmExecutor(**options)
    assert again.recorded_options() == options
    assert again.max_array_index() == 49
    assert again.command("sbatch") == str(slurm.bin / "sbatch")
    assert SlurmExecutor(state_dir=tmp_path).command("sbatch") == "sbatch"

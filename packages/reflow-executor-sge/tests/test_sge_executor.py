"""SGEExecutor's scripts and commands, against stand-in Grid Engine commands.

Each stand-in (``qsub``, ``qstat``, ``qacct``, ``qdel``, ``qconf`` in ``sge_bin``)
logs its arguments, then prints the next answer queued for it (many of them
real output recorded in ``data/``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reflow.executors import (
    ArraySpec,
    BatchExecutorError,
    ConfigError,
    JobResources,
    JobSpec,
    JobState,
    SchedulerCommandError,
    element_id,
)
from reflow_executor_sge import SGEExecutor

DATA = Path(__file__).parent / "data"

STAND_IN = """\
import json, pathlib, sys
here = pathlib.Path(__file__).resolve().parent
name = pathlib.Path(sys.argv[0]).name
with open(here / "calls.jsonl", "a") as log:
    log.write(json.dumps([name, *sys.argv[1:]]) + "\\n")
queue = here / (name + ".json")
answers = json.loads(queue.read_text()) if queue.exists() else []
if answers:
    answer = answers.pop(0)
    queue.write_text(json.dumps(answers))
elif name == "qsub":
    counter = here / "next-id"
    number = int(counter.read_text()) if counter.exists() else 100
    counter.write_text(str(number + 1))
    array = any(line.startswith("#$ -t ") for line in open(sys.argv[-1]))
    answer = {"stdout": f"{number}.1-2:1\\n" if array else f"{number}\\n"}
elif name == "qconf":
    answer = {"stdout": "max_aj_tasks                 75000\\n"}
elif name == "qacct":
    answer = {"stderr": "error: job name * not found\\n", "rc": 1}
else:
    answer = {}
sys.stdout.write(answer.get("stdout", ""))
sys.stderr.write(answer.get("stderr", ""))
sys.exit(answer.get("rc", 0))
"""


class Cell:
    """The stand-in commands' directory, their queued answers and their call log."""

    def __init__(self, directory: Path) -> None:
        self.bin = directory
        directory.mkdir()
        for name in ("qsub", "qstat", "qacct", "qdel", "qconf"):
            path = directory / name
            path.write_text(f"#!{sys.executable}\n{STAND_IN}")
            path.chmod(0o755)

    def answer(self, program: str, *answers: dict[str, Any]) -> None:
        path = self.bin / f"{program}.json"
        queued = json.loads(path.read_text()) if path.exists() else []
        path.write_text(json.dumps(queued + list(answers)))

    def calls(self, program: str | None = None) -> list[list[str]]:
        log = self.bin / "calls.jsonl"
        found = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        return [c for c in found if program is None or c[0] == program]


def recorded(name: str, rc: int = 0) -> dict[str, Any]:
    """A recorded answer from data/: stdout, stderr (if any) and the exit status."""
    err = DATA / f"{name}.stderr.txt"
    return {
        "stdout": (DATA / f"{name}.txt").read_text(),
        "stderr": err.read_text() if err.exists() else "",
        "rc": rc,
    }


@pytest.fixture
def cell(tmp_path: Path) -> Cell:
    return Cell(tmp_path / "bin")


@pytest.fixture
def executor(tmp_path: Path, cell: Cell) -> SGEExecutor:
    return SGEExecutor(tmp_path / "state", sge_bin=str(cell.bin), backoff=0.01)


def job(tmp_path: Path, **changes: Any) -> JobSpec:
    base: dict[str, Any] = {
        "name": "wf.process",
        "command": ("python3", "-c", "print('hi there')"),
        "workdir": tmp_path / "work",
        "log_dir": tmp_path / "work" / "logs",
        "resources": JobResources(cpus=1, time="00:10:00", mem="2G"),
    }
    return JobSpec(**{**base, **changes})


def directives(script: Path) -> list[str]:
    return [line for line in script.read_text().splitlines() if line.startswith("#$ ")]


def submitted_script(cell: Cell, n: int = -1) -> Path:
    return Path(cell.calls("qsub")[n][-1])


def test_single_job_script(tmp_path: Path, cell: Cell, executor: SGEExecutor) -> None:
    spec = job(tmp_path, resources=JobResources(cpus=4, time="1-00:00:00", mem="8G"))
    assert executor.submit(spec) == "100"
    assert cell.calls("qsub")[0][:2] == ["qsub", "-terse"]
    script = submitted_script(cell)
    logs = tmp_path / "work" / "logs"
    assert directives(script) == [
        "#$ -N wf.process",
        "#$ -S /bin/bash",
        f"#$ -wd {tmp_path / 'work'}",
        f"#$ -o {logs}/wf.process-$JOB_ID.out",
        f"#$ -e {logs}/wf.process-$JOB_ID.err",
        "#$ -j n",
        "#$ -l h_rt=24:00:00,s_rt=23:59:00,h_vmem=2048M",
        "#$ -pe smp 4",
        "#$ -V",
    ]
    text = script.read_text()
    assert 'export REFLOW_JOB_ID="${JOB_ID:-}"' in text
    assert "unset REFLOW_ARRAY_INDEX" in text
    assert text.rstrip().endswith("exec python3 -c 'print('\"'\"'hi there'\"'\"')'")


def test_array_script_maps_task_ids_to_reflow_indices(
    tmp_path: Path, cell: Cell, executor: SGEExecutor
) -> None:
    spec = job(tmp_path, array=ArraySpec((1, 3, 4), parallelism=2), log_name="process")
    job_id = executor.submit(spec)
    script = submitted_script(cell)
    lines = directives(script)
    assert "#$ -t 1-3" in lines and "#$ -tc 2" in lines
    assert any(line.endswith("/process-$JOB_ID_$TASK_ID.out") for line in lines)
    body = script.read_text().split("\ncd -- ", 1)[0]
    for task, index in [(1, 1), (2, 3), (3, 4)]:
        out = subprocess.run(
            ["bash", "-c", body + '\necho "$REFLOW_ARRAY_INDEX $REFLOW_JOB_ID"'],
            env={**os.environ, "SGE_TASK_ID": str(task), "JOB_ID": "77"},
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.split() == [str(index), "77"]
    assert executor.native_ids(element_id(job_id, 3)) == [f"{job_id}.2"]


def test_options_memory_resource_and_pe(tmp_path: Path, cell: Cell) -> None:
    executor = SGEExecutor(
        tmp_path / "state",
        sge_bin=str(cell.bin),
        parallel_environment="threads",
        memory_resource="mem_free",
        soft_walltime_margin=300,
    )
    options = {
        "partition": "short.q",
        "account": "proj",
        "account_string": "acct",
        "l": {"gpu": 1},
        "ckpt": "blcr",
        "notify": True,
        "hard": False,
    }
    spec = job(
        tmp_path, resources=JobResources(cpus=2, time="01:00:00", mem="3G", options=options)
    )
    executor.submit(spec)
    lines = directives(submitted_script(cell))
    assert "#$ -l h_rt=01:00:00,s_rt=00:55:00,mem_free=1536M" in lines
    assert "#$ -pe threads 2" in lines
    assert lines[-6:] == [
        "#$ -q short.q",
        "#$ -P proj",
        "#$ -A acct",
        "#$ -l gpu=1",
        "#$ -ckpt blcr",
        "#$ -notify",
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"N": "x"}, "reflow names the job"),
        ({"t": "1-3"}, "builds the array"),
        ({"q": "a b"}, "white space"),
        ({"-q": "x"}, "not a qsub option name"),
        ({"l": object()}, "give a string"),
    ],
)
def test_bad_options_are_refused_before_anything_is_written(
    tmp_path: Path, cell: Cell, executor: SGEExecutor, options: dict[str, Any], message: str
) -> None:
    spec = job(tmp_path, resources=JobResources(options=options))
    with pytest.raises(BatchExecutorError, match=message):
        executor.submit(spec)
    assert cell.calls("qsub") == []
    assert not (tmp_path / "work").exists()


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="parallel_environment"):
        SGEExecutor(tmp_path, parallel_environment="smp 4")
    with pytest.raises(ConfigError, match="memory_resource"):
        SGEExecutor(tmp_path, memory_resource="h vmem")


def test_a_log_dir_with_a_dollar_or_space_is_refused(
    tmp_path: Path, executor: SGEExecutor
) -> None:
    with pytest.raises(BatchExecutorError, match="pseudo variable"):
        executor.submit(job(tmp_path, log_dir=tmp_path / "$HOME"))
    with pytest.raises(BatchExecutorError, match="white space"):
        executor.submit(job(tmp_path, log_dir=tmp_path / "my logs"))


def test_big_arrays_are_split_at_max_aj_tasks(
    tmp_path: Path, cell: Cell, executor: SGEExecutor
) -> None:
    cell.answer("qconf", recorded("qconf_sconf"))
    small = SGEExecutor(tmp_path / "state2", sge_bin=str(cell.bin), max_array_tasks=2)
    job_id = small.submit(job(tmp_path, array=ArraySpec(tuple(range(5)), parallelism=1)))
    assert job_id == "100+101+102"
    scripts = [Path(c[-1]) for c in cell.calls("qsub")]
    assert [d for d in directives(scripts[1]) if d.startswith("#$ -hold_jid")] == [
        "#$ -hold_jid 100"
    ]
    assert small.native_ids(element_id(job_id, 4)) == ["102.1"]
    assert small.native_ids(element_id("101", 2)) == ["101.1"]  # a chunk's id names it too
    executor.submit(job(tmp_path, array=ArraySpec((0, 1))))
    assert cell.calls("qconf") == [["qconf", "-sconf"]]


def test_terse_ids(executor: SGEExecutor) -> None:
    assert executor.parse_job_id((DATA / "qsub_terse.txt").read_text()) == "93"
    assert executor.parse_job_id((DATA / "qsub_terse_array.txt").read_text()) == "94"
    with pytest.raises(ValueError, match="not a Grid Engine job id"):
        executor.parse_job_id("Your job 5 has been submitted\n")


def test_a_rejected_job_names_the_queue(tmp_path: Path, cell: Cell, executor: SGEExecutor) -> None:
    cell.answer("qsub", recorded("qsub_unknown_queue", rc=1))
    with pytest.raises(SchedulerCommandError, match='unknown queue "no_such_queue"'):
        executor.submit(job(tmp_path))
    assert len(cell.calls("qsub")) == 1


def test_an_unreachable_qmaster_is_retried(
    tmp_path: Path, cell: Cell, executor: SGEExecutor
) -> None:
    cell.answer("qsub", recorded("qsub_no_qmaster", rc=1))
    assert executor.submit(job(tmp_path)) == "100"
    assert len(cell.calls("qsub")) == 2
    cell.answer("qstat", recorded("qstat_no_qmaster", rc=1), recorded("qstat_no_qmaster", rc=1))
    executor.query(["100"])
    assert len(cell.calls("qstat")) == 3
    cell.answer("qdel", *[recorded("qdel_no_qmaster", rc=1)] * 4)
    with pytest.raises(SchedulerCommandError, match=r"after 4 attempts.*Connection refused"):
        executor.cancel(["100"])


def test_an_ambiguous_qsub_failure_is_not_retried(
    tmp_path: Path, cell: Cell, executor: SGEExecutor
) -> None:
    cell.answer("qsub", {"stderr": "error: failed receiving gdi request\n", "rc": 1})
    with pytest.raises(SchedulerCommandError, match="failed receiving gdi request"):
        executor.submit(job(tmp_path))
    assert len(cell.calls("qsub")) == 1


def test_query_reads_qstat_and_the_accounting_once(
    tmp_path: Path, cell: Cell, executor: SGEExecutor
) -> None:
    first = executor.submit(job(tmp_path))
    array = executor.submit(job(tmp_path, array=ArraySpec((0, 1))))
    running = (
        '<job_info><queue_info><job_list state="running">'
        f"<JB_job_number>{array}</JB_job_number><state>r</state><tasks>2</tasks>"
        "</job_list></queue_info></job_info>"
    )
    done = (
        f"==============================================================\n"
        f"jobnumber    {first}\ntaskid       undefined\nfailed       0\nexit_status  0\n"
        f"==============================================================\n"
        f"jobnumber    {array}\ntaskid       1\nfailed       0\nexit_status  3\n"
    )
    cell.answer("qstat", {"stdout": running})
    cell.answer("qacct", {"stdout": done})
    found = executor.query([first, array, "999"])
    assert found[first].state is JobState.COMPLETED
    assert found[element_id(array, 0)].state is JobState.FAILED
    assert found[element_id(array, 0)].exit_code == 3
    assert found[element_id(array, 1)].state is JobState.RUNNING
    assert found[array].state is JobState.RUNNING
    assert found["999"].state is JobState.UNKNOWN
    (qacct,) = cell.calls("qacct")
    assert qacct[1:3] == ["-o", qacct[2]] and qacct[3] == "-b" and qacct[-2:] == ["-j", "*"]
    assert len(cell.calls("qstat")) == 1


def test_a_cell_where_no_job_has_ended_yet_has_no_accounting_and_that_is_no_error(
    tmp_path: Path, cell: Cell, executor: SGEExecutor
) -> None:
    first = executor.submit(job(tmp_path))
    cell.answer("qstat", {"stdout": ""})
    missing = "/var/lib/gridengine/default/common/accounting: No such file or directory\n"
    cell.answer("qacct", {"stderr": missing, "rc": 1})
    assert executor.query([first])[first].state is JobState.UNKNOWN  # as when qacct finds none
    cell.answer("qacct", {"stderr": "error: unknown option -zz\n", "rc": 1})
    cell.answer("qstat", {"stdout": ""})
    with pytest.raises(SchedulerCommandError, match="unknown option"):
        executor.query([first])


def test_cancelled_jobs_and_tasks_read_cancelled(
    tmp_path: Path, cell: Cell, executor: SGEExecutor
) -> None:
    single = executor.submit(job(tmp_path))
    array = executor.submit(job(tmp_path, array=ArraySpec((0, 1, 2))))
    cell.answer("qdel", recorded("qdel_unknown", rc=1))  # "does not exist" is no failure
    executor.cancel([single, element_id(array, 1)])
    assert cell.calls("qdel") == [["qdel", single, f"{array}.2"]]
    cell.answer("qstat", {"stdout": ""})
    found = executor.query([single, array])
    assert found[single].state is JobState.CANCELLED  # deleted while pending: no record
    assert found[element_id(array, 1)].state is JobState.CANCELLED
    assert found[element_id(array, 0)].state is JobState.UNKNOWN
    cell.answer("qdel", {"stdout": "denied: you are not the owner of job 5\n", "rc": 1})
    with pytest.raises(SchedulerCommandError, match="not the owner"):
        executor.cancel([single])


def test_after_ok_and_after_corr_guard_the_job(
    tmp_path: Path, cell: Cell, executor: SGEExecutor
) -> None:
    first = executor.submit(job(tmp_path, array=ArraySpec((0, 1))))
    single = executor.submit(job(tmp_path))
    executor.submit(
        job(
            tmp_path,
            array=ArraySpec((0, 1)),
            after_ok=(single,),
            after_corr=(first,),
            after_any=(element_id(first, 1),),
        )
    )
    script = submitted_script(cell)
    lines = directives(script)
    assert f"#$ -hold_jid {first},{single}" in lines
    assert f"#$ -hold_jid_ad {first}" in lines
    text = script.read_text()
    assert f"reflow_require_ok {single} '' 1" in text
    assert f'reflow_require_ok {first} "$SGE_TASK_ID" 1' in text
    with pytest.raises(BatchExecutorError, match="same element indices"):
        executor.submit(job(tmp_path, array=ArraySpec((0, 1, 2)), after_corr=(first,)))


def test_recorded_options_rebuild_the_executor(tmp_path: Path, executor: SGEExecutor) -> None:
    again = SGEExecutor(**executor.recorded_options())
    assert again.recorded_options() == executor.recorded_options()
    json.dumps(executor.recorded_options())

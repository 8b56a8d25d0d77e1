"""qsub options and job scripts of both flavours."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from reflow.executors import (
    ArrayChunk,
    BatchExecutorError,
    JobResources,
    JobSpec,
)
from reflow_executor_pbs.flavor import Flavor
from reflow_executor_pbs.script import (
    body,
    dependency_spec,
    job_name,
    memory,
    qsub_options,
    walltime,
)


def spec(tmp_path: Path, **options: Any) -> JobSpec:
    return JobSpec(
        name="process",
        command=("echo", "it's"),
        workdir=tmp_path,
        log_dir=tmp_path / "logs",
        resources=JobResources(cpus=4, time="1-00:30:00", mem="1.5G", options=options),
    )


def flags(pairs: list[list[str]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for flag, value in pairs:
        found.setdefault(flag, []).append(value)
    return found


def test_pbspro_asks_with_select_and_walltime(tmp_path: Path) -> None:
    chunk = ArrayChunk(0, tuple(range(10)), 1, parallelism=3)
    pairs = flags(
        qsub_options(
            spec(tmp_path, queue="workq", account="proj"),
            chunk,
            Flavor.PBSPRO,
            ["5.s"],
            [],
            {"queue": "workq", "account": "proj"},
            "/x/p",
        )
    )
    assert pairs["-l"] == ["select=1:ncpus=4:mem=1536mb", "walltime=24:30:00"]
    assert pairs["-J"] == ["1-10%3"]
    assert pairs["-W"] == ["depend=afterany:5.s"]
    assert pairs["-q"] == ["workq"] and pairs["-A"] == ["proj"]
    assert pairs["-o"] == ["/x/p.pbs.out.^array_index^"] and pairs["-j"] == ["oe"]
    assert pairs["-V"] == [""]


def test_torque_asks_with_one_resource_list_and_t(tmp_path: Path) -> None:
    chunk = ArrayChunk(0, (0, 1), 1)
    options = {"nodes_extra": "gpus=1", "place": "excl"}
    pairs = flags(
        qsub_options(spec(tmp_path), chunk, Flavor.TORQUE, [], ["7[].s"], options, "/x/p")
    )
    # The Torque wrappers keep only the last -l: everything goes in one.
    assert pairs["-l"] == ["nodes=1:ppn=4:gpus=1,walltime=24:30:00,mem=1536mb,place=excl"]
    assert pairs["-t"] == ["1-2"]
    assert pairs["-W"] == ["depend=afterokarray:7[].s"]
    assert pairs["-o"] == ["/x/p.pbs.out"]


def test_a_one_task_pbspro_chunk_is_a_plain_job(tmp_path: Path) -> None:
    chunk = ArrayChunk(2, (7,), 1)
    pairs = flags(qsub_options(spec(tmp_path), chunk, Flavor.PBSPRO, [], [], {}, "/x/p"))
    assert "-J" not in pairs
    text = body(spec(tmp_path), chunk, Flavor.PBSPRO, "/x/p")
    assert "reflow_task=1\n" in text and "PBS_ARRAY_INDEX" not in text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"walltime": "1:00:00"}, "set the task's time="),
        ({"select": "2:ncpus=8"}, "select_extra"),
        ({"depend": "afterok:1"}, "reflow sets the dependencies"),
        ({"Queue": "x"}, "not a PBS option"),
        ({"queue": "two words"}, "white space"),
        ({"queue": ["a", "b"]}, "give a string or a number"),
    ],
)
def test_bad_options_are_refused_naming_the_fix(
    tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(BatchExecutorError, match=message):
        qsub_options(spec(tmp_path), None, Flavor.PBSPRO, [], [], options, "/x/p")


def test_paths_qsub_cannot_take_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BatchExecutorError, match="plain path"):
        qsub_options(spec(tmp_path), None, Flavor.PBSPRO, [], [], {}, "/my runs/p")


def test_units() -> None:
    assert walltime("45") == "00:45:00"
    assert memory("200M") == "200mb"
    assert memory(1) == "1mb"
    assert job_name("a b/c") == "a_b_c"
    assert len(job_name("x" * 400)) == 236
    assert dependency_spec(Flavor.PBSPRO, ["1.s", "2[].s"], ["3.s"]) == (
        "afterany:1.s:2[].s,afterok:3.s"
    )


def run_body(tmp_path: Path, chunk: ArrayChunk | None, flavor: Flavor, env: dict[str, str]) -> str:
    """Run the script body as the scheduler would, with ``env``; return the job's stdout."""
    job = JobSpec(
        name="t",
        command=("sh", "-c", 'echo "$REFLOW_JOB_ID ${REFLOW_ARRAY_INDEX:-none}"; exit 4'),
        workdir=tmp_path,
        log_dir=tmp_path / "logs",
    )
    (tmp_path / "logs").mkdir(exist_ok=True)
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\n" + body(job, chunk, flavor, str(tmp_path / "m")))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PBS_")}
    result = subprocess.run(["bash", str(script)], env={**clean, **env}, timeout=30, check=False)
    assert result.returncode == 4
    logs = sorted((tmp_path / "logs").glob("*.out"))
    assert len(logs) == 1, logs
    return f"{logs[0].name}: {logs[0].read_text().strip()}"


def test_the_body_reads_pbs_array_index_on_pbspro(tmp_path: Path) -> None:
    chunk = ArrayChunk(0, (4, 6, 9), 1)
    env = {"PBS_JOBID": "12[2].srv", "PBS_ARRAY_ID": "12[].srv", "PBS_ARRAY_INDEX": "2"}
    assert run_body(tmp_path, chunk, Flavor.PBSPRO, env) == "t-12.srv_2.out: 12.srv 6"
    assert (tmp_path / "m.2.exit").read_text().strip() == "4"
    assert (tmp_path / "m.2.start").read_text().split()[1].isdigit()


def test_the_body_reads_pbs_arrayid_on_torque(tmp_path: Path) -> None:
    chunk = ArrayChunk(0, (10, 11, 12), 1)
    env = {"PBS_JOBID": "12[3].srv", "PBS_ARRAYID": "3"}
    assert run_body(tmp_path, chunk, Flavor.TORQUE, env) == "t-12.srv_3.out: 12.srv 12"


def test_the_body_reads_pbs_array_index_under_the_torque_wrappers(tmp_path: Path) -> None:
    chunk = ArrayChunk(0, (0, 1), 1)
    env = {"PBS_JOBID": "57", "PBS_ARRAY_ID": "55", "PBS_ARRAY_INDEX": "1"}
    assert run_body(tmp_path, chunk, Flavor.TORQUE, env) == "t-55_1.out: 55 0"


def test_a_single_job_has_no_array_index(tmp_path: Path) -> None:
    env = {"PBS_JOBID": "8.srv", "REFLOW_ARRAY_INDEX": "3"}
    assert run_body(tmp_path, None, Flavor.PBSPRO, env) == "t-8.srv.out: 8.srv none"
    assert (tmp_path / "m.exit").read_text().strip() == "4"


@pytest.mark.parametrize(
    ("export_env", "expected"),
    [(True, [["-V", ""]]), (False, []), (["A", "B"], [["-v", "A,B"]])],
)
def test_export_env_becomes_big_v_small_v_or_nothing(
    tmp_path: Path, export_env: Any, expected: list[list[str]]
) -> None:
    pairs = qsub_options(
        spec(tmp_path, export_env=export_env),
        None,
        Flavor.PBSPRO,
        [],
        [],
        {"export_env": export_env},
        "p",
    )
    assert [p for p in pairs if p[0] in ("-V", "-v")] == expected


def test_qsub_s_variable_list_is_refused_for_export_env(tmp_path: Path) -> None:
    with pytest.raises(BatchExecutorError, match="set export_env"):
        qsub_options(spec(tmp_path), None, Flavor.PBSPRO, [], [], {"variable_list": "A"}, "p")

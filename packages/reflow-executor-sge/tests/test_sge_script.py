"""The pieces of a Grid Engine job script: names, limits, and the after_ok guard run in bash."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reflow.executors import (
    BatchExecutorError,
    JobSpec,
)
from reflow_executor_sge.script import (
    Dependency,
    guard_lines,
    job_name,
    memory_per_slot,
    option_directives,
    soft_walltime,
    walltime,
)

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("guide.process", "guide.process"),
        ("a b/c:d@e*f?g", "a_b_c_d_e_f_g"),
        ("2nd.run", "j2nd.run"),
        ("//", "job"),
    ],
)
def test_job_names_are_what_grid_engine_accepts(name: str, expected: str) -> None:
    assert job_name(name) == expected


def test_walltime_and_soft_limit() -> None:
    assert walltime("00:00:20") == "00:00:20"
    assert walltime("2-00:00:00") == "48:00:00"
    assert soft_walltime(20) == 18
    assert soft_walltime(86400) == 86340  # at most a minute early
    assert soft_walltime(1) == 1
    assert soft_walltime(600, margin=0) == 600


def test_memory_is_per_slot_rounded_up() -> None:
    assert memory_per_slot("4G", 1) == "4096M"
    assert memory_per_slot("4G", 3) == "1366M"
    with pytest.raises(ValueError):
        memory_per_slot("lots", 1)


def run_guard(
    tmp_path: Path, qacct_output: str, dep: Dependency, wait: int = 2
) -> tuple[int, str]:
    fake = tmp_path / "qacct"
    (tmp_path / "answer.txt").write_text(qacct_output)
    fake.write_text(f'#!/bin/bash\necho "$@" >> {tmp_path}/calls\ncat {tmp_path}/answer.txt\n')
    fake.chmod(0o755)
    body = "\n".join(guard_lines(str(fake), [dep], wait)) + "\necho ran\n"
    proc = subprocess.run(
        ["bash", "-c", body],
        env={"SGE_TASK_ID": "2", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_guard_lets_the_job_run_after_a_success(tmp_path: Path) -> None:
    code, out = run_guard(tmp_path, (DATA / "qacct_ok.txt").read_text(), Dependency("93"))
    assert (code, out) == (0, "ran\n")
    assert (tmp_path / "calls").read_text() == "-j 93\n"


def test_guard_stops_the_job_after_a_failure(tmp_path: Path) -> None:
    code, out = run_guard(tmp_path, (DATA / "qacct_exit3.txt").read_text(), Dependency("98"))
    assert code == 1
    assert out.startswith("reflow: not running: dependency 98 did not succeed: exit_status 3")
    assert "ran" not in out


def test_guard_counts_every_task_of_an_array(tmp_path: Path) -> None:
    records = (DATA / "qacct_array.txt").read_text()
    assert run_guard(tmp_path, records, Dependency("94", "", 6))[0] == 0
    code, out = run_guard(tmp_path, records, Dependency("94", "", 7), wait=1)
    assert code == 1
    assert "no accounting record of dependency 94 after 1 s" in out


def test_guard_of_after_corr_asks_for_the_partner_task(tmp_path: Path) -> None:
    run_guard(tmp_path, (DATA / "qacct_ok.txt").read_text(), Dependency("93", "$SGE_TASK_ID"))
    assert (tmp_path / "calls").read_text() == "-j 93 -t 2\n"


_JOB = JobSpec(name="wf.t", command=("true",), workdir=Path("/w"), log_dir=Path("/w/logs"))


@pytest.mark.parametrize(
    ("export_env", "lines"),
    [(True, ["#$ -V"]), (False, []), (["A", "B"], ["#$ -v A,B"])],
)
def test_export_env_becomes_big_v_small_v_or_nothing(export_env: object, lines: list[str]) -> None:
    assert option_directives(_JOB, {"export_env": export_env}) == lines


@pytest.mark.parametrize("native", ["V", "v"])
def test_native_v_is_refused_for_export_env(native: str) -> None:
    with pytest.raises(BatchExecutorError, match="set export_env"):
        option_directives(_JOB, {native: True})

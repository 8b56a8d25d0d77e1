"""The #BSUB lines LSFExecutor writes: names, arrays, limits, dependencies, options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reflow.executors import (
    ArrayChunk,
    BatchExecutorError,
    ConfigError,
    JobResources,
    JobSpec,
)
from reflow_executor_lsf import script
from reflow_executor_lsf.config import memory_in_unit, normalize_unit, site_unit

DATA = Path(__file__).parent / "data"


def job(**kw: Any) -> JobSpec:
    base: dict[str, Any] = {
        "name": "wf.task",
        "command": ("python3", "-c", "print('hi there')"),
        "workdir": Path("/scratch/run"),
        "log_dir": Path("/scratch/run/logs"),
        "resources": JobResources(cpus=4, time="01:30:00", mem="4G"),
    }
    base.update(kw)
    return JobSpec(**base)


@pytest.mark.parametrize(
    ("walltime", "expected"),
    [
        ("00:00:02", "1"),  # LSF counts minutes: a few seconds is one minute
        ("00:01:00", "1"),
        ("00:59:01", "1:00"),
        ("01:30:00", "1:30"),
        ("1-02:00:30", "26:01"),
    ],
)
def test_run_limit_is_hours_and_minutes_never_seconds(walltime: str, expected: str) -> None:
    assert script.run_limit(walltime) == expected
    assert ":" not in expected or expected.count(":") == 1


def test_array_name_is_one_based_with_the_limit_after_the_bracket() -> None:
    chunk = ArrayChunk(0, (0, 1, 2, 3, 4), base=1, parallelism=2)
    assert script.array_name(job(), chunk) == "wf.task[1-5]%2"
    single = ArrayChunk(0, (7,), base=1)
    assert script.array_name(job(), single) == "wf.task[1]"


def test_job_names_lose_characters_lsf_reads_as_syntax() -> None:
    assert script.job_name(job(name='my job[1] "x"%')) == "my_job_1_x"


def test_dependencies_are_done_for_after_ok_and_ended_for_after_any() -> None:
    assert (
        script.dependency_expression(["1", "2[3]"], ["4"]) == "ended(1) && ended(2[3]) && done(4)"
    )
    assert script.dependency_expression([], []) == ""


def test_directives_of_a_single_job() -> None:
    lines = script.directives(job(log_name="task"), None, [], ["77"], {"queue": "short"}, 4096)
    assert lines == [
        "#BSUB -J wf.task",
        '#BSUB -o "/scratch/run/logs/task-%J.out"',
        '#BSUB -e "/scratch/run/logs/task-%J.err"',
        "#BSUB -n 4",
        '#BSUB -R "span[hosts=1] rusage[mem=4096]"',
        "#BSUB -M 4096",
        "#BSUB -W 1:30",
        "#BSUB -env all",
        '#BSUB -w "done(77)"',
        "#BSUB -ti",
        "#BSUB -q short",
    ]


def test_directives_of_an_array_chunk_name_logs_by_job_and_index() -> None:
    chunk = ArrayChunk(0, (0, 2, 3), base=1, parallelism=2)
    lines = script.directives(job(), chunk, ["5"], [], {}, 100)
    assert '#BSUB -J "wf.task[1-3]%2"' in lines
    assert '#BSUB -o "/scratch/run/logs/wf.task-%J_%I.out"' in lines
    assert '#BSUB -w "ended(5)"' in lines
    assert "#BSUB -ti" not in lines  # ended() is always met: nothing can be orphaned


def test_options_map_to_bsub_flags() -> None:
    options = {"project": "p1", "app": "gpu", "x": True, "hosts": ["h1", "h2"], "sla": None}
    assert script.option_directives(job(), options) == [
        "#BSUB -P p1",
        "#BSUB -app gpu",
        "#BSUB -x",
        '#BSUB -m "h1 h2"',
    ]


@pytest.mark.parametrize("key", ["J", "W", "M", "n", "o", "e", "w", "ti", "qos"])
def test_options_reflow_sets_itself_are_refused(key: str) -> None:
    with pytest.raises(BatchExecutorError, match=f"submit option '{key}' cannot be set"):
        script.option_directives(job(), {key: "1"})


def test_values_that_cannot_fit_a_bsub_line_are_refused() -> None:
    with pytest.raises(BatchExecutorError, match="double quote"):
        script.option_directives(job(), {"queue": 'a"b'})
    with pytest.raises(BatchExecutorError, match="not a bsub option"):
        script.option_directives(job(), {"two words": 1})
    with pytest.raises(BatchExecutorError, match="'%'"):
        script.log_paths(job(log_dir=Path("/scratch/100%")), None)


def test_memory_is_written_in_the_sites_unit_rounded_up() -> None:
    assert memory_in_unit("4G", "KB") == 4 * 1024 * 1024
    assert memory_in_unit("4G", "mb") == 4096
    assert memory_in_unit("1500M", "G") == 2
    assert normalize_unit("g") == "GB"
    with pytest.raises(ConfigError, match="LSF_UNIT_FOR_LIMITS"):
        normalize_unit("bytes")


def test_the_unit_comes_from_lsf_conf_in_lsf_envdir(tmp_path: Path) -> None:
    assert site_unit({"LSF_ENVDIR": str(DATA)}) == "MB"
    assert site_unit({"LSF_ENVDIR": str(tmp_path)}) == "KB"  # no lsf.conf: LSF's default


@pytest.mark.parametrize("shell", ["sh", "dash", "bash"])
@pytest.mark.parametrize("indices", [(3, 4, 5, 6), (0, 2, 3, 5, 6, *range(8, 21), 22)])
def test_the_body_maps_lsb_jobindex_to_reflow_indices_in_posix_sh(
    shell: str, indices: tuple[int, ...], tmp_path: Path
) -> None:
    """LSF runs a script from bsub's stdin with /bin/sh: the body must not need bash."""
    import shutil
    import subprocess

    if shutil.which(shell) is None:
        pytest.skip(f"no {shell} here")
    printer = ("sh", "-c", 'printf "%s %s" "$REFLOW_ARRAY_INDEX" "$REFLOW_JOB_ID"')
    text = script.body(job(command=printer, workdir=tmp_path), ArrayChunk(0, indices, base=1))
    seen = []
    for task in range(1, len(indices) + 1):
        env = {"PATH": "/usr/bin:/bin", "LSB_JOBINDEX": str(task), "LSB_JOBID": "42"}
        done = subprocess.run(
            [shell, "-c", text], env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        seen.append(done.stdout)
    assert seen == [f"{i} 42" for i in indices]
    outside = {"PATH": "/usr/bin:/bin", "LSB_JOBINDEX": str(len(indices) + 1)}
    done = subprocess.run(
        [shell, "-c", text], env=outside, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert "is not in 1-" in done.stderr


def test_a_single_job_runs_without_an_array_index(tmp_path: Path) -> None:
    import subprocess

    printer = ("sh", "-c", 'printf "[%s]" "${REFLOW_ARRAY_INDEX-unset}"')
    text = script.body(job(command=printer, workdir=tmp_path), None)
    env = {"PATH": "/usr/bin:/bin", "REFLOW_ARRAY_INDEX": "7"}
    done = subprocess.run(["sh", "-c", text], env=env, capture_output=True, text=True, check=False)
    assert done.stdout == "[unset]"


@pytest.mark.parametrize(
    ("export_env", "line"),
    [(True, "#BSUB -env all"), (False, "#BSUB -env none"), (["A", "B"], "#BSUB -env A,B")],
)
def test_export_env_becomes_the_env_option(export_env: Any, line: str) -> None:
    lines = script.directives(job(), None, [], [], {"export_env": export_env}, 4096)
    assert [x for x in lines if x.startswith("#BSUB -env")] == [line]


def test_native_env_is_refused_for_export_env() -> None:
    with pytest.raises(BatchExecutorError, match="set export_env"):
        script.directives(job(), None, [], [], {"env": "none"}, 4096)

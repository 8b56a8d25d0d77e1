"""The batch scripts SlurmExecutor writes: #SBATCH lines, quoting, arrays, dependencies."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from reflow.executors import (
    ArrayChunk,
    ArrayMap,
    ArraySpec,
    BatchExecutorError,
    ConfigError,
    JobResources,
    JobSpec,
    split_array,
)
from reflow_executor_slurm import SlurmExecutor
from reflow_executor_slurm.script import (
    array_range,
    dependency_spec,
    memory,
    overriding_variables,
    quote,
    walltime,
)

RECORDED = Path(__file__).parent / "data"


@pytest.fixture
def slurm(tmp_path: Path) -> SlurmExecutor:
    return SlurmExecutor(state_dir=tmp_path / "state", max_array_size=1001)


def _job(tmp_path: Path, name: str = "wf.task", **kwargs: Any) -> JobSpec:
    resources = kwargs.pop("resources", JobResources(cpus=2, time="00:10:00", mem="2G"))
    return JobSpec(
        name=name,
        command=kwargs.pop("command", ("python3", "-c", "print('hi')")),
        workdir=tmp_path / "work",
        log_dir=tmp_path / "work" / "logs",
        resources=resources,
        **kwargs,
    )


def _directives(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("#SBATCH")]


def test_every_option_becomes_a_directive(slurm: SlurmExecutor, tmp_path: Path) -> None:
    options = {
        "queue": "gpu",
        "account": "proj42",
        "qos": "high",
        "reservation": "maint",
        "gres": "gpu:2",
        "gpus": 2,
        "constraint": "a100&ib",
        "exclusive": True,
        "mail_user": "me@example.org",
        "mail_type": ["END", "FAIL"],
        "signal": "B:USR1@120",
        "nice": 10,
        "requeue": False,
        "comment": None,
    }
    job = _job(
        tmp_path,
        resources=JobResources(cpus=4, time="1-02:03:04", mem="1.5G", options=options),
    )
    logs = tmp_path / "work" / "logs"
    assert _directives(slurm.render_script(job, None)) == [
        "#SBATCH --job-name=wf.task",
        f"#SBATCH --output={logs}/%x-%j.out",
        f"#SBATCH --error={logs}/%x-%j.err",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --time=1-02:03:04",
        "#SBATCH --export=ALL",
        "#SBATCH --mem=1536M",
        "#SBATCH --partition=gpu",
        "#SBATCH --account=proj42",
        "#SBATCH --qos=high",
        "#SBATCH --reservation=maint",
        "#SBATCH --gres=gpu:2",
        "#SBATCH --gpus=2",
        '#SBATCH --constraint="a100&ib"',
        "#SBATCH --exclusive",
        "#SBATCH --mail-user=me@example.org",
        "#SBATCH --mail-type=END,FAIL",
        "#SBATCH --signal=B:USR1@120",
        "#SBATCH --nice=10",
    ]


def test_a_single_job(slurm: SlurmExecutor, tmp_path: Path) -> None:
    text = slurm.render_script(_job(tmp_path, env={"REFLOW_RUN_ID": "run 1"}), None)
    assert text.startswith("#!/bin/bash\n#SBATCH --job-name=wf.task\n")
    assert 'export REFLOW_JOB_ID="${SLURM_JOB_ID:-}"' in text
    assert "SLURM_ARRAY" not in text
    assert "unset REFLOW_ARRAY_INDEX" in text
    assert "export REFLOW_RUN_ID='run 1'" in text
    assert not any(d.startswith(("#SBATCH --array", "#SBATCH --dep")) for d in _directives(text))
    # The directives come first: sbatch stops reading them at the first command.
    lines = text.splitlines()
    last = max(i for i, line in enumerate(lines) if line.startswith("#SBATCH"))
    assert all(line.startswith("#") for line in lines[: last + 1])


def _run_task(script: str, tmp_path: Path, task: int) -> str:
    path = tmp_path / "chunk.sh"
    path.write_text(script)
    (tmp_path / "work").mkdir(exist_ok=True)
    env = {"PATH": "/usr/bin:/bin", "SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_JOB_ID": "77"}
    done = subprocess.run(
        ["/bin/bash", str(path)], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_explicit_indices_and_a_throttle(slurm: SlurmExecutor, tmp_path: Path) -> None:
    command = ("/bin/sh", "-c", 'echo "$REFLOW_ARRAY_INDEX $REFLOW_JOB_ID"')
    job = _job(tmp_path, command=command, array=ArraySpec((1, 3, 4), parallelism=2))
    (chunk,) = split_array(ArraySpec((1, 3, 4), 2), 0, 1000)
    text = slurm.render_script(job, chunk)
    logs = tmp_path / "work" / "logs"
    assert "#SBATCH --array=0-2%2" in _directives(text)
    assert f"#SBATCH --output={logs}/%x-%A_%a.out" in _directives(text)
    assert f"#SBATCH --error={logs}/%x-%A_%a.err" in _directives(text)
    assert 'export REFLOW_JOB_ID="${SLURM_ARRAY_JOB_ID:-}"' in text
    # Slurm runs tasks 0-2; each maps its task id back to reflow's index.
    assert [_run_task(text, tmp_path, task) for task in (0, 1, 2)] == ["1 77", "3 77", "4 77"]


def test_array_ranges() -> None:
    assert array_range(ArrayChunk(0, (5,))) == "0"
    assert array_range(ArrayChunk(0, (0, 1, 2, 3), parallelism=1)) == "0-3%1"
    assert array_range(ArrayChunk(2, (7, 9))) == "0-1"


def test_a_split_array_rebases_every_chunk(tmp_path: Path) -> None:
    slurm = SlurmExecutor(state_dir=tmp_path / "state", max_array_size=3)  # tasks 0-2
    job = _job(tmp_path, array=ArraySpec(tuple(range(10, 17)), parallelism=2))
    chunks = slurm._chunks(job)
    assert [c.indices for c in chunks if c] == [(10, 11, 12), (13, 14, 15), (16,)]
    assert [array_range(c) for c in chunks if c] == ["0-2%2", "0-2%2", "0%2"]


def test_dependencies(slurm: SlurmExecutor, tmp_path: Path) -> None:
    slurm.arrays.save(
        ArrayMap.build([("20", ArrayChunk(0, (0, 4, 9))), ("21", ArrayChunk(1, (12,)))])
    )
    job = _job(tmp_path, after_any=("11", "20+21"), after_ok=("12", "20+21[4]", "20+21[12]"))
    lines = _directives(slurm.render_script(job, None))
    assert "#SBATCH --dependency=afterany:11:20:21,afterok:12:20_1:21_0" in lines
    assert "#SBATCH --kill-on-invalid-dep=yes" in lines
    # A chunk of a throttled split array also waits for the chunk before it.
    chunk = ArrayChunk(1, (3, 4), parallelism=1, previous="55")
    lines = _directives(slurm.render_script(_job(tmp_path, array=ArraySpec((3, 4), 1)), chunk))
    assert "#SBATCH --dependency=afterany:55" in lines
    assert dependency_spec([], ["7"]) == "afterok:7"
    assert dependency_spec([], []) == ""


def test_walltime_and_memory_in_slurm_form() -> None:
    assert walltime("90") == "01:30:00"
    assert walltime("0:30") == "00:00:30"
    assert walltime("02:00:00") == "02:00:00"
    assert walltime("2-00") == "2-00:00:00"
    assert memory("4G") == "4096M"
    assert memory("512M") == "512M"
    assert memory("100") == "100M"  # a bare number is megabytes
    assert memory("1500K") == "2M"  # rounded up


def test_a_memory_option_replaces_mem(slurm: SlurmExecutor, tmp_path: Path) -> None:
    resources = JobResources(mem="8G", options={"mem_per_cpu": "2G"})
    lines = _directives(slurm.render_script(_job(tmp_path, resources=resources), None))
    assert "#SBATCH --mem-per-cpu=2G" in lines
    assert not any(line.startswith("#SBATCH --mem=") for line in lines)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"comment": "one\ntwo"}, r"--comment has a line break"),
        ({"comment": "nul\0"}, r"--comment has a line break or NUL"),
        ({"mail_type": ["END", "FAIL\r"]}, r"--mail-type has a line break"),
        ({"p": "debug"}, r"'p' is not an sbatch long option name"),
        ({"Partition2": "x"}, r"not an sbatch long option name"),
        ({"--partition": "x"}, r"not an sbatch long option name"),
        ({"mail type": "END"}, r"not an sbatch long option name"),
        ({"x;rm -rf": "1"}, r"not an sbatch long option name"),
        ({"time": "10"}, r"'time' cannot be set: set the task's time="),
        ({"job-name": "other"}, r"'job-name' cannot be set"),
        ({"array": "0-9"}, r"'array' cannot be set"),
        ({"dependency": "afterok:1"}, r"'dependency' cannot be set"),
        ({"wrap": "echo hi"}, r"'wrap' cannot be set"),
        ({"comment": {"a": 1}}, r"'comment' is dict"),
        ({"mail_type": []}, r"'mail_type' is list"),
    ],
)
def test_bad_options_are_refused(
    slurm: SlurmExecutor, tmp_path: Path, options: dict[str, Any], match: str
) -> None:
    job = _job(tmp_path, resources=JobResources(options=options))
    with pytest.raises(BatchExecutorError, match=match) as caught:
        slurm.submit(job)
    assert "slurm job 'wf.task'" in str(caught.value)
    assert not (tmp_path / "work").exists(), "a refused job left files behind"


def test_conflicting_aliases_are_refused(slurm: SlurmExecutor, tmp_path: Path) -> None:
    resources = JobResources(options={"partition": "gpu", "queue": "cpu"})
    with pytest.raises(ConfigError, match="partition"):
        slurm.render_script(_job(tmp_path, resources=resources), None)


def test_log_directory_patterns(slurm: SlurmExecutor, tmp_path: Path) -> None:
    job = JobSpec("n", ("true",), tmp_path, tmp_path / "100% done" / "logs")
    lines = _directives(slurm.render_script(job, None))
    assert f'#SBATCH --output="{tmp_path}/100%% done/logs/%x-%j.out"' in lines
    bad = JobSpec("n", ("true",), tmp_path, tmp_path / "back\\slash")
    with pytest.raises(BatchExecutorError, match="backslash"):
        slurm.submit(bad)


def test_quoting_matches_what_real_sbatch_read() -> None:
    """quote() writes what sbatch 22.05 read back as the very same job name (recorded)."""
    name = "a \"quoted\" name #1 with 'single' and back\\slash %x"
    script = (RECORDED / "quoted_script.sh").read_text()
    assert f"#SBATCH --job-name={quote(name)}\n" in script
    assert f"#SBATCH --comment={quote('a b#c')}\n" in script
    shown = (RECORDED / "scontrol_show_job_quoted.txt").read_text()
    assert f"JobName={name}\n" in shown
    assert "Comment=a b#c" in shown
    assert quote("debug") == "debug"
    assert quote("gpu:a100:2") == "gpu:a100:2"
    assert quote("") == '""'


def test_sbatch_variables_that_would_override_the_script(tmp_path: Path) -> None:
    path = tmp_path / "job.sh"
    path.write_text(
        "#!/bin/bash\n"
        "#SBATCH --job-name=x\n#SBATCH --array=0-3\n#SBATCH --time=10\n"
        "#SBATCH --mem=10M\n#SBATCH --partition=gpu\n#SBATCH --mail-type=END\n"
        "\n#SBATCH --account=ignored-by-sbatch\necho hi\n"
    )
    found = overriding_variables(path)
    assert {
        "SBATCH_JOB_NAME",
        "SBATCH_ARRAY_INX",
        "SBATCH_TIMELIMIT",
        "SBATCH_MEM_PER_NODE",
        "SBATCH_MEM_PER_CPU",
        "SBATCH_PARTITION",
        "SBATCH_MAIL_TYPE",
        "SBATCH_WAIT",
    } <= found
    assert "SBATCH_ACCOUNT" not in found
    assert overriding_variables(tmp_path / "missing.sh") == {"SBATCH_WAIT"}


def test_dry_run_prints_the_scripts(
    slurm: SlurmExecutor,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REFLOW_MODE", "dry-run")
    monkeypatch.setenv("PATH", str(tmp_path))  # no Slurm command may run
    job = _job(tmp_path, array=ArraySpec((0, 1, 2)))
    assert slurm.submit(job) == "DRYRUN"
    out = capsys.readouterr().out
    assert "[slurm dry-run] wf.task: 1 submission(s)" in out
    assert "sbatch --parsable" in out
    assert "#SBATCH --array=0-2" in out
    assert not (tmp_path / "work").exists()


def test_aftercorr_pairs_two_arrays_task_for_task(slurm: SlurmExecutor, tmp_path: Path) -> None:
    slurm.arrays.save(ArrayMap.build([("30", ArrayChunk(0, (0, 1, 2)))]))
    job = _job(tmp_path, array=ArraySpec((0, 1, 2)), after_corr=("30",))
    lines = _directives(slurm.render_script(job, ArrayChunk(0, (0, 1, 2))))
    assert "#SBATCH --dependency=aftercorr:30" in lines
    assert "#SBATCH --kill-on-invalid-dep=yes" in lines
    assert dependency_spec(["1"], [], ["30"]) == "afterany:1,aftercorr:30"


def test_aftercorr_needs_arrays_that_pair_up(slurm: SlurmExecutor, tmp_path: Path) -> None:
    slurm.arrays.save(ArrayMap.build([("31", ArrayChunk(0, (0, 1)))]))
    job = _job(tmp_path, array=ArraySpec((0, 1, 2)), after_corr=("31",))
    with pytest.raises(BatchExecutorError, match=r"after_corr on '31'.*same element indices"):
        slurm.render_script(job, ArrayChunk(0, (0, 1, 2)))
    single = _job(tmp_path, after_corr=("31",))
    with pytest.raises(Exception, match="not an array"):
        slurm.submit(single)


def test_task_jobs_name_their_logs_after_the_task(slurm: SlurmExecutor, tmp_path: Path) -> None:
    job = _job(tmp_path, array=ArraySpec((0, 1)), log_name="process")
    lines = _directives(slurm.render_script(job, ArrayChunk(0, (0, 1))))
    logs = tmp_path / "work" / "logs"
    assert f"#SBATCH --output={logs}/process-%A_%a.out" in lines
    assert f"#SBATCH --job-name={job.name}" in lines


@pytest.mark.parametrize(
    ("export_env", "line"),
    [(True, "--export=ALL"), (False, "--export=NONE"), (["A", "B_2"], "--export=A,B_2")],
)
def test_export_env_becomes_the_export_directive(
    tmp_path: Path, slurm: SlurmExecutor, export_env: Any, line: str
) -> None:
    options = {"export_env": export_env}
    job = _job(tmp_path, resources=JobResources(options=options))
    found = [d for d in _directives(slurm.render_script(job, None)) if "--export" in d]
    assert found == [f"#SBATCH {line}"]


@pytest.mark.parametrize(
    ("options", "message"),
    [({"export": "NONE"}, "set export_env"), ({"export_env": "all"}, "export_env='all'")],
)
def test_native_export_and_a_bad_export_env_are_refused(
    tmp_path: Path, slurm: SlurmExecutor, options: dict[str, Any], message: str
) -> None:
    job = _job(tmp_path, resources=JobResources(options=options))
    with pytest.raises(BatchExecutorError, match=message):
        slurm.render_script(job, None)


def test_task_time_with_units_reaches_the_scheduler_in_its_form() -> None:
    # A walltime written with units (time="1h30m") reaches sbatch in Slurm's own form.
    from reflow_executor_slurm.script import walltime

    assert walltime("1h30m") == "01:30:00"

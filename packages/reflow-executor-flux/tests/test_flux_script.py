"""The flux submit command line: durations, idsets, logs, dependencies, options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reflow.executors import (
    BatchExecutorError,
    JobResources,
    JobSpec,
)
from reflow_executor_flux import script


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
    ("walltime", "fsd"),
    [("01:30:00", "90m"), ("00:00:02", "2s"), ("00:01:30", "90s"), ("2-00:00:00", "2880m")],
)
def test_walltimes_are_flux_standard_durations_with_a_unit(walltime: str, fsd: str) -> None:
    assert script.duration(walltime) == fsd
    assert fsd[-1] in "sm"  # a bare number would be minutes to flux submit


def test_idsets() -> None:
    assert script.idset([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    assert script.idset([3]) == "3"


def test_a_single_job() -> None:
    args = script.submit_args(
        job(log_name="task"),
        Path("/s/job.sh"),
        {"queue": "batch", "bank": "physics"},
        after_any=["11"],
        after_ok=["12", "13"],
    )
    assert args == [
        "--job-name=wf.task",
        "--ntasks=1",
        "--cores-per-task=4",
        "--time-limit=90m",
        "--output=/scratch/run/logs/task-{{id.dec}}.out",
        "--error=/scratch/run/logs/task-{{id.dec}}.err",
        "--dependency=afterany:11",
        "--dependency=afterok:12",  # one flag per dependency
        "--dependency=afterok:13",
        "--queue=batch",
        "--setattr=system.bank=physics",  # not -B, which needs flux-core 0.65
        "/s/job.sh",
    ]


def test_array_elements_name_their_logs_by_id_and_cc() -> None:
    args = script.submit_args(job(), Path("/s/job.sh"), {}, cc=[0, 1, 2, 4])
    assert "--cc=0-2,4" in args
    assert "--output=/scratch/run/logs/wf.task-{{id.dec}}_{cc}.out" in args


def test_options() -> None:
    assert script.option_args(job(), {"urgency": 20, "exclusive": True, "requires": None}) == [
        "--urgency=20",
        "--exclusive",
    ]
    assert script.option_args(job(), {"setattr": ["a=1", "b=2"]}) == [
        "--setattr=a=1",
        "--setattr=b=2",
    ]


@pytest.mark.parametrize(
    "key", ["cc", "dependency", "time_limit", "output", "job_name", "cwd", "qos"]
)
def test_options_reflow_sets_itself_are_refused(key: str) -> None:
    with pytest.raises(BatchExecutorError, match=f"submit option '{key}' cannot be set"):
        script.option_args(job(), {key: "x"})


def test_braces_are_refused_because_flux_submit_would_format_them() -> None:
    with pytest.raises(BatchExecutorError, match="substitution"):
        script.submit_args(job(log_dir=Path("/x/{a}")), Path("/s/j.sh"), {}, cc=[0])
    with pytest.raises(BatchExecutorError, match="substitution"):
        script.option_args(job(), {"queue": "{q}"})


def test_the_script_takes_its_index_from_flux_job_cc() -> None:
    text = script.body(job(env={"A": "x y"}), True, "export REFLOW_JOB_ID=5")
    assert text.startswith("#!/bin/bash\nexport REFLOW_JOB_ID=5\n")
    assert 'export REFLOW_ARRAY_INDEX="$reflow_task"' in text
    assert "FLUX_JOB_CC" in text
    assert "export A='x y'" in text
    assert text.endswith("exec python3 -c 'print('\"'\"'hi there'\"'\"')'\n")
    assert "unset REFLOW_ARRAY_INDEX" in script.body(job(), False, "")


@pytest.mark.parametrize(
    ("export_env", "rules"),
    [(True, []), (False, ["--env=-*"]), (["A", "B"], ["--env=-*", "--env=A", "--env=B"])],
)
def test_export_env_becomes_ordered_env_rules(export_env: Any, rules: list[str]) -> None:
    args = script.submit_args(job(), Path("/s/x.sh"), {"export_env": export_env})
    assert [a for a in args if a.startswith("--env")] == rules


def test_native_env_is_refused_for_export_env() -> None:
    with pytest.raises(BatchExecutorError, match="set export_env"):
        script.submit_args(job(), Path("/s/x.sh"), {"env": "-*"})


def test_an_unknown_option_is_refused_rather_than_becoming_the_command() -> None:
    # flux submit reads "--foo=a b" as the job's command (it has a space and is
    # not an option it knows), so the job script would never run.
    with pytest.raises(BatchExecutorError) as caught:
        script.submit_args(job(), Path("/s/x.sh"), {"queu": "a b"})
    assert str(caught.value) == (
        "Cannot submit flux job 'wf.task': submit option 'queu' is not a flux submit option "
        "(did you mean 'queue'?); use one of add_file, bank, begin_time, conf, exclusive, "
        "flags, gpus_per_node, gpus_per_task, input, label_io, nodes, queue, requires, "
        "rlimit, setattr, setopt, signal, taskmap, tasks_per_core, tasks_per_node, "
        "unbuffered, urgency, or give a site-specific jobspec attribute as "
        "setattr='KEY=VALUE'."
    )


def test_known_options_keep_a_value_with_spaces_in_one_argument() -> None:
    args = script.submit_args(job(), Path("/s/x.sh"), {"requires": "host:n1 or host:n2"})
    assert args[-2:] == ["--requires=host:n1 or host:n2", "/s/x.sh"]


@pytest.mark.parametrize("value", ["", "=x", "a b=1", True])
def test_setattr_needs_a_key(value: Any) -> None:
    with pytest.raises(BatchExecutorError, match=r"submit option .setattr. is .*; give KEY=VALUE"):
        script.option_args(job(), {"setattr": value})

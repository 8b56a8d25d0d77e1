"""The export_env submit option: checked where written; reflow's own variables always pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow import Workflow
from reflow.config import load_config
from reflow.errors import ConfigError, WorkflowDefinitionError
from reflow.executors.environment import ExportEnv, filtered_environment, job_variables


def test_a_bad_value_on_a_task_is_refused_at_definition_in_one_line() -> None:
    wf = Workflow("exports")
    with pytest.raises(WorkflowDefinitionError, match=r"export_env='all' in task 'simulate'"):

        @wf.job(export_env="all")
        def simulate() -> None: ...


def test_a_bad_value_in_the_config_file_is_refused_when_read(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[executor.submit_options]\nexport_env = ["A", "not a name"]\n')
    with pytest.raises(ConfigError, match=r"export_env=\['A', 'not a name'\] in \[executor"):
        load_config(path)


def test_reflow_settings_pass_but_a_job_s_own_variables_are_never_copied() -> None:
    environ = {
        "REFLOW_STORE_PATH": "/db",
        "REFLOW_CONFIG": "/c.toml",
        "REFLOW_JOB_ID": "7",  # the dispatcher's own job: the next job has another
        "REFLOW_ARRAY_INDEX": "3",
        "REFLOW_RUN_ID": "old",
        "HOME": "/home/me",
    }
    assert job_variables("run-1", environ) == {
        "REFLOW_STORE_PATH": "/db",
        "REFLOW_CONFIG": "/c.toml",
        "REFLOW_RUN_ID": "run-1",
    }


def test_filtered_environment_keeps_all_none_or_the_names() -> None:
    environ = {"A": "1", "B": "2"}
    assert filtered_environment(ExportEnv(), environ) == environ
    assert filtered_environment(ExportEnv(()), environ) == {}
    assert filtered_environment(ExportEnv(("B", "MISSING")), environ) == {"B": "2"}

"""Environment modules on the real Grid Engine cell: a real Lmod module loads in a job.

The module file is written by the test; a missing module fails the task with Lmod's own
error in its failure reason.  (SGE scripts run with ``-S /bin/bash``, not a login shell, so
the job script sources Lmod's init itself.)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from reflow import RunState
from reflow.testing.scripts import load_script

if TYPE_CHECKING:  # the fixture's type; conftest.py is not importable as a module
    pass

FLOW = """
import os
from reflow import Workflow
wf = Workflow("{name}")

@wf.job(time="00:05:00", mem="200M", modules=["{module}"])
def show() -> str:
    return os.environ["REFLOW_TEST_MODULE"]
"""


def test_an_lmod_module_loads_in_an_sge_job_and_a_missing_one_fails_the_task(
    tmp_path: Path, store: Any, executor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not Path("/usr/share/lmod/lmod/init/profile").exists():
        message = "Lmod is not installed (apt-get install lmod; .ci/run installs it)"
        if os.environ.get("REFLOW_REQUIRE_PROGRAMS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    modules = tmp_path / "modules" / "reflowtest"
    modules.mkdir(parents=True)
    (modules / "1.lua").write_text('setenv("REFLOW_TEST_MODULE", "loaded-in-sge")\n')
    monkeypatch.setenv("MODULEPATH", str(modules.parent))  # exported with the job (-V)
    monkeypatch.delenv("BASH_FUNC_module%%", raising=False)
    runs = {}
    for name, module in (("sgelmodgood", "reflowtest/1"), ("sgelmodbad", "nosuch/0")):
        loaded = load_script(tmp_path, name, FLOW.format(name=name, module=module))
        runs[name] = loaded.wf.submit(tmp_path / name, store=store, executor=executor)
    assert runs["sgelmodgood"].wait(timeout=300) is RunState.SUCCESS
    assert runs["sgelmodgood"].output("show") == "loaded-in-sge"
    assert runs["sgelmodbad"].wait(timeout=300) is RunState.FAILED
    (failure,) = runs["sgelmodbad"].status_dict()["failed_instances"]
    assert "The following module(s) are unknown" in failure["error"]
    assert "reflow: module load nosuch/0 failed" in failure["error"]

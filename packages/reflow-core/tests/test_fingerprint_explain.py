"""End to end: a helper edited in the user's package is a miss, and ``reflow explain`` names it."""

from __future__ import annotations

import io
import sys
import textwrap
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from reflow.testing.scripts import load_script

PIPELINE = """
    import fp_e2e_pkg.helpers
    from reflow import Workflow

    wf = Workflow("fp_e2e")


    @wf.job()
    def process(x: int = 5) -> int:
        return fp_e2e_pkg.helpers.scale(x)
    """


def write_helper(root: Path, body: str) -> None:
    package = root / "fp_e2e_pkg"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text(textwrap.dedent(body))


def fresh_pipeline(root: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Import the pipeline and its package afresh, as ``python pipeline.py run`` would."""
    for module in [m for m in sys.modules if m.startswith("fp_e2e_pkg")]:
        monkeypatch.delitem(sys.modules, module)
    return load_script(root, name, PIPELINE)


def explain_cli(store: Any, run_id: str, instance: str) -> str:
    from reflow.cli.main import main

    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["explain", run_id, instance, "--store-path", str(store.path)]) == 0
    return out.getvalue()


def test_an_edited_helper_in_a_package_reruns_and_explain_names_it(
    tmp_path: Path, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    write_helper(tmp_path, "def scale(x):\n    return x * 2\n")
    first = fresh_pipeline(tmp_path, "pipeline_v1", monkeypatch).wf.run_local(
        tmp_path / "run", store=store
    )
    assert first.output("process") == 10

    # A comment and a docstring only: still a hit.
    write_helper(tmp_path, 'def scale(x):\n    """Double."""\n    return x * 2  # twice\n')
    cosmetic = fresh_pipeline(tmp_path, "pipeline_v2", monkeypatch).wf.run_local(
        tmp_path / "run", store=store
    )
    assert "cache hit" in explain_cli(store, cosmetic.run_id, "process")

    write_helper(tmp_path, "def scale(x):\n    return x * 3\n")
    edited = fresh_pipeline(tmp_path, "pipeline_v3", monkeypatch).wf.run_local(
        tmp_path / "run", store=store
    )
    assert edited.output("process") == 15
    lines = explain_cli(store, edited.run_id, "process").splitlines()
    assert lines[0].startswith("process: cache miss")
    assert lines[2:] == ["  - helper fp_e2e_pkg.helpers.scale changed"]


def test_explain_says_when_a_task_is_fingerprinted_from_bytecode(
    tmp_path: Path, store: Any
) -> None:
    from reflow import Workflow

    namespace: dict[str, Any] = {}
    exec("def made(x: int = 2) -> int:\n    return x * 3\n", namespace)
    wf = Workflow("fp_bytecode")
    wf.job()(namespace["made"])
    run = wf.run_local(tmp_path / "run", store=store)
    assert run.output("made") == 6
    note = run.explain("made").splitlines()[-1]
    assert note == (
        "  Note: fingerprinted from bytecode (no source for made): "
        "a new Python version will be a cache miss."
    )

"""Provenance: recorded in run.json when a run is created, and shown by the report."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from reflow.report import write_report
from reflow.runs.context import read_context
from reflow.runs.layout import RunLayout
from reflow.runs.provenance import command_line
from reflow.testing.scripts import load_script

PIPELINE = """
from typing import Annotated
from reflow import Result, Workflow

wf = Workflow("{name}")

@wf.job()
def items(n: int = 4) -> list[int]:
    return list(range(n))

@wf.job(array=True)
def square(i: Annotated[int, Result(step="items")]) -> int:
    return i * i
"""


def load_pipeline(where: Path, name: str) -> ModuleType:
    """Write the pipeline to ``<where>/<name>.py`` and import it."""
    return load_script(where, name, PIPELINE.format(name=name))


def test_the_command_line_is_shown_as_it_was_typed() -> None:
    python = Path(sys.executable).name
    assert command_line(["pipe.py", "run", "--out", "a b"]) == f"{python} pipe.py run --out 'a b'"
    assert command_line(["/opt/venv/bin/reflow", "report", "latest"]) == "reflow report latest"
    assert command_line([]) == ""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.org",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.org",
            "PATH": "/usr/bin:/bin",
            "HOME": str(repo),
        },
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_run_json_records_the_script_its_hash_the_commit_and_a_dirty_tree(
    tmp_path: Path, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    mod = load_pipeline(repo, "prov_git")
    script = repo / "prov_git.py"
    _git(repo, "init", "-q")
    _git(repo, "add", "prov_git.py")
    _git(repo, "commit", "-q", "-m", "pipeline")
    monkeypatch.setattr(sys, "argv", ["prov_git.py", "run", "-n", "2"])

    clean = mod.wf.run_local(tmp_path / "run", store=store, n=2)
    prov = read_context(RunLayout(tmp_path / "run", clean.run_id).context_file).provenance
    assert prov["script"] == {
        "path": str(script.resolve()),
        "sha256": hashlib.sha256(script.read_bytes()).hexdigest(),
    }
    assert len(prov["git"]["commit"]) == 40 and prov["git"]["dirty"] is False
    assert prov["command"].endswith("prov_git.py run -n 2")
    assert prov["reflow"] and "reflow-core" in prov["packages"]
    assert prov["tasks"]["square"] == f"{script.resolve()}:{_line_of(script, 'square')}"

    with script.open("a") as handle:
        handle.write("# an edit not committed\n")
    dirty = mod.wf.run_local(tmp_path / "run", store=store, n=2)
    prov = read_context(RunLayout(tmp_path / "run", dirty.run_id).context_file).provenance
    assert prov["git"]["dirty"] is True

    out = tmp_path / "report.html"
    write_report(store, dirty.run_id, out)
    html = out.read_text(encoding="utf-8")
    assert "id='provenance'" in html
    assert "prov_git.py run -n 2" in html and prov["git"]["commit"] in html
    assert "uncommitted changes" in html


def _line_of(script: Path, task: str) -> int:
    """The line of the decorator above ``def task``."""
    lines = script.read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.startswith(f"def {task}(")) - 1


def test_a_run_without_provenance_says_so(tmp_path: Path, store: Any) -> None:
    mod = load_pipeline(tmp_path, "prov_none")
    run = mod.wf.run_local(tmp_path / "run", store=store, n=2)
    RunLayout(tmp_path / "run", run.run_id).context_file.unlink()
    out = tmp_path / "report.html"
    write_report(store, run.run_id, out)
    assert "recorded no provenance" in out.read_text(encoding="utf-8")


def test_parameters_are_shown_as_values_not_python_reprs(tmp_path: Path, store: Any) -> None:
    mod = load_pipeline(tmp_path, "prov_values")
    mod.wf.run_local(tmp_path / "run", store=store, n=2)
    from reflow.report.values import show_value

    assert show_value(Path("/data/in.csv")) == "/data/in.csv"
    assert show_value({"a": [Path("/x"), 1, None]}) == '{"a": ["/x", 1, null]}'
    assert show_value("x" * 50, limit=10) == "x" * 9 + "\u2026"

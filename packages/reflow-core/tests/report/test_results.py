"""report=True: a task's output embedded in the report, a large or unknown file linked."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from reflow import Workflow
from reflow.errors import WorkflowDefinitionError
from reflow.report import write_report
from reflow.report.results import EMBED_LIMIT, result_html
from reflow.testing.scripts import load_script

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)

SCRIPT = """
from pathlib import Path
from reflow import RunDir, Workflow

wf = Workflow("{name}")

@wf.job(report=True)
def plot(run_dir: RunDir) -> Path:
    path = Path(run_dir) / "plot.svg"
    path.write_text("<svg xmlns='http://www.w3.org/2000/svg' width='8' height='8'/>")
    return path

@wf.job(report=True)
def table(run_dir: RunDir) -> Path:
    path = Path(run_dir) / "table.csv"
    path.write_text("sample,reads\\nA,<b>12</b>\\n")
    return path

@wf.job(report=True)
def summary() -> dict:
    return {{"reads": 12, "out": Path("/data/out")}}

@wf.job()
def hidden() -> str:
    return "not for the report"
"""


def test_outputs_of_report_tasks_are_embedded_and_others_are_not(
    tmp_path: Path, store: Any
) -> None:
    mod = load_script(tmp_path, "results_pipe", SCRIPT.format(name="results_pipe"))
    run = mod.wf.run_local(tmp_path / "run", store=store)
    out = tmp_path / "report.html"
    write_report(store, run.run_id, out)
    html = out.read_text(encoding="utf-8")
    section = html[html.index("<section id='results'>") :]
    section = section[: section.index("</section>")]
    assert "src='data:image/svg+xml;base64," in section
    assert "<th>sample</th>" in section and "&lt;b&gt;12&lt;/b&gt;" in section
    assert "{&quot;out&quot;: &quot;/data/out&quot;, &quot;reads&quot;: 12}" in section
    assert "not for the report" not in section


def test_each_kind_of_file_and_the_limits(tmp_path: Path) -> None:
    png = tmp_path / "a.png"
    png.write_bytes(PNG)
    assert "src='data:image/png;base64," in result_html(png)
    html = tmp_path / "frag.html"
    html.write_text("<p>hello <img src='http://example.org/x.png'></p>")
    frame = result_html(html)
    assert "<iframe class='result' sandbox srcdoc=" in frame and "<p>" not in frame
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * (EMBED_LIMIT + 1))
    linked = result_html(big)
    assert "not embedded" in linked and "over the 2.0 MiB limit" in linked
    assert big.resolve().as_uri() in linked
    other = tmp_path / "a.bam"
    other.write_bytes(b"x")
    assert ".bam is not one of" in result_html(other)
    assert "no longer exists" in result_html(tmp_path / "gone.png")
    assert "first 2000 of 5000 characters" in result_html("y" * 5000)


def test_report_must_be_a_bool_on_a_task_that_returns_something() -> None:
    wf = Workflow("bad_report")
    with pytest.raises(WorkflowDefinitionError, match=r"report='yes' is not valid; give True"):

        @wf.job(report="yes")  # type: ignore[arg-type]
        def task() -> int:
            return 1

    with pytest.raises(WorkflowDefinitionError, match=r"report=True but returns None"):

        @wf.job(report=True)
        def nothing() -> None:
            return None

"""``reflow dag``: the graph of a workflow file, or of a run with its tasks' states."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Demo


def test_a_workflow_file_is_drawn_with_its_wire_modes(demo: Demo) -> None:
    done = demo.cli("dag", str(demo.script))
    assert done.code == 0, done.err
    assert done.out.splitlines() == [
        "find_inputs",
        "process[]  <- find_inputs (name: fan_out)",
        "report  <- process (outputs: gather)",
    ]


def test_a_run_is_drawn_from_the_store_with_states(demo: Demo) -> None:
    text = demo.cli("dag", demo.failed).out.splitlines()
    assert text == [
        "find_inputs  [1 SUCCESS]",
        "process[]  <- find_inputs (name: fan_out)  [FAILED: 3 SUCCESS, 1 FAILED]",
        "report  <- process (outputs: gather)  [1 SKIPPED]",
    ]
    mermaid = demo.cli("dag", demo.failed, "--format", "mermaid").out
    assert "find_inputs -->|name: fan_out| process" in mermaid
    assert "    class process failed" in mermaid
    assert "classDef failed fill:#ffcdd2" in mermaid
    dot = demo.cli("dag", demo.failed, "--format", "dot").out
    assert '"find_inputs" -> "process" [label="name: fan_out"];' in dot
    assert '"process" [style=filled, fillcolor="#ffcdd2"' in dot
    assert dot.rstrip().endswith("}")


def test_a_run_is_drawn_without_its_script(demo: Demo) -> None:
    moved = demo.script.with_suffix(".away")
    demo.script.rename(moved)
    try:
        data = json.loads(demo.cli("dag", demo.sched, "--format", "json").out)
    finally:
        moved.rename(demo.script)
    tasks = {t["name"]: t for t in data["tasks"]}
    assert tasks["process"]["result_deps"] == {
        "name": {"steps": ["find_inputs"], "modes": ["fan_out"]}
    }
    assert tasks["process"]["state"] == "SUCCESS"
    assert tasks["process"]["counts"] == {"SUCCESS": 5}


def test_a_missing_or_broken_script_is_one_line_error(demo: Demo) -> None:
    missing = demo.cli("dag", str(demo.root / "nope.py"))
    assert missing.code == 2 and "There is no workflow file" in missing.err
    broken = demo.root / "broken.py"
    broken.write_text("import reflow\nraise RuntimeError('half-written')\n")
    done = demo.cli("dag", str(broken))
    assert done.code == 2
    assert "RuntimeError: half-written" in done.err and done.err.count("\n") == 1


def _dot_strings(dot: str) -> list[str]:
    """The double-quoted strings of a DOT text, unescaped; fails on a stray quote."""
    import re

    token = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
    outside = token.sub("", dot)
    assert '"' not in outside and "\\" not in outside, outside
    return [re.sub(r"\\(.)", r"\1", m) for m in token.findall(dot)]


def test_dot_escapes_quotes_backslashes_and_line_breaks_in_names() -> None:
    from reflow.cli.render import dag_text

    # Records written before the naming rule may hold any name.
    odd = 'say "hi" \\ there'
    desc = {
        "name": 'wf "x"',
        "tasks": [
            {"name": odd, "is_array": False, "result_deps": {}, "config": {"after": []}},
            {
                "name": "two\nlines",
                "is_array": True,
                "result_deps": {'p"q': {"steps": [odd], "modes": ["fan_out"]}},
                "config": {"after": []},
            },
        ],
    }
    dot = dag_text(desc, "dot")
    assert dot.splitlines() == [
        'digraph "wf \\"x\\"" {',
        "    rankdir=TB;",
        '    "say \\"hi\\" \\\\ there" [shape=box];',
        '    "two\\nlines" [shape=box3d];',
        '    "say \\"hi\\" \\\\ there" -> "two\\nlines" [label="p\\"q: fan_out"];',
        "}",
    ]
    assert _dot_strings(dot) == [
        'wf "x"',
        odd,
        "twonlines",
        odd,
        "twonlines",
        'p"q: fan_out',
    ]  # the line break is the label escape \n; everything else reads back as given


def test_dot_of_a_run_quotes_names_and_keeps_the_counts_line_break(demo: Demo) -> None:
    dot = demo.cli("dag", demo.failed, "--format", "dot").out
    node = '"process" [style=filled, fillcolor="#ffcdd2", label="process\\n3 SUCCESS, 1 FAILED"];'
    assert f"    {node}" in dot
    assert "process" in _dot_strings(dot)

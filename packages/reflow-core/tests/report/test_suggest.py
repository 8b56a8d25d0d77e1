"""``reflow suggest RUN``: the edits for a task that asked far more memory than it used."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from reflow.cli.main import main
from reflow.testing.scripts import load_script

SCRIPT = """
import time
from typing import Annotated
from reflow import Result, Workflow

wf = Workflow("{name}")

@wf.job()
def items() -> list[int]:
    return [0, 1]

@wf.job(array=True, mem="1G", time="01:00:00")
def work(i: Annotated[int, Result(step="items")]) -> int:
    block = bytearray(50 * 1024 * 1024)  # ~50M, held while it "works" for over a second
    time.sleep(1.2)
    return len(block) + i
"""


@pytest.mark.slow
def test_suggest_prints_the_edit_with_the_line_of_the_decorator(
    tmp_path: Path, store: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    mod = load_script(tmp_path, "over_asked", SCRIPT.format(name="over_asked"))
    run = mod.wf.run_local(tmp_path / "run", store=store, max_workers=2)
    script = (tmp_path / "over_asked.py").resolve()
    line = script.read_text().splitlines().index('@wf.job(array=True, mem="1G", time="01:00:00")')
    capsys.readouterr()

    assert main(["suggest", run.run_id, "--store-path", str(store.path)]) == 0
    out = capsys.readouterr().out
    edit = re.search(
        rf'^{re.escape(str(script))}:{line + 1}: work: mem="1G" -> mem="(\d+)M" '
        r"\(peak ([\d.]+) MiB over 2 elements\)$",
        out,
        re.M,
    )
    assert edit is not None, out
    # 50M held (plus the interpreter): a few hundred megabytes at most, far below 1G.
    assert 50 <= float(edit.group(2)) <= int(edit.group(1)) <= 256
    assert f'{script}:{line + 1}: work: time="01:00:00" -> time="00:05:00"' in out
    assert "items: too short to measure" in out  # no advice on a task of milliseconds

    assert main(["suggest", run.run_id, "--json", "--store-path", str(store.path)]) == 0
    advice = {a["task"]: a for a in json.loads(capsys.readouterr().out)}
    assert [c["option"] for c in advice["work"]["changes"]] == ["mem", "time"]
    assert advice["items"]["changes"] == []

    assert main(["suggest", "no-such-run", "--store-path", str(store.path)]) == 2

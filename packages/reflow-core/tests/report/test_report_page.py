"""The HTML page: self-contained, every user string escaped, usable for large runs."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Annotated, Any

from reflow import Result, TaskState, Workflow
from reflow.report import gather, render_page, write_report
from reflow.report.timeline import TASK_CAP
from reflow.stores import NewTaskInstance, StateUpdate

EVIL = "<script>alert('x')</script>"


def _external_references(html: str) -> list[str]:
    """Anything that would make the browser fetch something."""
    found = re.findall(r"(?i)(?:https?:|ftp:|//[a-z0-9.-]+\.[a-z]{2,})", html)
    found += re.findall(r"(?i)<(?:script|link|img|iframe|object|embed|video|audio)\b", html)
    found += re.findall(r"(?i)\b(?:src|href|srcset|action)\s*=", html)
    found += re.findall(r"(?i)@import", html)
    found += [u for u in re.findall(r"url\(([^)]*)\)", html) if not u.startswith("#")]
    return found


def test_the_page_holds_the_graph_the_timeline_the_resources_and_the_failure(
    local_runs: tuple[Any, str, str], tmp_path: Path
) -> None:
    store, _, second = local_runs
    out = tmp_path / "out" / "report.html"
    write_report(store, second, out)
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert '<svg id="dag"' in html and '<svg id="timeline"' in html
    assert html.count('class="node"') == 3
    assert "i: fan_out" in html and "xs: gather" in html
    assert html.count('<g class="row"') == 6  # items, square[0..3], total
    assert html.count('class="bar cached"') == 3  # square[0..2] came from the cache
    assert "Traceback (most recent call last)" in html
    assert "&lt;script&gt;alert(&#x27;boom&#x27;)&lt;/script&gt;" in html
    assert "<script" not in html
    assert _external_references(html) == []
    assert "run_local</code>, which enforces none" in html


def test_every_user_string_is_escaped(store: Any, tmp_path: Path) -> None:
    store.insert_run(
        "evil-run", f"wf{EVIL}", "me", {"note": f"</code>{EVIL}", "run_dir": str(tmp_path)}
    )
    store.insert_task_spec(
        "evil-run", f"task{EVIL}", True, {"cpus": 1, "mem": EVIL, "time": EVIL}, []
    )
    store.insert_task_spec("evil-run", "after", False, {}, [f"task{EVIL}"])
    [iid, _] = store.insert_task_instances(
        "evil-run", [NewTaskInstance(f"task{EVIL}", 0), NewTaskInstance("after", None)]
    )
    store.apply_state_updates([StateUpdate(iid, TaskState.FAILED, error_text=f"boom {EVIL}")])
    html = render_page(gather(store, "evil-run"))
    assert "<script" not in html
    assert "alert('x')" not in html  # only ever escaped
    assert html.count("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;") >= 6
    assert _external_references(html) == []


def test_a_run_of_ten_thousand_instances_gives_a_small_file_and_says_it_aggregated(
    store: Any, tmp_path: Path
) -> None:
    wf = Workflow("big")

    @wf.job()
    def items(n: int = 10_000) -> list[int]:
        return list(range(n))

    @wf.job(array=True)
    def work(i: Annotated[int, Result(step="items")]) -> int:
        return i + 1

    @wf.job()
    def total(xs: Annotated[list[int], Result(step="work")]) -> int:
        return sum(xs)

    run = wf.run_local(tmp_path / "run", store=store, n=10_000)
    started = time.perf_counter()
    data = write_report(store, run.run_id, tmp_path / "big.html")
    seconds = time.perf_counter() - started
    html = (tmp_path / "big.html").read_text(encoding="utf-8")
    assert len(data.instances) == 10_002
    assert sum(1 for i in data.instances if i.elapsed is not None) == 10_002
    assert html.count('<g class="row"') == 3  # items, work aggregated, total
    assert "work (10000)" in html
    assert f"aggregated beyond {TASK_CAP} instances" in html
    assert "<td class='num'>10000 of 10000</td>" in html  # the figures cover every element
    assert len(html) < 200_000
    assert seconds < 10, f"the report of 10,002 instances took {seconds:.1f} s"


def test_the_report_command_writes_the_file_and_refuses_an_unknown_run(
    local_runs: tuple[Any, str, str], tmp_path: Path, capsys: Any
) -> None:
    from reflow.cli.main import main

    store, first, second = local_runs
    out = tmp_path / "r.html"
    assert main(["report", first, "-o", str(out), "--store-path", str(store.path)]) == 0
    said = capsys.readouterr().out
    assert f"Wrote the report of run {first} (5 instances, 3 tasks) to {out}" in said
    # RUN takes the same forms as in the other commands: here 'latest'.
    assert main(["report", "latest", "-o", str(out), "--store-path", str(store.path)]) == 0
    assert f"Wrote the report of run {second} (" in capsys.readouterr().out
    assert '<svg id="timeline"' in out.read_text(encoding="utf-8")
    assert main(["report", "no-such-run", "-o", str(out), "--store-path", str(store.path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("reflow: error: No run 'no-such-run'")


def test_the_report_goes_next_to_you_by_default_and_a_bad_path_is_a_clear_error(
    local_runs: tuple[Any, str, str], tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    from reflow.cli.main import main

    store, first, _ = local_runs
    monkeypatch.chdir(tmp_path)
    assert main(["report", first, "--store-path", str(store.path)]) == 0
    assert (tmp_path / f"report-{first}.html").stat().st_size > 5000
    (tmp_path / "taken").mkdir()
    assert main(["report", first, "-o", "taken", "--store-path", str(store.path)]) == 2
    err = capsys.readouterr().err
    assert "reflow: error: Cannot write the report to taken" in err and "-o" in err
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

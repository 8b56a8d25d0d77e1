"""The HTML report of real runs, opened in headless Chromium (Debian's ``chromium`` package).

The page must render the task graph and the timeline (elements present, with a
size), and nothing may leave it: every request the page makes is recorded and
only the report file itself is allowed, and the page's Content-Security-Policy
(which forbids every request) must have had nothing to block.  The graph's
geometry is read from the rendered SVG: no two nodes or labels overlap and no
edge passes under a node.  Screenshots are kept in ``REFLOW_TEST_ARTIFACTS``
(CI keeps that directory) or else in the test's temporary directory; the test
prints where.

Skipped when Chromium or the ``playwright`` package (which drives the system
browser; it downloads nothing) is missing, unless REFLOW_REQUIRE_CHROMIUM=1
(set by CI), which turns the skip into a failure.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from reflow import RunState
from reflow.executors.local.executor import LocalExecutor
from reflow.report import write_report
from reflow.report.page import CSP
from reflow.report.results import result_html
from reflow.stores.sqlite import SqliteStore
from reflow.testing.scripts import load_script

PIPELINE = """
import time
from typing import Annotated
from reflow import Result, Workflow

wf = Workflow("{name}")

@wf.job()
def items(n: int = 4) -> list[int]:
    return list(range(n))

@wf.job(array=True, cpus=2, mem="1G", time="00:10:00")
def square(i: Annotated[int, Result(step="items")]) -> int:
    time.sleep(0.1)
    if i == 3:
        raise ValueError("<script>alert('boom')</script> element " + str(i))
    return i * i

@wf.job()
def total(xs: Annotated[list[int], Result(step="square")]) -> int:
    return sum(xs)
"""


def _browser() -> str:
    """The Chromium executable, or skip (fail under REFLOW_REQUIRE_CHROMIUM=1) saying why."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    missing = []
    if path is None:
        missing.append("Chromium is not installed (Debian: apt-get install -y chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package is not installed (pip install playwright)")
    if missing:
        message = "cannot open the report in a browser: " + "; ".join(missing)
        if os.environ.get("REFLOW_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"{message} (and REFLOW_REQUIRE_CHROMIUM=1)")
        pytest.skip(message)
    assert path is not None
    return path


ROOT = Path(__file__).resolve().parents[2]

# Read from the rendered page: every node and label box, and points along every edge.
GEOMETRY_JS = """() => {
  const box = (el) => { const r = el.getBBox(); return [r.x, r.y, r.width, r.height]; };
  const nodes = [...document.querySelectorAll('#dag .node')].map(
      (g) => ({name: g.dataset.task, box: box(g.querySelector('rect'))}));
  const labels = [...document.querySelectorAll('#dag .edge-label')].map(
      (t) => ({name: t.textContent, box: box(t)}));
  const edges = [...document.querySelectorAll('#dag .edge')].map((g) => {
    const path = g.querySelector('path');
    const length = path.getTotalLength();
    const points = [];
    for (let d = 0; d <= length; d += 2) {
      const p = path.getPointAtLength(d);
      points.push([p.x, p.y]);
    }
    return {name: g.dataset.source + ' -> ' + g.dataset.target, points};
  });
  return {nodes, labels, edges};
}"""


def artifacts_dir(tmp_path: Path, name: str) -> Path:
    """Where a test keeps its screenshots: ``$REFLOW_TEST_ARTIFACTS/<name>`` or the tmp dir."""
    root = os.environ.get("REFLOW_TEST_ARTIFACTS")
    where = Path(root) / name if root else tmp_path / "artifacts"
    where.mkdir(parents=True, exist_ok=True)
    print(f"screenshots of {name}: {where}")
    return where


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def assert_graph_geometry(page: Any) -> dict[str, Any]:
    """No two nodes or labels overlap, and no point of an edge lies inside a node."""
    found: dict[str, Any] = page.evaluate(GEOMETRY_JS)
    boxes = [("node " + n["name"], n["box"]) for n in found["nodes"]]
    boxes += [("label " + n["name"], n["box"]) for n in found["labels"]]
    for i, (one, a) in enumerate(boxes):
        for two, b in boxes[i + 1 :]:
            assert not _overlap(a, b), f"{one} overlaps {two}"
    for edge in found["edges"]:
        for x, y in edge["points"]:
            for node in found["nodes"]:
                nx, ny, nw, nh = node["box"]
                inside = nx + 1 < x < nx + nw - 1 and ny + 1 < y < ny + nh - 1
                assert not inside, f"edge {edge['name']} passes under node {node['name']}"
    return found


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[tuple[Any, list[str]]]:
    """A headless Chromium page, and the list every request it makes is appended to.

    A message on the console about the Content-Security-Policy (something the
    page tried and the policy blocked) is recorded as a request too.
    """
    executable = _browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        requests: list[str] = []

        # Every request that reaches the network layer is recorded; anything that is
        # not a file: URL is refused. (Playwright's "request" event is not used: Chromium
        # sometimes reports a request its renderer blocked by the CSP, one that never
        # left the page, as a request that then failed with "csp".)
        def network(route: Any) -> None:
            url = route.request.url
            requests.append(url)
            if url.startswith("file:"):
                route.continue_()
            else:
                route.abort()

        context.route("**/*", network)
        page = context.new_page()
        page.on(
            "console",
            lambda msg: (
                requests.append(f"blocked by the CSP: {msg.text}")
                if "Content Security Policy" in msg.text
                else None
            ),
        )
        yield page, requests
        context.close()
        browser.close()


def _load(tmp_path: Path, name: str) -> ModuleType:
    return load_script(tmp_path, name, PIPELINE.format(name=name))


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "the screenshot is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.slow
@pytest.mark.parametrize("how", ["run_local", "local executor"])
def test_the_report_renders_in_chromium_and_fetches_nothing(
    tmp_path: Path, browser_page: tuple[Any, list[str]], how: str
) -> None:
    page, requests = browser_page
    store = SqliteStore(tmp_path / "manifest.db")
    store.init()
    mod = _load(tmp_path, "chromium_" + how.replace(" ", "_"))
    # A first run fills the cache; the second fans out to 4 elements, takes 3 from the
    # cache, runs one that fails, and skips the gather.
    mod.wf.run_local(tmp_path / "run", store=store, n=3)
    if how == "run_local":
        run_id = mod.wf.run_local(tmp_path / "run", store=store, on_error="continue", n=4).run_id
    else:
        executor = LocalExecutor(state_dir=tmp_path / "jobs")
        run = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=4)
        assert run.wait(timeout=120) is RunState.FAILED
        run_id = run.run_id
    report = tmp_path / "report.html"
    data = write_report(store, run_id, report)
    assert sum(1 for i in data.instances if i.cached) == 3
    assert [i.state for i in data.instances if i.label == "square[3]"] == ["FAILED"]

    url = report.resolve().as_uri()
    page.goto(url, wait_until="load")
    shot = artifacts_dir(tmp_path, f"report-{how.replace(' ', '-')}") / "report.png"
    page.screenshot(path=str(shot), full_page=True)

    width, height = _png_size(shot)
    assert width >= 1000 and height >= 900
    assert shot.stat().st_size > 30_000, "the screenshot looks blank"
    for selector, count in (
        ("#dag", 1),
        ("#dag .node", 3),
        ("#dag .edge", 2),
        ("#timeline", 1),
        ("#timeline .row", len(data.instances)),
        ("#timeline .bar.cached", 3),
        ("#failures details.failure", 1),
    ):
        elements = page.locator(selector)
        assert elements.count() == count, selector
        for n in range(count):
            box = elements.nth(n).bounding_box()
            assert box is not None and box["width"] > 0 and box["height"] > 0, selector
    run_bars = page.locator("#timeline .bar.run")
    assert run_bars.count() >= 2  # items and square[3] ran here
    assert all(run_bars.nth(n).bounding_box()["width"] > 0 for n in range(run_bars.count()))
    failure = page.locator("#failures details.failure").inner_text()
    assert "<script>alert('boom')</script>" in failure  # shown as text, never run
    assert page.evaluate("document.scripts.length") == 0
    provenance = page.locator("#provenance").inner_text()
    assert "sha256" in provenance and "reflow-store-sqlite" in provenance
    assert ("run_local" if how == "run_local" else "local") in provenance
    assert_graph_geometry(page)
    assert requests == [url], f"requests left the page: {requests}"


def _user_guide_pipeline(tmp_path: Path) -> ModuleType:
    """The user guide's pipeline (examples/pipeline.py), whose last task is report=True."""
    text = (ROOT / "examples" / "pipeline.py").read_text(encoding="utf-8")
    assert "@wf.job(report=True)" in text
    return load_script(tmp_path, "user_guide_pipeline", text)


@pytest.mark.slow
def test_the_user_guide_pipelines_report_shows_provenance_results_and_a_clean_graph(
    tmp_path: Path, browser_page: tuple[Any, list[str]]
) -> None:
    page, requests = browser_page
    store = SqliteStore(tmp_path / "manifest.db")
    store.init()
    mod = _user_guide_pipeline(tmp_path)
    run_id = mod.wf.run_local(tmp_path / "run", store=store, count=6).run_id
    report = tmp_path / "report.html"
    write_report(store, run_id, report)
    url = report.resolve().as_uri()
    page.goto(url, wait_until="load")
    where = artifacts_dir(tmp_path, "user-guide-report")
    page.screenshot(path=str(where / "report.png"), full_page=True)
    for section in ("graph", "provenance", "results", "distributions", "advice"):
        page.locator(f"#{section}").screenshot(path=str(where / f"{section}.png"))

    provenance = page.locator("#provenance").inner_text()
    assert "user_guide_pipeline.py" in provenance and "sha256" in provenance
    assert "reflow-core" in provenance and "run_local" in provenance
    results = page.locator("#results").inner_text()
    assert "6 processed: SAMPLE_000, SAMPLE_001" in results
    assert page.locator("#distributions svg.dist").count() >= 4  # 4 tasks ran, 3 figures each
    found = assert_graph_geometry(page)
    assert len(found["nodes"]) == 4 and len(found["labels"]) == 3
    assert requests == [url], f"requests left the page: {requests}"


BIG = """
from typing import Annotated
from reflow import Result, Workflow

wf = Workflow("big_report")

@wf.job()
def items(n: int = 10) -> list[int]:
    return list(range(n))

@wf.job(array=True, mem="1G")
def square(i: Annotated[int, Result(step="items")]) -> int:
    return i * i

@wf.job(array=True)
def shifted(x: Annotated[int, Result(step="square")]) -> int:
    return x + 1

@wf.job(report=True)
def total(xs: Annotated[list[int], Result(step="shifted")],
          raw: Annotated[list[int], Result(step="items")]) -> int:
    return sum(xs) + len(raw)
"""


@pytest.mark.slow
def test_the_report_of_a_ten_thousand_instance_run_renders_quickly_and_cleanly(
    tmp_path: Path, browser_page: tuple[Any, list[str]]
) -> None:
    page, requests = browser_page
    store = SqliteStore(tmp_path / "manifest.db")
    store.init()
    mod = load_script(tmp_path, "big_report", BIG)
    n = 5_000  # two arrays of 5,000: 10,002 instances
    run_id = mod.wf.run_local(tmp_path / "run", store=store, max_workers=2, n=n).run_id
    report = tmp_path / "report.html"
    started = time.monotonic()
    data = write_report(store, run_id, report)
    assert len(data.instances) == 2 * n + 2
    url = report.resolve().as_uri()
    page.goto(url, wait_until="load")
    where = artifacts_dir(tmp_path, "ten-thousand-report")
    page.screenshot(path=str(where / "report.png"), full_page=True)
    page.locator("#distributions").screenshot(path=str(where / "distributions.png"))
    assert time.monotonic() - started < 30, "the report of 10,000 instances is too slow"

    assert report.stat().st_size < 2_000_000
    assert page.locator("#distributions svg.dist").count() == 12  # 4 tasks x 3 figures
    assert page.locator("#distributions svg.dist circle").count() <= 4 * 3 * 300
    assert "square" in page.locator("#distributions").inner_text()
    total = sum(x * x + 1 for x in range(n)) + n
    assert str(total) in page.locator("#results").inner_text()
    assert "big_report.py" in page.locator("#provenance").inner_text()
    found = assert_graph_geometry(page)
    assert len(found["labels"]) == 4  # items -> total is routed past square and shifted
    assert requests == [url], f"requests left the page: {requests}"


@pytest.mark.slow
@pytest.mark.parametrize("page_policy", [True, False], ids=["in-the-report", "on-its-own"])
def test_an_embedded_html_result_can_neither_fetch_nor_run_a_script(
    tmp_path: Path, browser_page: tuple[Any, list[str]], page_policy: bool
) -> None:
    # In the report the page's policy covers the frame; the frame also carries the
    # policy itself, so a fragment copied out of the report (or a page that lost its
    # policy) still fetches nothing: "on-its-own" proves that half.
    page, requests = browser_page
    fragment = tmp_path / "fragment.html"
    fragment.write_text(
        "<p>hello</p><img src='http://example.org/x.png'>"
        "<script>document.body.append('script ran')</script>"
    )
    report = tmp_path / "page.html"
    policy = (
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">" if page_policy else ""
    )
    report.write_text(
        f"<!DOCTYPE html><html><head>{policy}</head><body>{result_html(fragment)}</body></html>"
    )
    url = report.resolve().as_uri()
    page.goto(url, wait_until="load")
    page.wait_for_timeout(300)
    (frame,) = page.frames[1:]
    assert frame.evaluate("document.body.innerText") == "hello"  # the script did not run
    fetched = [r for r in requests if not r.startswith("blocked by the CSP")]
    assert fetched == [url], f"requests left the page: {fetched}"
    assert any("example.org" in r for r in requests), "the CSP did not meet the image"

"""The HTML report of real runs, opened in headless Chromium (Debian's ``chromium`` package).

The page must render the task graph and the timeline (elements present, with a
size), and nothing may leave it: every request the page makes is recorded and
only the report file itself is allowed.  A screenshot is kept in the test's
temporary directory.

Skipped when Chromium or the ``playwright`` package (which drives the system
browser; it downloads nothing) is missing, unless REFLOW_REQUIRE_CHROMIUM=1
(set by CI), which turns the skip into a failure.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from reflow import RunState
from reflow.executors.local.executor import LocalExecutor
from reflow.report import write_report
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


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[tuple[Any, list[str]]]:
    """A headless Chromium page, and the list every request it makes is appended to."""
    executable = _browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        requests: list[str] = []
        context.on("request", lambda request: requests.append(request.url))
        # Anything that is not a file: URL is recorded above and refused here.
        context.route(
            "**/*",
            lambda route: (
                route.continue_() if route.request.url.startswith("file:") else route.abort()
            ),
        )
        yield context.new_page(), requests
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
    shot = tmp_path / "report.png"
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
    assert requests == [url], f"requests left the page: {requests}"

"""run_local's fixed costs: what the first run imports, workers never waiting for the driver."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Annotated, Any

import pytest

from reflow import Result, Workflow
from reflow.engine.local import backends
from reflow.stores.sqlite import SqliteStore

# Modules a run needs none of (a run outside a git repository, with no failure):
# each costs milliseconds of every script's first run.
NOT_IMPORTED = [
    "multiprocessing",
    "subprocess",
    "socket",
    "ctypes",
    "platform",
    "secrets",
    "difflib",
    "tempfile",
    "reflow.executors",
]


def test_the_first_run_imports_only_what_it_needs(tmp_path: Path) -> None:
    script = tmp_path / "flow.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, sys
            from typing import Annotated
            from reflow import Result, Workflow
            from reflow.stores.sqlite import SqliteStore

            wf = Workflow("imports")

            @wf.job()
            def items(n: int = 3) -> list[int]:
                return list(range(n))

            @wf.job(array=True)
            def double(i: Annotated[int, Result(step="items")]) -> int:
                return 2 * i

            store = SqliteStore(sys.argv[1])
            store.init()
            before = set(sys.modules)
            run = wf.run_local(sys.argv[2], store=store, max_workers=2)
            assert run.output("double") == [0, 2, 4]
            print(json.dumps(sorted(set(sys.modules) - before)))
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "m.db"), str(tmp_path / "run")],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    imported = json.loads(done.stdout.splitlines()[-1])
    # A script inside a git repository starts git for its provenance (nox's
    # temporary directories are inside the checkout): subprocess is needed then.
    in_repository = "GIT_DIR" in os.environ or any(
        (place / ".git").exists() for place in (tmp_path, *tmp_path.parents)
    )
    not_imported = [n for n in NOT_IMPORTED if not (in_repository and n == "subprocess")]
    unneeded = [m for m in imported if any(m == n or m.startswith(n + ".") for n in not_imported)]
    assert not unneeded, f"run_local imported {unneeded}"


def test_each_worker_holds_its_next_batch_of_an_array(
    tmp_path: Path, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker starts its next batch at once, not after the driver recorded the last one."""
    wf = Workflow("ahead")

    @wf.job()
    def items() -> list[int]:
        return list(range(40))

    @wf.job(array=True)
    def work(i: Annotated[int, Result(step="items")]) -> int:
        return i

    most = 0
    submit = backends.ProcessBackend.submit

    def counting(self: backends.ProcessBackend, batch: Any, slots: int = 1) -> None:
        nonlocal most
        submit(self, batch, slots)
        most = max(most, self.running())

    monkeypatch.setattr(backends.ProcessBackend, "submit", counting)
    run = wf.run_local(tmp_path / "run", store=store, max_workers=2)
    assert run.output("work") == list(range(40))
    assert most == 4  # two workers, each one batch running and one waiting


def test_results_are_written_while_every_worker_is_busy(tmp_path: Path, store: Any) -> None:
    """Not all at the end (where the run would wait for the write), nor only every 2 s."""
    wf = Workflow("early")
    path = str(store.path)

    @wf.job()
    def items() -> list[int]:
        return list(range(300))

    @wf.job(array=True)
    def work(i: Annotated[int, Result(step="items")]) -> int:
        if i != 280:
            time.sleep(0.002)
            return -1
        if time.monotonic() - started >= 1.5:  # a periodic write may have come
            return -2
        reader = SqliteStore(path, readonly=True)
        try:
            [run] = reader.list_run_records()
            records = reader.list_task_instance_records(run.run_id, task_name="work")
            return sum(r.state == "SUCCESS" for r in records)
        finally:
            reader.close()

    started = time.monotonic()  # the same clock in the workers
    seen = wf.run_local(tmp_path / "run", store=store, max_workers=2).output("work")[280]
    if seen == -2:
        pytest.skip("the machine is too busy: 280 elements of 2 ms took over 1.5 s")
    assert seen >= 64


def same(i: int) -> int:
    return i


@pytest.mark.parametrize(("workers", "forked"), [(1, 1), (2, 2), (4, 2)])
def test_the_first_worker_forks_one_more_ahead(workers: int, forked: int) -> None:
    backend = backends.ProcessBackend({"same": same}, max_workers=workers)
    try:
        backend.submit(("same", [(0, {"i": 0})]))
        assert len(backend.pids()) == forked  # one spare at most, none beyond max_workers
        backend.submit(("same", [(1, {"i": 1})]))
        assert len(backend.pids()) == forked  # the spare took it: no fork
        done: list[Any] = []
        while backend.running():
            done += backend.collect(timeout=30)
        assert sorted(o.output for _, outcomes, _, _ in done for o in outcomes) == [0, 1]
    finally:
        backend.shutdown()


def big(text: str) -> str:
    return text * 2


def test_large_batches_queued_behind_large_results_do_not_block() -> None:
    """The driver sends a worker's next batch while the worker sends its results.

    Both larger than a pipe holds: the driver must not wait for the worker to
    read while the worker waits for the driver to read.
    """

    def blocked(signum: int, frame: object) -> None:
        raise AssertionError("the driver and the worker blocked each other")

    backend = backends.ProcessBackend({"big": big}, max_workers=1)
    items: list[tuple[int | None, dict[str, Any]]] = [
        (i, {"text": "x" * 50_000}) for i in range(8)
    ]  # ~400 kB each way per batch
    previous = signal.signal(signal.SIGALRM, blocked)
    signal.alarm(60)  # a blocked write fails the test instead of hanging it
    try:
        for start in range(0, 8, 4):
            backend.submit(("big", items[start : start + 4]))
        done: list[Any] = []
        deadline = time.monotonic() + 60
        while backend.running() and time.monotonic() < deadline:
            done += backend.collect(timeout=1)
            if len(done) == 1:
                backend.submit(("big", items[:4]))  # a third one, as the engine would
        assert len(done) == 3, "the driver and the worker blocked each other"
        assert all(o.output == "x" * 100_000 for _, outcomes, _, _ in done for o in outcomes)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        backend.shutdown(kill=True)

"""A manifest store populated by real runs, for the tests of the ``reflow`` command.

Three runs of one workflow, in order:

``ok``      ``run_local``, 4 inputs: every instance succeeds.
``failed``  ``run_local`` with ``fail_on="sample_2"``: ``process[2]`` raises (the
            parameter changed, so every ``process`` element is a cache miss).
``sched``   submitted to the local executor, 5 inputs: ``process[0..3]`` are
            cache hits of ``ok``, ``process[4]`` runs as a job and writes logs.
"""

from __future__ import annotations

import importlib.util
import io
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from reflow import RunState

PIPELINE = """
from typing import Annotated

from reflow import Result, Workflow

wf = Workflow("demo")


@wf.job()
def find_inputs(count: int = 4) -> list[str]:
    return [f"sample_{i}" for i in range(count)]


@wf.job(array=True, array_parallelism=4)
def process(name: Annotated[str, Result(step="find_inputs")], fail_on: str = "") -> str:
    print(f"processing {name}")
    print(f"warning about {name}", file=__import__("sys").stderr)
    if name == fail_on:
        raise ValueError(f"cannot process {name}: corrupt header")
    return name.upper()


@wf.job()
def report(outputs: Annotated[list[str], Result(step="process")]) -> str:
    return ", ".join(outputs)
"""


def load_module(path: Path, source: str, name: str) -> ModuleType:
    """Write ``source`` to ``path`` and import it as module ``name``."""
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Outcome:
    """What one ``reflow`` invocation did."""

    code: int
    out: str
    err: str


@dataclass
class Demo:
    """The populated store and the ids of its runs."""

    root: Path
    store_path: Path
    script: Path
    ok: str
    failed: str
    sched: str

    def run_dir(self) -> Path:
        return self.root / "run"

    def cli(self, *argv: str) -> Outcome:
        """Run ``reflow ARGV --store-path STORE`` in this process, capturing its output."""
        return run_cli(*argv, "--store-path", str(self.store_path))


def run_cli(*argv: str) -> Outcome:
    """Run ``reflow ARGV`` in this process; stdout is a pipe-like buffer (not a terminal)."""
    from reflow.cli.main import main

    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    err = io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    out.flush()
    raw = out.buffer.getvalue()
    return Outcome(code, raw.decode("utf-8"), err.getvalue())


def populate(root: Path, module_name: str) -> Demo:
    """Make the three runs of the module docstring under ``root``."""
    from reflow.executors.local.executor import LocalExecutor
    from reflow.stores.sqlite import SqliteStore

    root.mkdir(parents=True, exist_ok=True)
    store_path = root / "store" / "manifest.db"
    store = SqliteStore(store_path)
    store.init()
    script = root / f"{module_name}.py"
    module = load_module(script, PIPELINE, module_name)
    wf = module.wf
    run_dir = root / "run"
    ok = wf.run_local(run_dir, store=store, count=4)
    failed = wf.run_local(run_dir, store=store, count=4, fail_on="sample_2", on_error="continue")
    executor = LocalExecutor(state_dir=root / "jobs")
    sched = wf.submit(run_dir, store=store, executor=executor, count=5)
    assert sched.wait(timeout=120) is RunState.SUCCESS
    store.close()
    return Demo(root, store_path, script, ok.run_id, failed.run_id, sched.run_id)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The three runs, made once per test module (read-only tests share them)."""
    root = tmp_path_factory.mktemp("reflow-cli")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REFLOW_STORE_PATH", str(root / "default-store" / "manifest.db"))
        patch.delenv("REFLOW_STORE", raising=False)  # it would win over the path
        patch.setenv("REFLOW_CONFIG", str(root / "no-config.toml"))
        (root / "no-config.toml").write_text("")
        name = f"cli_demo_{id(root)}"
        made = populate(root, name)
        yield made
        sys.modules.pop(name, None)


@pytest.fixture
def reflow_cli() -> Callable[..., Outcome]:
    """``reflow ARGV`` run in this process (see :func:`run_cli`)."""
    return run_cli


@pytest.fixture
def make_module() -> Iterator[Callable[[Path, str, str], ModuleType]]:
    """Write and import a workflow module; forgotten again after the test."""
    names: list[str] = []

    def make(path: Path, source: str, name: str) -> ModuleType:
        names.append(name)
        return load_module(path, source, name)

    yield make
    for name in names:
        sys.modules.pop(name, None)


@pytest.fixture
def gc_demo(tmp_path: Path) -> Iterator[Demo]:
    """The three runs in this test's own store, with ``ok`` marked RUNNING (a retry going on)."""
    from reflow.stores.sqlite import SqliteStore

    name = f"cli_gc_{id(tmp_path)}"
    made = populate(tmp_path, name)
    store = SqliteStore(made.store_path)
    store.update_run_status(made.ok, RunState.RUNNING)
    store.close()
    yield made
    sys.modules.pop(name, None)

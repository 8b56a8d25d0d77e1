"""The user guide's fan-out/gather pipeline, run end to end on an executor and checked.

An executor package proves that a whole run works through its scheduler, the
dispatcher jobs included, with one call in its tests::

    from reflow.testing.pipeline import run_guide_pipeline

    def test_guide_pipeline(tmp_path, fake_acme):
        guide = run_guide_pipeline(tmp_path, "acme")
        # then what only ACME shows, e.g. the array's throttle in a job script

The pipeline is the user guide's: ``find_files`` lists 20 names, ``process``
upper-cases each as an array task with ``array_parallelism=2`` (every element
records when it ran), and ``report`` gathers the 20 results.  The helper waits
for the run and checks that it succeeded, that every element's output is there
in index order, the gather's output, and that no more than 2 elements ran at
once.  It imports pytest (through :mod:`reflow.testing.executor`): import it
only from tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from reflow import RunState
from reflow.run import Run
from reflow.stores import open_store
from reflow.testing.executor import max_overlap
from reflow.testing.scripts import load_script

if TYPE_CHECKING:
    from reflow.executors.base import Executor
    from reflow.stores import Store

__all__ = [
    "GUIDE_FILES",
    "GUIDE_PARALLELISM",
    "GUIDE_PIPELINE",
    "GuideRun",
    "load_guide_workflow",
    "run_guide_pipeline",
]

GUIDE_FILES = 20
"""How many elements the ``process`` array of the guide's pipeline has."""

GUIDE_PARALLELISM = 2
"""The ``array_parallelism`` of ``process``: no more of its elements may run at once."""

GUIDE_PIPELINE = """
import json, time
from typing import Annotated
from reflow import Result, RunDir, Workflow

wf = Workflow("{name}")

@wf.job(time="00:05:00", mem="200M")
def find_files(n: int = 20) -> list[str]:
    return [f"file_{{i:02d}}" for i in range(n)]

@wf.job(array=True, array_parallelism=2, time="00:05:00", mem="200M")
def process(path: Annotated[str, Result(step="find_files")], run_dir: RunDir = RunDir()) -> str:
    start = time.time()
    time.sleep(0.3)
    (run_dir / f"span-{{path}}.json").write_text(json.dumps([start, time.time()]))
    return path.upper()

@wf.job(time="00:05:00", mem="200M")
def report(results: Annotated[list[str], Result(step="process")]) -> str:
    return f"processed {{len(results)}} files"
"""
"""The pipeline's source, with ``{name}`` for the workflow's name."""


@dataclass(frozen=True)
class GuideRun:
    """A finished, checked run of the guide's pipeline.

    Attributes
    ----------
    run : Run
        The run, for the executor-specific checks a test adds.
    spans : list of tuple of float
        When each ``process`` element started and ended (epoch seconds).
    """

    run: Run
    spans: list[tuple[float, float]]


def load_guide_workflow(
    directory: Path, name: str = "guide", *, pack: int | None = None
) -> ModuleType:
    """Write the pipeline to ``directory/<name>.py`` and import it; its workflow is ``wf``.

    Parameters
    ----------
    directory : Path
        Where the module file goes (an existing directory the jobs can read).
    name : str
        The module's and the workflow's name; job names start with it.
    pack : int or None
        ``pack=`` of ``process``: its elements per array task (``None``: not packed).

    Returns
    -------
    ModuleType
        The imported module.
    """
    source = GUIDE_PIPELINE.format(name=name)
    if pack is not None:
        source = source.replace("array_parallelism=2,", f"array_parallelism=2, pack={pack},")
    return load_script(directory, name, source)


def run_guide_pipeline(
    directory: Path,
    executor: Executor | str,
    *,
    name: str = "guide",
    store: Store | None = None,
    timeout: float = 600.0,
    pack: int | None = None,
) -> GuideRun:
    """Submit the guide's pipeline through ``executor``, wait for it, and check the result.

    Parameters
    ----------
    directory : Path
        A fresh directory the jobs can see: it gets the pipeline's module,
        the run directory ``run`` and, without ``store``, ``manifest.db``.
    executor : Executor or str
        The executor, or its entry-point name (built with its defaults).
    name : str
        The workflow's name (see :func:`load_guide_workflow`).
    store : Store or None
        The manifest store; by default a new SQLite store in ``directory``.
    timeout : float
        Seconds the run may take.
    pack : int or None
        Run ``process`` packed, this many elements per array task (see
        :func:`load_guide_workflow`); the checks are the same.

    Returns
    -------
    GuideRun
        The run and the elements' spans.

    Raises
    ------
    AssertionError
        If the run did not succeed, an output is not the expected one, or more
        than :data:`GUIDE_PARALLELISM` elements ran at once.
    TimeoutError
        If the run is not over after ``timeout`` seconds.
    """
    if store is None:
        store = open_store(directory / "manifest.db")
        store.init()
    module = load_guide_workflow(directory, name, pack=pack)
    run: Run = module.wf.submit(directory / "run", store=store, executor=executor, n=GUIDE_FILES)
    state = run.wait(timeout=timeout)
    _check(state is RunState.SUCCESS, f"the run ended {state.value}, not success")
    processed = run.output("process")
    expected = [f"FILE_{i:02d}" for i in range(GUIDE_FILES)]
    _check(processed == expected, f"process gave {processed!r}, not {expected!r}")
    report = run.output("report")
    _check(report == f"processed {GUIDE_FILES} files", f"report gave {report!r}")
    spans = [json.loads(p.read_text()) for p in run.run_dir.glob("span-*.json")]
    _check(len(spans) == GUIDE_FILES, f"{len(spans)} elements recorded a span, not {GUIDE_FILES}")
    pairs = [(float(a), float(b)) for a, b in spans]
    most = max_overlap(pairs)
    _check(
        most <= GUIDE_PARALLELISM,
        f"{most} elements ran at once, more than array_parallelism={GUIDE_PARALLELISM}",
    )
    return GuideRun(run=run, spans=pairs)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise AssertionError(message)

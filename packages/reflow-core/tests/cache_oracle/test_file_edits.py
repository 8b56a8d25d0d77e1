"""Files behind ``Path`` values: the cached rerun must give what the forced rerun gives.

A user's data lives in files named by ``Path`` parameters, and the docs advise
a task that makes a file to return its ``Path``. Rewriting such a file under
the same name, adding a file to an input directory, or naming a file by a
relative path must never let a stale result through the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .batch import Batch, Case
from .harness import (
    COMMANDS,
    NOT_CHECKED,
    RUN,
    SUBMIT,
    Command,
    Project,
    Rewrite,
    Trial,
    case_params,
    pipeline,
    trial,
)

pytestmark = pytest.mark.slow  # each command runs the workflow three times

READ_SOURCE = """
@wf.job()
def final(source: Path) -> str:
    ran("final")
    return source.read_text()
"""

READ_SOURCES = """
@wf.job()
def final(sources: list[Path]) -> list[str]:
    ran("final")
    return [s.read_text() for s in sources]
"""

READ_OPTIONAL = """
@wf.job()
def final(source: Optional[Path] = None) -> str:
    ran("final")
    return "none" if source is None else source.read_text()
"""

LIST_DIRECTORY = """
@wf.job()
def final(inputs: Path) -> list[str]:
    ran("final")
    return sorted(p.name for p in inputs.iterdir())
"""

READ_DIRECTORY = """
@wf.job()
def final(inputs: Path) -> list[str]:
    ran("final")
    return [p.read_text() for p in sorted(inputs.iterdir())]
"""

# The Snakemake tutorial's shape: each step writes a file in the run directory
# and returns its Path, as docs/cache.md advises; the last one reads the calls.
# Each file is named after its task, so that the cases sharing a batch (and a
# run directory) write files of their own.
STEPS = """
@wf.job()
def map_reads(reads: Path, run_dir: RunDir = RunDir()) -> Path:
    ran("map_reads")
    out = run_dir / "map_reads.txt"
    out.write_text(reads.read_text().upper())
    return out


@wf.job()
def sort_reads(
    mapped: Annotated[Path, Result(step="map_reads")], run_dir: RunDir = RunDir()
) -> Path:
    ran("sort_reads")
    out = run_dir / "sort_reads.txt"
    out.write_text(" ".join(sorted(mapped.read_text().split())))
    return out


@wf.job()
def call_variants(
    sorted_reads: Annotated[Path, Result(step="sort_reads")],
    min_count: int = 1,
    run_dir: RunDir = RunDir(),
) -> Path:
    ran("call_variants")
    words = sorted_reads.read_text().split()
    out = run_dir / "call_variants.txt"
    out.write_text(" ".join(w for w in sorted(set(words)) if words.count(w) >= min_count))
    return out


@wf.job()
def final(calls: Annotated[Path, Result(step="call_variants")]) -> str:
    ran("final")
    return calls.read_text()
"""


CASES = [
    Case(
        "path-parameter-rewritten-same-size",
        READ_SOURCE,
        Rewrite("data/in.txt", "bbbb"),
        data={"data/in.txt": "aaaa"},
        before="aaaa",
        after="bbbb",
        args=("--source", "{root}/data/in.txt"),
    ),
    Case(
        "path-parameter-rewritten-other-size",
        READ_SOURCE,
        Rewrite("data/in.txt", "bbbbbbbb"),
        data={"data/in.txt": "aaaa"},
        before="aaaa",
        after="bbbbbbbb",
        args=("--source", "{root}/data/in.txt"),
    ),
    Case(
        "path-list-parameter-one-rewritten",
        READ_SOURCES,
        Rewrite("data/b.txt", "bb"),
        data={"data/a.txt": "a", "data/b.txt": "b"},
        before=["a", "b"],
        after=["a", "bb"],
        args=("--sources", "{root}/data/a.txt", "{root}/data/b.txt"),
    ),
    Case(
        "optional-path-parameter-rewritten",
        READ_OPTIONAL,
        Rewrite("data/in.txt", "bbbbbbbb"),
        data={"data/in.txt": "aaaa"},
        before="aaaa",
        after="bbbbbbbb",
        args=("--source", "{root}/data/in.txt"),
    ),
    Case(
        "file-added-to-input-directory",
        LIST_DIRECTORY,
        Rewrite("data/c.fq", "c"),
        data={"data/a.fq": "a", "data/b.fq": "b"},
        before=["a.fq", "b.fq"],
        after=["a.fq", "b.fq", "c.fq"],
        args=("--inputs", "{root}/data"),
    ),
    Case(
        "file-in-input-directory-rewritten",
        READ_DIRECTORY,
        Rewrite("data/b.fq", "B"),
        data={"data/a.fq": "a", "data/b.fq": "b"},
        before=["a", "b"],
        after=["a", "B"],
        args=("--inputs", "{root}/data"),
    ),
    Case(
        "upstream-forced-rewrites-its-output-file",
        STEPS,
        # The user knows the reads changed and forces the mapping, as the docs advise.
        Rewrite("data/reads.txt", "d a a"),
        data={"data/reads.txt": "c a b a"},
        before="A B C",
        after="A D",
        args=("--reads", "{root}/data/reads.txt"),
        force_tasks=("map_reads",),
    ),
    Case(
        "middle-parameter-changed-rewrites-its-output-file",
        STEPS,
        (),
        data={"data/reads.txt": "c a b a"},
        before="A B C",
        after="A",
        args=("--reads", "{root}/data/reads.txt"),
        args_after=("--reads", "{root}/data/reads.txt", "--min-count", "2"),
    ),
    Case(
        "parameter-changed-upstream-output-file-unchanged-name",
        STEPS,
        (),
        data={"data/reads.txt": "c a b a", "data/other.txt": "e e f"},
        before="A B C",
        after="E F",
        args=("--reads", "{root}/data/reads.txt"),
        args_after=("--reads", "{root}/data/other.txt"),
    ),
]


BATCH = Batch(CASES)


@pytest.mark.parametrize(("case", "command"), case_params(CASES))
def test_cached_rerun_after_a_file_edit_equals_the_forced_rerun(
    trials: Callable[[Command], Trial], case: Case, command: Command
) -> None:
    trials(command).check_edit(BATCH.task(case), before=case.before, after=case.after)


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_a_path_parameter_stays_a_hit_when_another_file_changes(
    tmp_path: Path, command: Command
) -> None:
    project = Project(
        tmp_path,
        {"pipeline.py": pipeline(READ_SOURCE), "data/in.txt": "aaaa", "data/x.txt": "x"},
    )
    source = ["--source", str(project.path("data/in.txt"))]
    trial(project, command, Rewrite("data/x.txt", "y"), args=source).check_hit(
        "final", value="aaaa"
    )


# A relative Path names a file under the directory the command was run from,
# under `run` and under `submit` alike. The submitted run's directory holds a
# decoy of the same name, which a job that resolves the path against its own
# working directory (the run directory) would read.
RELATIVE = {
    "pipeline.py": pipeline(READ_SOURCE),
    "in.txt": "project",
    f"runs/{SUBMIT.name}/in.txt": "decoy",
}


@pytest.mark.parametrize(
    ("cold", "then"), [(RUN, SUBMIT), (SUBMIT, RUN)], ids=["run-then-submit", "submit-then-run"]
)
def test_a_relative_path_means_the_same_file_under_run_and_submit(
    tmp_path: Path, cold: Command, then: Command
) -> None:
    project = Project(tmp_path, RELATIVE)
    runs = trial(
        project, then, lambda project: None, args=["--source", "in.txt"], cold_command=cold
    )
    # Today a submitted job reads the decoy: what a cold submit gives is the bug itself.
    runs.check_edit("final", before="project" if cold is RUN else NOT_CHECKED, after="project")

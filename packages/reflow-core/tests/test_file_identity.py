"""Files are part of the identity: a Path counts by what is on disk, not only by its name.

The user's guarantee under test: a cached rerun returns what a forced rerun
would, whatever was done to the files a parameter, an input or an output
names; and a relative path means the same file under ``run`` and ``submit``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pytest

from reflow import Result, Workflow
from reflow.cache.filestate import state_of
from reflow.cache.identity import hash_with_files, value_hash
from reflow.config import Config
from reflow.errors import ConfigError, WorkflowDefinitionError
from reflow.manifest import CODEC
from reflow.testing.calls import CallLog
from reflow.testing.scripts import load_script


@dataclass(frozen=True)
class Sample:
    name: str
    reads: Path
    extra: list[Path]


SHAPES: dict[str, Callable[[Path], Any]] = {
    "Path": lambda p: p,
    "list[Path]": lambda p: [p],
    "tuple": lambda p: ("label", p),
    "dict[str, Path]": lambda p: {"reads": p},
    "Optional[Path] set": lambda p: p,
    "dataclass": lambda p: Sample("s1", p, []),
    "nested": lambda p: {"samples": [Sample("s1", Path("/nonexistent/x"), [p])]},
}


def rewrite(path: Path, text: str) -> None:
    """Write ``text`` and move the modification time on, as a later edit would."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    if path.stat().st_mtime_ns <= before:  # a coarse-clock file system
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


# -- hashing values -------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1.5, "in.txt", [1, 2, {"a": None}], {"type": "path"}])
def test_values_without_paths_keep_the_hash_they_always_had(value: Any) -> None:
    # Existing caches stay valid: a Path-free value hashes as its canonical text.
    expected = hashlib.sha256(CODEC.canonical_dumps(value).encode()).hexdigest()
    assert value_hash(value) == expected
    assert hash_with_files(value, "content") == (expected, [])


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_container_shape_counts_the_file_it_names(shape: str, tmp_path: Path) -> None:
    f = tmp_path / "in.txt"
    f.write_text("one")
    value = SHAPES[shape](f)
    before = value_hash(value)
    assert value_hash(value) == before  # nothing changed: same hash
    rewrite(f, "three")
    assert value_hash(value) != before
    assert value_hash(value, policy="path") == value_hash(SHAPES[shape](f), policy="path")


def test_optional_path_set_to_none_names_no_file() -> None:
    assert hash_with_files(None, "stat")[1] == []


def test_dict_order_does_not_change_the_hash(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("a")
    b.write_text("bb")
    assert value_hash({"x": a, "y": b}) == value_hash({"y": b, "x": a})


def test_stat_sees_a_touch_content_does_not(tmp_path: Path) -> None:
    f = tmp_path / "in.txt"
    f.write_text("same")
    stat_before, content_before = value_hash(f), value_hash(f, policy="content")
    info = f.stat()
    os.utime(f, ns=(info.st_atime_ns, info.st_mtime_ns + 5_000_000_000))
    assert value_hash(f) != stat_before
    assert value_hash(f, policy="content") == content_before
    f.write_text("diff")  # same size, other bytes
    assert value_hash(f, policy="content") != content_before


def test_path_policy_ignores_the_file(tmp_path: Path) -> None:
    f = tmp_path / "in.txt"
    f.write_text("one")
    before = value_hash(f, policy="path")
    rewrite(f, "three")
    f.unlink()
    assert value_hash(f, policy="path") == before


@pytest.mark.parametrize("policy", ["stat", "content"])
def test_a_directory_counts_by_every_file_below_it(policy: str, tmp_path: Path) -> None:
    reads = tmp_path / "reads"
    (reads / "lane1").mkdir(parents=True)
    (reads / "a.fastq").write_text("ACGT")
    (reads / "lane1" / "b.fastq").write_text("TTGA")
    before = value_hash(reads, policy=policy)
    (reads / "c.fastq").write_text("GGCC")  # a FASTQ added to the input directory
    added = value_hash(reads, policy=policy)
    assert added != before
    rewrite(reads / "lane1" / "b.fastq", "TTGAX")  # a nested file edited
    assert value_hash(reads, policy=policy) != added
    state = state_of(reads, policy)
    assert (state["kind"], state["files"], state["path"]) == ("dir", 3, str(reads))


def test_a_missing_path_hashes_as_missing_and_creating_it_is_a_change(tmp_path: Path) -> None:
    f = tmp_path / "later.txt"
    digest, states = hash_with_files(f, "stat")
    assert states == [{"path": str(f), "kind": "missing"}]
    f.write_text("here now")
    assert value_hash(f) != digest


def test_a_relative_path_is_the_file_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "in.txt").write_text(name * 3)
    monkeypatch.chdir(tmp_path / "one")
    in_one = value_hash(Path("in.txt"))
    monkeypatch.chdir(tmp_path / "two")
    assert value_hash(Path("in.txt")) != in_one


# -- the option -------------------------------------------------------------------


def test_bad_cache_inputs_on_a_job_names_the_allowed_values() -> None:
    wf = Workflow("bad_policy")
    with pytest.raises(WorkflowDefinitionError) as err:

        @wf.job(cache_inputs="sha")
        def task() -> int:
            return 1

    assert str(err.value) == (
        "Task 'task': cache_inputs='sha' is not valid; use one of 'stat', 'content', 'path'."
    )


def test_bad_cache_inputs_in_the_config_names_the_file_and_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        Config({"cache": {"inputs": "mtime"}}, source=tmp_path / "config.toml")
    assert str(err.value) == (
        f"cache.inputs='mtime' in the configuration file {tmp_path / 'config.toml'} is not "
        "valid; use one of 'stat', 'content', 'path'."
    )


def _reader(name: str, config: Config | None = None, **job: Any) -> tuple[Workflow, CallLog]:
    wf = Workflow(name, config=config)
    # Tasks run in worker processes: what they note goes through a file.
    seen = CallLog(Path(tempfile.mkdtemp()) / "seen.jsonl")

    @wf.job(**job)
    def read(source: Path) -> str:
        seen.append(source.read_text())
        return source.read_text()

    return wf, seen


def test_a_rewritten_parameter_file_is_a_miss_and_explain_names_it(
    tmp_path: Path, store: Any
) -> None:
    src = tmp_path / "in.txt"
    src.write_text("0123456789")
    wf, seen = _reader("param_file")
    wf.run_local(tmp_path / "run", store=store, source=src)
    again = wf.run_local(tmp_path / "run", store=store, source=src)
    assert seen == ["0123456789"] and again.output("read") == "0123456789"
    rewrite(src, "01234567890123")
    changed = wf.run_local(tmp_path / "run", store=store, source=src)
    assert changed.output("read") == "01234567890123"
    text = changed.explain("read")
    assert f"parameter 'source': file {src} changed (size 10 -> 14, modified " in text


@pytest.mark.parametrize(
    ("how", "reruns_on_touch"),
    [
        ({}, True),
        ({"cache_inputs": "content"}, False),
        ({"config": Config({"cache": {"inputs": "content"}})}, False),
        ({"cache_inputs": "stat", "config": Config({"cache": {"inputs": "content"}})}, True),
    ],
)
def test_the_job_option_wins_over_the_config_default(
    how: dict[str, Any], reruns_on_touch: bool, tmp_path: Path, store: Any
) -> None:
    src = tmp_path / "in.txt"
    src.write_text("data")
    wf, seen = _reader("policy_choice", **how)
    wf.run_local(tmp_path / "run", store=store, source=src)
    info = src.stat()
    os.utime(src, ns=(info.st_atime_ns, info.st_mtime_ns + 5_000_000_000))
    wf.run_local(tmp_path / "run", store=store, source=src)
    assert len(seen) == (2 if reruns_on_touch else 1)


def test_path_policy_keeps_a_stale_hit(tmp_path: Path, store: Any) -> None:
    src = tmp_path / "in.txt"
    src.write_text("old")
    wf, seen = _reader("path_policy", cache_inputs="path")
    wf.run_local(tmp_path / "run", store=store, source=src)
    rewrite(src, "new!")
    assert wf.run_local(tmp_path / "run", store=store, source=src).output("read") == "old"
    assert seen == ["old"]


def test_a_relative_path_parameter_is_recorded_absolute(
    tmp_path: Path, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "in.txt").write_text("abc")
    monkeypatch.chdir(tmp_path)
    wf = Workflow("relative")
    got = CallLog(tmp_path / "got.jsonl")

    @wf.job()
    def read(source: Path = Path("in.txt")) -> str:
        got.append(str(source))
        return source.read_text()

    run = wf.run_local(tmp_path / "run", store=store, source=Path("sub/../in.txt"))
    assert got == [str(tmp_path / "in.txt")]
    assert store.get_run_parameters(run.run_id)["source"] == tmp_path / "in.txt"
    wf.run_local(tmp_path / "run", store=store)  # the default: the same file, a hit
    assert len(got) == 1


def test_list_and_optional_path_parameters_are_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    wf = Workflow("many_paths")

    @wf.job()
    def read(inputs: list[Path], extra: Path | None = None) -> int:
        return len(inputs)

    values = wf.check_parameters({"inputs": ["a.txt", Path("b/c.txt")], "extra": "d"})
    assert values == {
        "inputs": [tmp_path / "a.txt", tmp_path / "b" / "c.txt"],
        "extra": tmp_path / "d",
    }
    assert wf.check_parameters({"inputs": []})["extra"] is None


# -- outputs: the Snakemake tutorial's shape --------------------------------------

SNAKE = """
from pathlib import Path
from typing import Annotated

from reflow import Result, RunDir, Workflow

wf = Workflow("{name}")


@wf.job()
def samples(reads: Path) -> list[Path]:
    return sorted(reads.glob("*.fastq"))


@wf.job(array=True)
def bwa_map(fastq: Annotated[Path, Result(step="samples")], run_dir: RunDir = RunDir()) -> Path:
    out = run_dir / (fastq.stem + ".bam")
    out.write_text("mapped " + fastq.read_text())
    return out


@wf.job(array=True)
def sort(bam: Annotated[Path, Result(step="bwa_map")], order: str = "coord") -> Path:
    out = bam.with_suffix(".sorted.bam")
    out.write_text(f"sorted by {{order}}: " + bam.read_text())
    return out


@wf.job(array=True)
def index(bam: Annotated[Path, Result(step="sort")]) -> Path:
    out = bam.with_suffix(".bai")
    out.write_text("index of " + bam.name)
    return out


@wf.job()
def call(
    bams: Annotated[list[Path], Result(step="sort")],
    indexes: Annotated[list[Path], Result(step="index")],
    run_dir: RunDir = RunDir(),
) -> Path:
    out = run_dir / "calls.vcf"
    out.write_text("\\n".join(b.read_text() for b in bams))
    return out


if __name__ == "__main__":
    raise SystemExit(wf.cli())
"""


def ran(store: Any, run_id: str) -> dict[str, int]:
    """Task -> how many of its instances ran (were not taken from the cache)."""
    out: dict[str, int] = {}
    for record in store.list_task_instance_records(run_id):
        if record.cache_info.get("status") != "hit":
            out[record.task_name] = out.get(record.task_name, 0) + 1
    return out


@pytest.fixture
def reads(tmp_path: Path) -> Path:
    folder = tmp_path / "reads"
    folder.mkdir()
    for name, seq in (("A", "ACGT"), ("B", "TTGA")):
        (folder / f"{name}.fastq").write_text(seq)
    return folder


def test_rewritten_outputs_rerun_everything_downstream(
    tmp_path: Path, store: Any, reads: Path
) -> None:
    wf = load_script(tmp_path, "snake_local", SNAKE.format(name="snake_local")).wf
    run_dir = tmp_path / "run"
    vcf = run_dir / "calls.vcf"

    def go(**options: Any) -> dict[str, int]:
        return ran(store, wf.run_local(run_dir, store=store, reads=reads, **options).run_id)

    everything = {"samples": 1, "bwa_map": 2, "sort": 2, "index": 2, "call": 1}
    assert go() == everything
    assert go() == {}  # unchanged files are hits, and stay hits
    forced = wf.run_local(run_dir, store=store, reads=reads, force_tasks=["bwa_map"])
    assert ran(store, forced.run_id) == {"bwa_map": 2, "sort": 2, "index": 2, "call": 1}
    assert forced.explain("sort", 0).endswith(
        f"input 'bam' changed: upstream output file {run_dir / 'A.bam'} changed "
        "('bwa_map' ran again in this run)"
    )
    # A changed parameter of a middle task re-runs what follows, and the result is new.
    assert go(order="name") == {"sort": 2, "index": 2, "call": 1}
    assert vcf.read_text() == "sorted by name: mapped ACGT\nsorted by name: mapped TTGA"
    # A FASTQ added to the input directory: the lister runs, and one new element.
    (reads / "C.fastq").write_text("GGCC")
    added = wf.run_local(run_dir, store=store, reads=reads, order="name")
    changed_chain = {"samples": 1, "bwa_map": 1, "sort": 1, "index": 1, "call": 1}
    assert ran(store, added.run_id) == changed_chain
    assert f"parameter 'reads': directory {reads} changed (2 -> 3 files, size 8 -> 12, " in (
        added.explain("samples")
    )
    # A FASTQ edited: only its own chain runs again.
    rewrite(reads / "B.fastq", "TTGAA")
    assert go(order="name") == changed_chain
    assert "mapped TTGAA" in vcf.read_text()


def test_a_deleted_or_edited_output_is_not_served_from_the_cache(
    tmp_path: Path, store: Any, reads: Path
) -> None:
    wf = load_script(tmp_path, "snake_stale", SNAKE.format(name="snake_stale")).wf
    run_dir = tmp_path / "run"
    wf.run_local(run_dir, store=store, reads=reads)
    sorted_a = run_dir / "A.sorted.bam"
    sorted_a.unlink()
    run = wf.run_local(run_dir, store=store, reads=reads)
    assert ran(store, run.run_id) == {"sort": 1, "index": 1, "call": 1}
    assert sorted_a.read_text() == "sorted by coord: mapped ACGT"
    assert f"{sorted_a} (deleted); so the task ran again." in run.explain("sort", 0)
    rewrite(run_dir / "calls.vcf", "edited by hand")
    again = wf.run_local(run_dir, store=store, reads=reads)
    assert ran(store, again.run_id) == {"call": 1}
    assert (run_dir / "calls.vcf").read_text().startswith("sorted by coord")


@pytest.mark.parametrize("workers", [1, 2])
def test_content_policy_stops_at_an_identical_rewrite(
    workers: int, tmp_path: Path, store: Any
) -> None:
    # Under "content", a task re-run that writes the same bytes keeps its output
    # hash, so what follows it is still a hit (under "stat" it would run); the
    # policy reaches the worker processes that hash outputs too.
    wf = Workflow("cutoff")
    used = CallLog(tmp_path / "used.jsonl")

    @wf.job(cache_inputs="content")
    def make() -> Path:
        out = tmp_path / "made.txt"
        out.write_text("same bytes")
        return out

    @wf.job()
    def use(made: Annotated[Path, Result(step="make")]) -> str:
        used.append(made.read_text())
        return made.read_text()

    wf.run_local(tmp_path / "run", store=store)
    again = wf.run_local(tmp_path / "run", store=store, force_tasks=["make"], max_workers=workers)
    assert used == ["same bytes"]
    assert again.explain("use").startswith("use: cache hit")


# -- through the command line -------------------------------------------------------


def cli(cwd: Path, script: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, str(script), *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    return done


def _runs(store_path: Path, name: str) -> list[str]:
    from reflow.stores.sqlite import SqliteStore

    with SqliteStore(store_path) as st:
        return [r.run_id for r in reversed(st.list_run_records(graph_name=name))]


def test_the_chain_through_the_command_line(
    tmp_path: Path, reads: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reflow.stores.sqlite import SqliteStore

    db = tmp_path / "cli.db"
    monkeypatch.setenv("REFLOW_STORE_PATH", str(db))
    script = tmp_path / "snake.py"
    script.write_text(textwrap.dedent(SNAKE.format(name="snake_cli")))
    args = ("run", "--run-dir", "out", "--reads", "reads")  # both relative to the cwd
    cli(tmp_path, script, *args)
    cli(tmp_path, script, *args, "--force-tasks", "bwa_map")
    cli(tmp_path, script, *args, "--order", "name")
    first, forced, reordered = _runs(db, "snake_cli")
    with SqliteStore(db) as st:
        assert ran(st, forced) == {"bwa_map": 2, "sort": 2, "index": 2, "call": 1}
        assert ran(st, reordered) == {"sort": 2, "index": 2, "call": 1}
        assert st.get_run_parameters(first)["reads"] == reads
    assert (tmp_path / "out" / "calls.vcf").read_text().startswith("sorted by name")


READ = """
from pathlib import Path
from reflow import Workflow

wf = Workflow("relread")


@wf.job()
def read(source: Path) -> str:
    return f"{source}={source.read_text()}"


if __name__ == "__main__":
    raise SystemExit(wf.cli())
"""


def test_a_relative_path_means_the_same_file_under_run_and_submit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reflow.stores.sqlite import SqliteStore

    db = tmp_path / "rel.db"
    monkeypatch.setenv("REFLOW_STORE_PATH", str(db))
    monkeypatch.setenv("REFLOW_LOCAL_STATE", str(tmp_path / "jobs"))
    work = tmp_path / "work"
    work.mkdir()
    (work / "in.txt").write_text("from the shell's directory")
    script = tmp_path / "relread.py"
    script.write_text(textwrap.dedent(READ))
    cli(work, script, "run", "--run-dir", str(tmp_path / "r1"), "--source", "in.txt")
    cli(
        work,
        script,
        *("submit", "--run-dir", str(tmp_path / "r2"), "--executor", "local"),
        *("--force", "--wait", "--source", "in.txt"),
    )
    run, submitted = _runs(db, "relread")
    with SqliteStore(db) as st:
        outputs = [st.get_task_instance_record(r, "read", None) for r in (run, submitted)]
        params = [st.get_run_parameters(r)["source"] for r in (run, submitted)]
    expected = f"{work / 'in.txt'}=from the shell's directory"
    assert [o.output for o in outputs if o is not None] == [expected, expected]
    assert params == [work / "in.txt", work / "in.txt"]


def test_an_unreadable_file_is_a_state_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "private").mkdir()
    f = tmp_path / "private" / "secret.txt"
    f.write_text("x")
    readable = value_hash(f, policy="content")

    def refuse(self: Path, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)
    assert state_of(f, "content")["sha256"] == "unreadable"
    assert state_of(f.parent, "content")["files"] == 1
    assert value_hash(f, policy="content") != readable


# -- scheduler mode -----------------------------------------------------------------

CUTOFF = """
from pathlib import Path
from typing import Annotated

from reflow import Result, RunDir, Workflow

wf = Workflow("{name}")


@wf.job(cache_inputs="content")
def make(run_dir: RunDir = RunDir()) -> Path:
    out = run_dir / "made.txt"
    out.write_text("same bytes")
    return out


@wf.job()
def use(made: Annotated[Path, Result(step="make")]) -> str:
    return made.read_text()
"""


def test_submitted_jobs_hash_outputs_as_run_does(tmp_path: Path, store: Any, reads: Path) -> None:
    from reflow import RunState
    from reflow.executors.local.executor import LocalExecutor

    executor = LocalExecutor(state_dir=tmp_path / "jobs")
    snake = load_script(tmp_path, "snake_sub", SNAKE.format(name="snake_sub")).wf
    first = snake.submit(tmp_path / "run", store=store, executor=executor, reads=reads)
    assert first.wait(timeout=120) is RunState.SUCCESS
    forced = snake.submit(
        tmp_path / "run", store=store, executor=executor, reads=reads, force_tasks=["bwa_map"]
    )
    assert forced.wait(timeout=120) is RunState.SUCCESS
    assert ran(store, forced.run_id) == {"bwa_map": 2, "sort": 2, "index": 2, "call": 1}
    # The workers hashed outputs under each task's policy: run_local agrees, all hits.
    cutoff = load_script(tmp_path, "cutoff_sub", CUTOFF.format(name="cutoff_sub")).wf
    sub = cutoff.submit(tmp_path / "run", store=store, executor=executor)
    assert sub.wait(timeout=120) is RunState.SUCCESS
    local = cutoff.run_local(tmp_path / "run", store=store)
    assert ran(store, local.run_id) == {}
    again = cutoff.submit(tmp_path / "run", store=store, executor=executor, force_tasks=["make"])
    assert again.wait(timeout=120) is RunState.SUCCESS
    assert ran(store, again.run_id) == {"make": 1}


def test_a_whole_array_recorded_before_file_checks_is_checked_element_by_element(
    tmp_path: Path, store: Any, reads: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reflow.cache.planning import Planner

    def record_always(
        self: Planner, name: str, identity: str, outputs: Any, element_key: str = ""
    ) -> None:  # the whole-array identity only, whatever the outputs hold
        self.store.record_array_identity(self.run_id, name, identity, len(outputs))

    wf = load_script(tmp_path, "snake_old", SNAKE.format(name="snake_old")).wf
    with monkeypatch.context() as patch:  # as a store written by an older reflow
        patch.setattr(Planner, "remember_array", record_always)
        wf.run_local(tmp_path / "run", store=store, reads=reads)
    (tmp_path / "run" / "B.sorted.bam").unlink()
    run = wf.run_local(tmp_path / "run", store=store, reads=reads)
    assert ran(store, run.run_id) == {"sort": 1, "index": 1, "call": 1}
    assert (tmp_path / "run" / "B.sorted.bam").exists()

"""Packed tasks submitted ahead, one rule for marked submissions, and ``pack="auto"`` (local)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from reflow import RunState, TaskState
from reflow.engine.scheduler.autopack import MAX_PACK, TARGET, auto_pack, choose
from reflow.engine.scheduler.dispatcher import Dispatcher
from reflow.engine.scheduler.forward import AheadJobs
from reflow.executors.local.executor import LocalExecutor
from reflow.runs.layout import RunLayout
from reflow.stores import StateUpdate
from reflow.testing.ahead import AHEAD_PIPELINE, ahead_total, stop_after_first_wave
from reflow.testing.scripts import load_script

# process and clean packed by 3; clean[x] sleeps while a file slowclean-<x> exists
# beside the run (a test holds a pack in its first element with it).
PACKED = AHEAD_PIPELINE.replace(
    '@wf.job(array=True, time="00:05:00", mem="100M")\ndef process',
    '@wf.job(array=True, time="00:05:00", mem="100M", pack=3)\ndef process',
).replace(
    '@wf.job(array=True, time="00:05:00", mem="100M")\n'
    'def clean(x: Annotated[int, Result(step="process")]) -> int:\n',
    '@wf.job(array=True, time="00:05:00", mem="100M", pack=3)\n'
    'def clean(x: Annotated[int, Result(step="process")], run_dir: RunDir = RunDir()) -> int:\n'
    '    while (run_dir / f"slowclean-{{x}}").exists():\n'
    "        time.sleep(0.1)\n",
)


def load(tmp_path: Path, name: str, source: str = PACKED) -> Any:
    assert source.count("pack=3") == 2 and "slowclean" in source  # the replaces took
    return load_script(tmp_path, name, source.format(name=name))


def jobs(executor: LocalExecutor) -> list[dict[str, Any]]:
    """The specs of every job the executor was given, in submission order."""
    dirs = sorted((executor.state_dir / "jobs").iterdir(), key=lambda d: int(d.name))
    return [
        {"id": d.name, **json.loads((d / "spec.json").read_text())}
        for d in dirs
        if (d / "spec.json").exists()  # one being written right now is not given yet
    ]


def of_task(executor: LocalExecutor, task: str) -> list[dict[str, Any]]:
    return [s for s in jobs(executor) if s["name"].endswith(f".{task}")]


def waves(specs: list[dict[str, Any]]) -> list[list[str]]:
    """The task jobs each dispatcher submitted (a dispatcher submits before its successor)."""
    out: list[list[str]] = []
    for spec in specs:
        if spec["name"].endswith(".dispatch"):
            out.append([])
        else:
            out[-1].append(spec["name"].split(".", 1)[1])
    return [w for w in out if w]


def starts(layout: RunLayout, task: str, index: int) -> int:
    """How many times element ``index`` of ``task`` started (requeued starts are kept)."""
    text = layout.started_file(task, index).read_text()
    return text.count('"pid"')


@pytest.fixture
def executor(tmp_path: Path) -> LocalExecutor:
    return LocalExecutor(state_dir=tmp_path / "jobs")


def test_a_packed_task_submitted_ahead_runs_its_elements_in_packs(
    tmp_path: Path, store: Any, executor: LocalExecutor
) -> None:
    mod = load(tmp_path, "ahead_packed")
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=8)
    assert run.wait(timeout=300) is RunState.SUCCESS
    assert run.output("publish") == f"total={ahead_total(8)}"
    assert waves(jobs(executor)) == [["find"], ["process", "clean", "summary", "publish"]]
    [process] = of_task(executor, "process")
    [clean] = of_task(executor, "clean")
    # Packed like a ready task: packs [0-2], [3-5], [6-7], each an array task.
    assert clean["array"]["indices"] == [0, 1, 2]
    layout = RunLayout(run.run_dir, run.run_id)
    plan = json.loads(layout.pack_file("clean", clean["command"][-1]).read_text())
    assert plan == {"groups": [[0, 1, 2], [3, 4, 5], [6, 7]]}
    # No element-wise dependency on the local executor: the whole upstream array.
    assert clean["after_ok"] == [process["id"]] and not clean.get("after_corr")
    for i in range(8):
        inst = store.get_task_instance_record(run.run_id, "clean", i)
        # Each element: its own job id (its pack's array task), identity and result.
        assert inst.job_id == f"{clean['id']}[{i // 3}]"
        assert inst.identity and inst.cache_info["status"] == "miss"
        assert inst.output == 2 * i + 1
        assert starts(layout, "clean", i) == 1
    logs = sorted(p.name for p in (run.run_dir / "logs").iterdir() if p.name.startswith("clean-"))
    assert len(logs) == 6  # one .out and one .err per array task, not two per element

    mark = len(jobs(executor))
    again = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=8)
    assert again.wait(timeout=120) is RunState.SUCCESS
    assert [s["name"] for s in jobs(executor)[mark:]] == ["ahead_packed.dispatch"]
    statuses = {r.cache_info["status"] for r in store.list_task_instance_records(again.run_id)}
    assert statuses == {"hit"}


def test_a_failed_element_under_packs_submitted_ahead_is_retried_alone(
    tmp_path: Path, store: Any, executor: LocalExecutor
) -> None:
    mod = load(tmp_path, "ahead_packfail")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "fail-4").write_text("")
    run = mod.wf.submit(run_dir, store=store, executor=executor, n=7)
    assert run.wait(timeout=300) is RunState.FAILED
    summary = store.task_state_summary(run.run_id)
    assert summary["process"] == {"SUCCESS": 6, "FAILED": 1}  # its pack-mates succeeded
    assert summary["clean"] == {"CANCELLED": 7}
    kept = {i: store.get_task_instance_record(run.run_id, "process", i).job_id for i in (3, 5)}
    (run_dir / "fail-4").unlink()
    mark = len(jobs(executor))
    assert run.retry() == 10  # process[4], clean[0-6], summary, publish
    assert run.wait(timeout=300) is RunState.SUCCESS
    assert run.output("publish") == f"total={ahead_total(7)}"
    for i, job in kept.items():
        assert store.get_task_instance_record(run.run_id, "process", i).job_id == job
    retried = [s for s in jobs(executor)[mark:] if s["name"].endswith(".process")]
    assert [s["array"]["indices"] for s in retried] == [[0]]  # one pack: element 4 alone


def _wave_dying_at_clean(store: Any, run: Any, executor: LocalExecutor, *, send: bool) -> None:
    """A wave killed while submitting clean ahead: after marking, and after sending if ``send``.

    Killed after sending, it dies before the job ids reach the ledger or the
    store: its instances keep their pending token.
    """
    wave = Dispatcher(store, run.run_id, executor=executor)
    wave.reconcile(wave.ingest())
    wave.plan()
    wave.submit_ready()
    real = wave._submit_job

    def dying(name: str, insts: Any, job: Any, fallback: Any = None, **how: Any) -> str | None:
        if name != "clean":
            return real(name, insts, job, fallback, **how)
        wave.store.apply_state_updates(
            [StateUpdate(i.id, TaskState.SUBMITTED, job_id=how["token"]) for i in insts]
        )
        if send:
            executor.submit(job)
        raise KeyboardInterrupt

    wave._submit_job = dying  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        AheadJobs(wave).submit()


def test_a_wave_killed_after_marking_packs_ahead_submits_them_once(
    tmp_path: Path, store: Any, executor: LocalExecutor
) -> None:
    mod = load(tmp_path, "ahead_packkill")
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=5)
    stop_after_first_wave(run, executor)
    _wave_dying_at_clean(store, run, executor, send=False)
    assert len(of_task(executor, "clean")) == 0
    assert Dispatcher(store, run.run_id, executor=executor).wave() is RunState.RUNNING
    assert run.wait(timeout=300) is RunState.SUCCESS
    assert run.output("publish") == f"total={ahead_total(5)}"
    [clean] = of_task(executor, "clean")  # marked, never sent: sent once, packed
    assert clean["array"]["indices"] == [0, 1]
    layout = RunLayout(run.run_dir, run.run_id)
    assert all(starts(layout, "clean", i) == 1 for i in range(5))


def test_a_pack_sent_before_its_wave_died_is_not_sent_again_while_it_runs(
    tmp_path: Path, store: Any, executor: LocalExecutor
) -> None:
    # The wave died after sending clean's packs, before recording their ids.  The
    # next wave sees clean[0] started, holding its pack in that first element:
    # clean[1] and clean[2] have not started, yet their pack was sent. Nothing of
    # it goes again (the per-instance rule sent clean[1], clean[2] and the other
    # pack's elements again: they ran twice).
    mod = load(tmp_path, "ahead_packsent")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "slowclean-0").write_text("")
    run = mod.wf.submit(run_dir, store=store, executor=executor, n=5)
    stop_after_first_wave(run, executor)
    _wave_dying_at_clean(store, run, executor, send=True)
    layout = RunLayout(run.run_dir, run.run_id)
    for _ in range(600):  # the first pack is held in clean[0]
        if layout.started_file("clean", 0).exists():
            break
        time.sleep(0.1)
    assert not layout.started_file("clean", 1).exists()
    wave = Dispatcher(store, run.run_id, executor=executor)
    assert wave._unsent() == []  # the one rule: a pack one element of which started was sent
    assert wave.wave() is RunState.RUNNING
    (run_dir / "slowclean-0").unlink()
    assert run.wait(timeout=300) is RunState.SUCCESS
    assert run.output("publish") == f"total={ahead_total(5)}"
    assert len(of_task(executor, "clean")) == 1
    assert all(starts(layout, "clean", i) == 1 for i in range(5))


def test_the_cap_counts_marked_packs_by_the_same_rule(
    tmp_path: Path, store: Any, executor: LocalExecutor
) -> None:
    # The cap (_room) and the resubmission use the same rule: a marked pack none
    # of whose elements started is not in flight; one with a started element is,
    # all of it.
    mod = load(tmp_path, "ahead_packroom")
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=5)
    stop_after_first_wave(run, executor)
    _wave_dying_at_clean(store, run, executor, send=False)
    wave = Dispatcher(store, run.run_id, executor=executor)
    marked = wave._marked()
    assert sorted(i.array_index or 0 for i in wave._unsent()) == [0, 1, 2, 3, 4]
    layout = RunLayout(run.run_dir, run.run_id)
    layout.started_file("clean", 0).parent.mkdir(parents=True, exist_ok=True)
    layout.started_file("clean", 0).write_text(json.dumps({"pid": 1}))
    assert wave._unsent() == []
    assert {i.job_id for i in marked} == {marked[0].job_id}  # one submission, one token
    wave.max_jobs = 100
    in_flight = 100 - 2 - (wave._room(0) or 0)
    active = [
        i
        for i in store.list_task_instance_records(run.run_id, "process")
        if i.state in (TaskState.SUBMITTED, TaskState.RUNNING)
    ]
    # An array task is one job: process's packs, and clean's two packs (0-2, 3-4).
    assert in_flight == len({i.job_id for i in active}) + 2


def test_the_cap_counts_a_pack_as_one_job_as_the_scheduler_does(
    tmp_path: Path, store: Any, executor: LocalExecutor
) -> None:
    # max_jobs 6: the dispatchers take 2, so 4 array tasks fit: process's 12
    # elements in 4 packs of 3 go in one job (counted by element, 4 elements would).
    mod = load(tmp_path, "ahead_packcap")
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=12, max_jobs=6)
    assert run.wait(timeout=300) is RunState.SUCCESS
    assert run.output("publish") == f"total={ahead_total(12)}"
    [process] = of_task(executor, "process")
    assert process["array"]["indices"] == [0, 1, 2, 3]
    [clean] = of_task(executor, "clean")  # once process's packs left the queue
    assert clean["array"]["indices"] == [0, 1, 2, 3]


def test_an_ahead_instance_takes_a_hit_from_another_workflow_as_run_would(
    tmp_path: Path, store: Any, executor: LocalExecutor
) -> None:
    # The index of earlier outputs is one row per identity from any workflow's runs,
    # as a cache lookup finds them, not only the same workflow's 100 newest runs.
    first = load_script(tmp_path, "wf_one", AHEAD_PIPELINE.format(name="wf_one"))
    done = first.wf.submit(tmp_path / "one", store=store, executor=executor, n=4)
    assert done.wait(timeout=300) is RunState.SUCCESS
    other = load_script(tmp_path, "wf_two", AHEAD_PIPELINE.format(name="wf_two"))
    run = other.wf.submit(
        tmp_path / "two", store=store, executor=executor, n=4, force_tasks=["process"]
    )
    assert run.wait(timeout=300) is RunState.SUCCESS
    assert run.output("publish") == f"total={ahead_total(4)}"
    for i in range(4):
        inst = store.get_task_instance_record(run.run_id, "clean", i)
        assert inst.cache_info["status"] == "hit"
        assert inst.cache_info["source"]["run_id"] == done.run_id
    layout = RunLayout(run.run_dir, run.run_id)
    assert "cached" in json.loads(layout.result_file("clean", 0).read_text())  # not run
    # The index is in shards by identity prefix: a worker reads only its own.
    ahead = json.loads(layout.ahead_file("clean").read_text())
    assert "index" not in ahead and ahead["index_shards"] == 2
    shards = list(layout.ahead_index_file("clean", "00").parent.glob("*.json"))
    entries = {k: p.stem for p in shards for k in json.loads(p.read_text())}
    identities = {
        store.get_task_instance_record(done.run_id, "clean", i).identity for i in range(4)
    }
    assert set(entries) == identities
    assert all(identity.startswith(stem) for identity, stem in entries.items())


def test_an_ahead_file_written_with_its_index_whole_is_still_read(tmp_path: Path) -> None:
    from reflow.engine.scheduler.resolve import _indexed

    layout = RunLayout(tmp_path, "run-1")
    entry = {"output": "1", "output_hash": "h", "source": {}}
    assert _indexed(layout, "clean", {"index": {"abcd": entry}}, "abcd") == entry
    assert _indexed(layout, "clean", {"index": {}}, "abcd") is None
    assert _indexed(layout, "clean", {"index_shards": 2}, "abcd") is None  # no shard: run


def test_auto_pack_follows_the_measured_run_time_of_earlier_elements(
    tmp_path: Path, store: Any, executor: LocalExecutor
) -> None:
    source = AHEAD_PIPELINE.replace(
        '@wf.job(array=True, time="00:05:00", mem="100M")\ndef process',
        '@wf.job(array=True, time="00:05:00", mem="100M", pack="auto")\ndef process',
    )
    assert 'pack="auto"' in source
    mod = load_script(tmp_path, "autopacked", source.format(name="autopacked"))
    # No history: one element per array task.
    assert auto_pack(store, "autopacked", "process", 12).size == 1
    first = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=12)
    assert first.wait(timeout=300) is RunState.SUCCESS
    [plain] = of_task(executor, "process")
    assert plain["array"]["indices"] == list(range(12))
    measured = auto_pack(store, "autopacked", "process", 12)
    assert measured.samples == 12 and measured.median is not None
    assert measured.median < TARGET / 12  # a trivial element: all 12 fit one minute
    assert measured.size == 12
    # Measured now: the next run packs them, bounded by the element count.
    again = mod.wf.submit(
        tmp_path / "run", store=store, executor=executor, n=12, force_tasks=["process"]
    )
    assert again.wait(timeout=300) is RunState.SUCCESS
    assert again.output("publish") == f"total={ahead_total(12)}"
    packed = of_task(executor, "process")[-1]
    assert packed["array"]["indices"] == [0]
    assert auto_pack(store, "autopacked", "process", 5000).size == MAX_PACK
    # Another task of the same workflow has its own measurements.
    assert auto_pack(store, "autopacked", "unknown_task", 12).size == 1


def test_choose_aims_at_a_minute_of_work_per_array_task() -> None:
    assert choose(None, 1000) == 1
    assert choose(TARGET / 10, 1000) == 10
    assert choose(TARGET / 10 + 0.001, 1000) == 10  # rounded up: at least a minute
    assert choose(TARGET * 2, 1000) == 1
    assert choose(0.001, 1000) == MAX_PACK
    assert choose(0.001, 30) == 30
    assert choose(0.0, 30) == 30


def test_dry_run_shows_the_pack_auto_chooses(tmp_path: Path) -> None:
    source = AHEAD_PIPELINE.replace(
        '@wf.job(array=True, time="00:05:00", mem="100M")\ndef process',
        '@wf.job(array=True, time="00:05:00", mem="100M", pack="auto")\ndef process',
    ).replace(
        '@wf.job(array=True, time="00:05:00", mem="100M")\ndef clean',
        '@wf.job(array=True, time="00:05:00", mem="100M", pack=4)\ndef clean',
    )
    script = tmp_path / "dryauto.py"
    script.write_text(
        source.format(name="dryauto") + "\nif __name__ == '__main__':\n    wf.cli()\n"
    )
    env = {**os.environ, "REFLOW_STORE_PATH": str(tmp_path / "store" / "manifest.db")}
    command = [sys.executable, str(script), "submit", "--dry-run", "--run-dir", str(tmp_path)]

    def dry() -> str:
        done = subprocess.run(
            [*command, "--executor", "local"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    out = dry()
    assert "dryauto.process: array sized by find; pack auto = 1 (no measured elements yet)" in out
    assert "dryauto.clean: array sized by find; after_ok dryauto.process; pack 4" in out
    assert not (tmp_path / "store").exists()  # a dry run creates no store
    run = subprocess.run(
        [sys.executable, str(script), "run", "--run-dir", str(tmp_path / "run"), "--n", "6"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    out = dry()
    assert "dryauto.process: array sized by find; pack auto = 100 (median " in out
    assert "over 6 earlier element(s)" in out


@pytest.mark.parametrize("value", ['"fast"', "0", "-3", "true"])
def test_a_bad_pack_in_the_configuration_is_one_line_and_exit_2(
    tmp_path: Path, value: str
) -> None:
    script = tmp_path / "badconf.py"
    script.write_text(
        AHEAD_PIPELINE.format(name="badconf") + "\nif __name__ == '__main__':\n    wf.cli()\n"
    )
    config = tmp_path / "reflow.toml"
    config.write_text(f"[submit]\npack = {value}\n")
    done = subprocess.run(
        [sys.executable, str(script), "submit", "--dry-run", "--run-dir", str(tmp_path)],
        env={**os.environ, "REFLOW_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "submit.pack" in line and 'pack = "auto"' in line

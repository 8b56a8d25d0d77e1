"""Issue 16 end to end: whole runs through the engine on the real PostgreSQL test server.

The user guide's pipeline under ``run`` and ``submit --executor local`` (whose
dispatchers are separate processes reopening the store from the run's URL), the
cache across runs, the ``reflow`` commands, many runs and readers at once, the
server going away mid-run, ``reflow store copy`` both ways, and no password in
anything a run leaves.  Each test works in a fresh schema of its own; without a
server (``REFLOW_TEST_POSTGRES_URL`` unset) every test skips, saying so.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import pytest

from reflow import Result, RunState, TaskState, Workflow
from reflow.errors import ReflowError
from reflow.run import Run
from reflow.stores import NewTaskInstance, StateUpdate, Store, open_store
from reflow.testing.pipeline import (
    GUIDE_FILES,
    load_guide_workflow,
    run_guide_pipeline,
)

Admin = Callable[..., list[tuple[object, ...]]]

EXPECTED = [f"FILE_{i:02d}" for i in range(GUIDE_FILES)]


def _in_schema(url: str, schema: str) -> str:
    """``url`` with libpq's ``options`` setting the search_path to ``schema`` only."""
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


class Schema:
    """A fresh schema of the test server: its name, its store URL, and SQL on it."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url

    def sql(self, statement: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Run ``statement`` in this schema (outside any store); return its rows."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(statement, params or None).fetchall()


def _fresh_schema(admin: Admin, base_url: str, owner: str | None = None) -> Iterator[Schema]:
    name = f"reflow_e2e_{uuid.uuid4().hex[:16]}"
    admin(f"CREATE SCHEMA {name}" + (f" AUTHORIZATION {owner}" if owner else ""))
    try:
        yield Schema(name, _in_schema(base_url, name))
    finally:
        admin(f"DROP SCHEMA {name} CASCADE")


@pytest.fixture
def schema(server_url: str, admin: Admin) -> Iterator[Schema]:
    """A new, empty schema for this test's store, dropped after it."""
    yield from _fresh_schema(admin, server_url)


@pytest.fixture
def jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own local-executor state directory (its job dirs, one spec.json each)."""
    state = tmp_path / "local-jobs"
    monkeypatch.setenv("REFLOW_LOCAL_STATE", str(state))
    return state


def reflow(store_url: str, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The ``reflow`` command as a user types it, with ``REFLOW_STORE=store_url``."""
    return subprocess.run(
        [sys.executable, "-m", "reflow", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "REFLOW_STORE": store_url},
    )


def _check_outputs(run: Run) -> None:
    assert run.wait(timeout=300) is RunState.SUCCESS
    assert run.output("process") == EXPECTED
    assert run.output("report") == f"processed {GUIDE_FILES} files"


def _cache_statuses(store: Store, run_id: str) -> list[str]:
    return [
        (i.cache_info or {}).get("status", "") for i in store.list_task_instance_records(run_id)
    ]


def _submitted_per_instance(jobs: Path) -> Counter[tuple[str, int]]:
    """How many times the local executor was given each task instance (from its spec.json)."""
    given: Counter[tuple[str, int]] = Counter()
    for spec_file in jobs.glob("jobs/*/spec.json"):
        spec = json.loads(spec_file.read_text())
        task = spec["name"].split(".", 1)[1]
        if task == "dispatch":
            continue
        for index in spec["array"]["indices"] if spec["array"] else [0]:
            given[(task, index)] += 1
    return given


def _assert_each_given_once(jobs: Path) -> None:
    """Every instance of the guide's run was given to the executor, and exactly once."""
    given = _submitted_per_instance(jobs)
    twice = {key: n for key, n in given.items() if n != 1}
    assert twice == {}, f"instances given to the executor more than once: {twice}"
    assert len(given) == GUIDE_FILES + 2


# -- 1. the guide's pipeline, the cache and the commands -------------------------------


def test_guide_pipeline_runs_submits_caches_and_answers_the_commands(
    schema: Schema, tmp_path: Path, jobs: Path
) -> None:
    store = open_store(schema.url)
    store.init()
    try:
        local = load_guide_workflow(tmp_path).wf.run_local(
            tmp_path / "local", store=store, max_workers=2, n=GUIDE_FILES
        )
        _check_outputs(local)
        (tmp_path / "submitted").mkdir()
        # submit: every dispatcher is a process of its own reopening the store from run.json
        submitted = run_guide_pipeline(tmp_path / "submitted", "local", store=store).run
        context = json.loads(next(submitted.run_dir.glob(".reflow/*/run.json")).read_text())
        assert context["store_url"] == schema.url
        again = run_guide_pipeline(tmp_path / "submitted", "local", store=store).run
        assert again.run_id != submitted.run_id
        assert set(_cache_statuses(store, again.run_id)) == {"hit"}
    finally:
        store.close()

    runs = reflow(schema.url, "runs")
    assert runs.returncode == 0, runs.stderr
    for run in (local, submitted, again):
        assert run.run_id in runs.stdout
    status = reflow(schema.url, "status", again.run_id, "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["run"]["status"] == "SUCCESS"
    explained = reflow(schema.url, "explain", again.run_id, "process[3]")
    assert explained.returncode == 0, explained.stderr
    assert "cache hit" in explained.stdout
    page = tmp_path / "report.html"
    report = reflow(schema.url, "report", again.run_id, "-o", str(page))
    assert report.returncode == 0, report.stderr
    assert again.run_id in page.read_text()


# -- 2. many runs and readers at once ----------------------------------------------------

RUNS_AT_ONCE = 8
READERS = 16


def test_eight_runs_at_once_with_sixteen_readers_lose_and_duplicate_nothing(
    schema: Schema, tmp_path: Path, jobs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFLOW_LOCAL_SLOTS", "4")
    store = open_store(schema.url)
    store.init()
    workflow = load_guide_workflow(tmp_path).wf
    try:
        runs = [
            workflow.submit(tmp_path / f"run{i}", store=store, executor="local", n=GUIDE_FILES)
            for i in range(RUNS_AT_ONCE)
        ]
        readers = [
            subprocess.Popen(
                [sys.executable, "-m", "reflow", "status", runs[i % RUNS_AT_ONCE].run_id],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "REFLOW_STORE": schema.url},
            )
            for i in range(READERS)
        ]
        failed = [r.communicate(timeout=120)[1] for r in readers if r.wait(timeout=120) != 0]
        assert failed == []
        for run in runs:
            _check_outputs(run)
    finally:
        store.close()
    duplicated = schema.sql(
        "SELECT r.run_id, i.task, i.idx, count(*) FROM task_instances i "
        "JOIN runs r ON r.id = i.run GROUP BY 1, 2, 3 HAVING count(*) > 1"
    )
    assert duplicated == []
    store = open_store(schema.url)
    try:
        for run in runs:
            records = store.list_task_instance_records(run.run_id)
            assert Counter(r.task_name for r in records) == {
                "find_files": 1,
                "process": GUIDE_FILES,
                "report": 1,
            }
            assert {r.state for r in records} == {TaskState.SUCCESS}
            outputs = {r.array_index: r.output for r in records if r.task_name == "process"}
            assert [outputs[i] for i in range(GUIDE_FILES)] == EXPECTED
    finally:
        store.close()


# -- 3. the server stopped mid-run -------------------------------------------------------


def _dispatcher_ended_after(jobs: Path, task: str) -> bool:
    """Whether a dispatcher submitted after ``task``'s job has ended (written final.json)."""
    names = {
        int(spec.parent.name): json.loads(spec.read_text())["name"].split(".", 1)[1]
        for spec in jobs.glob("jobs/*/spec.json")
    }
    after = min((job for job, name in names.items() if name == task), default=None)
    return after is not None and any(
        name == "dispatch" and job > after and (jobs / "jobs" / str(job) / "final.json").is_file()
        for job, name in names.items()
    )


def _server_scripts() -> tuple[Path, dict[str, str]] | None:
    """tests/clusters/postgres and the environment that restarts this test server, if known."""
    scripts = Path(__file__).resolve().parents[3] / "tests" / "clusters" / "postgres"
    passfile = os.environ.get("REFLOW_TEST_POSTGRES_PGPASSFILE", "")
    if os.geteuid() != 0 or not (scripts / "start.sh").is_file() or not passfile:
        return None
    base = Path(passfile).parent  # start.sh keeps <base>/pgpass
    if not (base / ".reflow-postgres-base").is_file():
        return None
    port = str(urlsplit(os.environ["REFLOW_TEST_POSTGRES_URL"]).port)
    env = {
        **os.environ,
        "REFLOW_POSTGRES_BASE": str(base),
        "REFLOW_POSTGRES_PORT": port,
        "REFLOW_POSTGRES_NO_APT": "1",
    }
    return scripts, env


def test_a_run_survives_the_server_going_away(
    schema: Schema, tmp_path: Path, jobs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = _server_scripts()
    if found is None:
        pytest.skip("needs root and the test server's own start.sh/stop.sh (cluster(postgres))")
    scripts, server_env = found
    # dispatchers give up connecting after 3 s, so a wave fails while the server is down
    monkeypatch.setenv("REFLOW_STORE_CONNECT_TIMEOUT", "3")
    store = open_store(schema.url)
    store.init()
    workflow = load_guide_workflow(tmp_path).wf
    run = workflow.submit(tmp_path / "run", store=store, executor="local", n=GUIDE_FILES)
    run_id = run.run_id
    deadline = time.monotonic() + 120
    while not list(run.run_dir.glob("span-*.json")):  # process's elements are running
        assert time.monotonic() < deadline, "process never started"
        time.sleep(0.1)
    store.close()
    subprocess.run([str(scripts / "stop.sh")], env=server_env, check=True, timeout=60)
    try:
        # the array finishes, and the dispatcher after it ends without reaching the server
        deadline = time.monotonic() + 120
        while not _dispatcher_ended_after(jobs, "process"):
            assert time.monotonic() < deadline, "no dispatcher ran while the server was down"
            time.sleep(0.2)
    finally:
        subprocess.run(
            [str(scripts / "start.sh")],
            env=server_env,
            check=True,
            timeout=120,
            stdout=subprocess.DEVNULL,
        )
    store = open_store(schema.url)
    try:
        run = Run(workflow, run_id, run.run_dir, store)
        try:
            state = run.wait(timeout=60)
        except ReflowError as lost:  # its dispatcher failed while the server was down
            assert "LOST" in str(lost) and "reflow resume" in str(lost)
            logs = "".join(p.read_text() for p in run.run_dir.glob("logs/dispatch.*.err"))
            # one line naming the server, and no claim to have marked the run
            assert "Cannot connect to the PostgreSQL store at 127.0.0.1:" in logs
            assert "marked FAILED" not in logs
            state = RunState.RUNNING
        if state is not RunState.SUCCESS:
            resumed = reflow(schema.url, "resume", run_id)
            assert resumed.returncode == 0, resumed.stderr
            state = run.wait(timeout=300)
        assert state is RunState.SUCCESS
        assert run.output("process") == EXPECTED
        assert run.output("report") == f"processed {GUIDE_FILES} files"
    finally:
        store.close()
    _assert_each_given_once(jobs)


# -- 4. reflow store copy, SQLite to PostgreSQL and back -------------------------------


def _add_hand_run(store: Store) -> None:
    """A run with instances in failed, cancelled, running and pending states too."""
    store.insert_run("hand", "demo", "bob", {"count": 4}, executor="slurm")
    store.insert_task_spec("hand", "a", True, {"cpus": 2}, [])
    ids = store.insert_task_instances(
        "hand",
        [
            NewTaskInstance("a", i, input={"i": i}, identity=f"{i:064x}", input_hash=f"{i:064x}")
            for i in range(4)
        ],
    )
    store.apply_state_updates(
        [StateUpdate(ident, TaskState.SUBMITTED, job_id=f"7_{i}") for i, ident in enumerate(ids)]
    )
    store.apply_state_updates(
        [
            StateUpdate(ids[0], TaskState.RUNNING, job_id="7_0"),
            StateUpdate(ids[1], TaskState.FAILED, error_text="boom"),
            StateUpdate(ids[2], TaskState.CANCELLED, error_text="cancelled"),
        ]
    )
    store.set_cache_info(ids[1], {"status": "miss", "inputs": {"i": "01"}})
    store.update_run_status("hand", RunState.FAILED)


def _contents(url: str) -> dict[str, Any]:
    """Every record of a store, times included, without the ids a destination assigns."""
    store = open_store(url, create=False)
    contents: dict[str, Any] = {}
    try:
        for record in store.list_run_records():
            public = record.to_public_dict()
            context = record.context
            instances = []
            for instance in store.list_task_instance_records(record.run_id):
                fields = instance.to_public_dict()
                fields.pop("id")
                instances.append(fields)
            contents[record.run_id] = {
                "run": public,
                # a copied context names the store the run is in now
                "context": None if context is None else replace(context, store_url=""),
                "specs": [s.to_public_dict() for s in store.list_task_spec_records(record.run_id)],
                "instances": instances,
                "arrays": store.list_array_identities(record.run_id),
            }
    finally:
        store.close()
    return contents


def test_store_copy_to_postgres_and_back_keeps_every_record_and_the_cache(
    schema: Schema, tmp_path: Path
) -> None:
    sqlite_url = f"sqlite://{tmp_path / 'src.db'}"
    source = open_store(sqlite_url)
    source.init()
    try:
        first = load_guide_workflow(tmp_path).wf.run_local(
            tmp_path / "run", store=source, n=GUIDE_FILES
        )
        _check_outputs(first)
        _add_hand_run(source)
    finally:
        source.close()
    there = reflow(schema.url, "store", "copy", sqlite_url, schema.url)
    assert there.returncode == 0, there.stderr
    assert there.stdout.startswith("Copied 2 run(s), ")
    back_url = f"sqlite://{tmp_path / 'back.db'}"
    back = reflow(schema.url, "store", "copy", schema.url, back_url)
    assert back.returncode == 0, back.stderr
    original = _contents(sqlite_url)
    assert {s["state"] for s in original["hand"]["instances"]} >= {"FAILED", "RUNNING"}
    assert _contents(schema.url) == original
    assert _contents(back_url) == original

    target = open_store(schema.url)
    try:
        again = load_guide_workflow(tmp_path).wf.run_local(
            tmp_path / "run", store=target, n=GUIDE_FILES
        )
        _check_outputs(again)
        assert set(_cache_statuses(target, again.run_id)) == {"hit"}
    finally:
        target.close()


def test_a_rerun_with_changed_elements_copies_the_others_on_the_server(
    schema: Schema, tmp_path: Path
) -> None:
    values = {"items": list(range(300))}
    wf = Workflow("elements")

    @wf.job()
    def items(tag: str = "a") -> list[int]:
        return list(values["items"])

    @wf.job(array=True)
    def each(i: Annotated[int, Result(step="items")]) -> int:
        with (tmp_path / "ran.txt").open("a") as ran:
            ran.write(f"{i}\n")
        return i * 2

    @wf.job()
    def total(xs: Annotated[list[int], Result(step="each")]) -> int:
        return sum(xs)

    store = open_store(schema.url)
    store.init()
    try:
        first = wf.run_local(tmp_path / "run", store=store, tag="a")
        (tmp_path / "ran.txt").unlink()
        values["items"] = [-i if i in (7, 250) else i for i in range(305)]
        run = wf.run_local(tmp_path / "run", store=store, tag="b")
        ran = sorted(int(x) for x in (tmp_path / "ran.txt").read_text().split())
        assert ran == [-250, -7, *range(300, 305)]
        assert run.output("total") == 2 * sum(values["items"])
        copied = store.get_task_instance_record(run.run_id, "each", 0)
        assert copied is not None
        assert copied.cache_info == {"status": "hit", "source": {"run_id": first.run_id}}
        statuses = Counter(_cache_statuses(store, run.run_id))
        assert (statuses["hit"], statuses["miss"]) == (298, 9)  # items, 7 elements, total
    finally:
        store.close()


# -- 5. no password anywhere -----------------------------------------------------------


@pytest.fixture
def password_schema(admin: Admin) -> Iterator[Schema]:
    """A fresh schema owned by the scram role, reached with its password-less URL."""
    url = os.environ.get("REFLOW_TEST_POSTGRES_PASSWORD_URL", "")
    if not url or not os.environ.get("REFLOW_TEST_POSTGRES_PGPASSFILE"):
        pytest.skip("the test server's password role is not set up (run start.sh)")
    yield from _fresh_schema(admin, url, owner="reflow_pw")


def _password() -> str:
    line = Path(os.environ["REFLOW_TEST_POSTGRES_PGPASSFILE"]).read_text().strip()
    return line.rsplit(":", 1)[1]


def _command_lines(seen: set[str], stop: threading.Event) -> None:
    """Collect every process's command line until ``stop`` is set."""
    while not stop.is_set():
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            with contextlib.suppress(OSError):
                seen.add(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        time.sleep(0.05)


def test_no_password_in_files_store_or_command_lines(
    password_schema: Schema, tmp_path: Path, jobs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGPASSFILE", os.environ["REFLOW_TEST_POSTGRES_PGPASSFILE"])
    password = _password()
    assert len(password) >= 8
    seen: set[str] = set()
    stop = threading.Event()
    watcher = threading.Thread(target=_command_lines, args=(seen, stop), daemon=True)
    watcher.start()
    store = open_store(password_schema.url)
    store.init()
    try:
        guide = run_guide_pipeline(tmp_path, "local", store=store).run
    finally:
        stop.set()
        watcher.join()
        store.close()
    assert any(guide.run_id in line for line in seen)  # the watcher saw the jobs
    assert [line for line in seen if password in line] == []

    files = [p for p in tmp_path.rglob("*") if p.is_file()]  # the run's and the jobs' dirs
    assert any(p.name == "run.json" for p in files) and any(p.name == "spec.json" for p in files)
    assert [p for p in files if password.encode() in p.read_bytes()] == []

    columns = password_schema.sql(
        "SELECT table_name, column_name FROM information_schema.columns "
        f"WHERE table_schema = '{password_schema.name}' AND data_type IN ('text', 'jsonb')"
    )
    assert columns
    for table, column in columns:
        rows = password_schema.sql(
            f"SELECT count(*) FROM {table} WHERE strpos({column}::text, %s) > 0", (password,)
        )
        assert rows == [(0,)], f"{table}.{column} holds the password"
    stored = password_schema.sql("SELECT count(*) FROM runs WHERE run_id = %s", (guide.run_id,))
    assert stored == [(1,)]


# -- 6. connections broken in the middle of waves ------------------------------------------


def _break_connections(admin: Admin, stop: threading.Event, broken: list[int]) -> None:
    """End every reflow session on the server (``pg_terminate_backend``) every 20-40 ms.

    Often enough that a dispatcher's wave is cut in its middle: with tasks submitted
    ahead a run has three dispatchers, each in the store for some 30 ms (breaks every
    0.1-0.3 s missed all of them in one run of three).
    """
    pause = 0.02
    while not stop.wait(pause):
        rows = admin(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'reflow' AND pid <> pg_backend_pid()"
        )
        broken.append(int(str(rows[0][0])))
        pause = 0.02 + (len(broken) % 3) * 0.01


def test_a_run_survives_its_connections_broken_in_the_middle_of_waves(
    schema: Schema, tmp_path: Path, jobs: Path, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connections lost while dispatchers are in a wave: the run ends in a definite state.

    The server ends every reflow session (the dispatchers', and this test's own) over and
    over while the run goes on.  Each operation of a dispatcher's wave and each unit of
    core's transaction blocks is run again on a new connection; the run either completes
    or, when a wave still fails, ends FAILED or LOST, and ``reflow resume`` completes it.
    Either way no task instance was given to the executor twice.
    """
    monkeypatch.setenv("REFLOW_STORE_CONNECT_TIMEOUT", "20")
    store = open_store(schema.url)
    store.init()
    workflow = load_guide_workflow(tmp_path).wf
    broken: list[int] = []
    stop = threading.Event()
    breaker = threading.Thread(target=_break_connections, args=(admin, stop, broken))
    breaker.start()
    try:
        run = workflow.submit(tmp_path / "run", store=store, executor="local", n=GUIDE_FILES)
        try:
            state = run.wait(timeout=300)
        except ReflowError as lost:  # a dispatcher ended without a word in the store
            assert "LOST" in str(lost), lost
            state = RunState.RUNNING
    finally:
        stop.set()
        breaker.join()
    try:
        assert sum(broken) > 0, "no connection was broken"
        logs = "".join(p.read_text() for p in run.run_dir.glob("logs/dispatch.*"))
        assert "Lost the connection to 127.0.0.1:" in logs  # a dispatcher lost it in a wave
        assert state in (RunState.SUCCESS, RunState.FAILED, RunState.RUNNING)
        if state is not RunState.SUCCESS:
            resumed = reflow(schema.url, "resume", run.run_id)
            assert resumed.returncode == 0, resumed.stderr
        _check_outputs(run)
    finally:
        store.close()
    _assert_each_given_once(jobs)

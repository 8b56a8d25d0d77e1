"""The user-guide pipeline on the real Slurm test cluster with the PostgreSQL store.

Issue 16's point: on a cluster the dispatchers are jobs on compute nodes, so the
store they and the login node's commands share is a server.  Here the workflow's
own CLI runs ``submit --executor slurm --wait`` with ``REFLOW_STORE=postgresql://...``
(the scram role whose password is only in ``PGPASSFILE``): every dispatcher is a
Slurm job that reopens the store from the run's URL and reads the password from
the file the job's environment names.  ``nox -s "cluster(slurm)"`` starts a
PostgreSQL test server beside the cluster and passes ``REFLOW_TEST_POSTGRES_URL``;
without it the test skips, saying so.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reflow import TaskState
from reflow.stores import open_store
from reflow.testing.pipeline import GUIDE_FILES, GUIDE_PIPELINE

NEEDS = (
    "REFLOW_TEST_POSTGRES_URL",
    "REFLOW_TEST_POSTGRES_PASSWORD_URL",
    "REFLOW_TEST_POSTGRES_PGPASSFILE",
)
MAIN = """
if __name__ == "__main__":
    wf.cli()
"""
EXPECTED = [f"FILE_{i:02d}" for i in range(GUIDE_FILES)]


@pytest.fixture
def store_url() -> Iterator[str]:
    """A fresh schema owned by the password role, as a store URL; dropped afterwards."""
    missing = [name for name in NEEDS if not os.environ.get(name)]
    if missing:
        pytest.skip(
            f"{', '.join(missing)} unset: no PostgreSQL test server (nox -s 'cluster(slurm)' "
            "starts one with tests/clusters/postgres/start.sh)"
        )
    import psycopg

    schema = f"reflow_slurm_{uuid.uuid4().hex[:16]}"
    admin_url = os.environ["REFLOW_TEST_POSTGRES_URL"]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema} AUTHORIZATION reflow_pw")
    try:
        url = os.environ["REFLOW_TEST_POSTGRES_PASSWORD_URL"]
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def _command(
    env: dict[str, str], *argv: str, cwd: Path, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr}"
    return proc


def _submit(env: dict[str, str], home: Path) -> str:
    """``guide.py submit --executor slurm --wait``; return the run id it printed."""
    proc = _command(
        env,
        sys.executable,
        "guide_pg.py",
        "submit",
        "--executor",
        "slurm",
        "--run-dir",
        str(home / "run"),
        "--wait",
        cwd=home,
    )
    found = re.search(r"Submitted run (\S+) ", proc.stdout)
    assert found, proc.stdout
    return found.group(1)


def test_guide_pipeline_on_slurm_with_the_postgres_store(
    tmp_path: Path, slurm: Any, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGPASSFILE", os.environ["REFLOW_TEST_POSTGRES_PGPASSFILE"])
    password = Path(os.environ["REFLOW_TEST_POSTGRES_PGPASSFILE"]).read_text().strip()
    password = password.rsplit(":", 1)[1]
    env = {
        **slurm.env,
        "REFLOW_STORE": store_url,
    }
    env.pop("REFLOW_STORE_PATH", None)  # the URL alone must say where the store is
    (tmp_path / "guide_pg.py").write_text(GUIDE_PIPELINE.format(name="guide_pg") + MAIN)
    before = _dispatch_jobs(slurm)

    first = _submit(env, tmp_path)
    second = _submit(env, tmp_path)
    assert second != first

    # Both runs' dispatchers were Slurm jobs (they ran on the node, not in this process).
    dispatchers = _dispatch_jobs(slurm) - before
    assert len(dispatchers) >= 4, dispatchers

    store = open_store(store_url)
    try:
        for run_id in (first, second):
            assert _record(store, run_id).status.value == "SUCCESS"
            process = sorted(
                store.list_task_instance_records(run_id, task_name="process"),
                key=lambda r: r.array_index or 0,
            )
            assert [r.output for r in process] == EXPECTED
            assert {r.state for r in process} == {TaskState.SUCCESS}
            (report,) = store.list_task_instance_records(run_id, task_name="report")
            assert report.output == f"processed {GUIDE_FILES} files"
        cached = store.list_task_instance_records(second)
        assert {(r.cache_info or {}).get("status") for r in cached} == {"hit"}
        context = _record(store, first).context
        assert context is not None and context.store_url == store_url
    finally:
        store.close()

    runs = _command(env, sys.executable, "-m", "reflow", "runs", cwd=tmp_path)
    assert first in runs.stdout and second in runs.stdout
    status = _command(
        env, sys.executable, "-m", "reflow", "status", second, "--json", cwd=tmp_path
    )
    shown = json.loads(status.stdout)
    assert shown["run"]["status"] == "SUCCESS"

    # The password reached the dispatchers through PGPASSFILE only, never a file of the run.
    leaked = [
        p for p in tmp_path.rglob("*") if p.is_file() and password.encode() in p.read_bytes()
    ]
    assert leaked == []


def _record(store: Any, run_id: str) -> Any:
    record = store.get_run_record(run_id)
    assert record is not None, f"run {run_id} is not in the store"
    return record


def _dispatch_jobs(slurm: Any) -> set[str]:
    """Ids of the Slurm jobs named ``guide_pg.dispatch`` squeue still knows (MinJobAge=600)."""
    out = slurm.run("squeue", "-h", "-t", "all", "-o", "%i %j")
    pairs = (line.split(" ", 1) for line in out.splitlines() if " " in line)
    return {job for job, name in pairs if name == "guide_pg.dispatch"}

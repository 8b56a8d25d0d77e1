"""Fixtures for tests that run against reflow's real Grid Engine test cell.

That cell is the one ``tests/clusters/sge/start.sh`` starts. ``nox -s "cluster(sge)"`` starts
it, puts ``SGE_ROOT``/``SGE_CELL`` in the environment, runs the tests in this folder and stops it.

Anywhere else (the ``integration`` session, a plain ``pytest``) these tests are skipped unless
``SGE_ROOT`` names a cell whose ``all.q`` runs on this host with start.sh's settings: they never
submit jobs to a real site's cell. When ``REFLOW_TEST_CLUSTER=sge`` (set by the nox session) a
missing or unreachable test cell is an error instead of a skip.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from reflow_executor_sge import SGEExecutor


@dataclass(frozen=True)
class SGECell:
    """The running test cell and helpers to drive it."""

    root: str
    cell: str

    def run(self, *args: str, timeout: float = 30.0, check: bool = True) -> str:
        """Run a Grid Engine command (argument list, no shell); return its stdout."""
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            pytest.fail(f"{' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
        return proc.stdout

    def qsub(self, *args: str) -> str:
        """Submit with ``qsub -terse`` and return the job id (without an array's task range)."""
        job_id = self.run("qsub", "-terse", *args).strip().split(".", 1)[0]
        assert job_id.isdigit(), f"qsub printed {job_id!r}, not a job id"
        return job_id

    def accounting(self, job_id: str) -> list[dict[str, str]]:
        """The job's ``qacct -j`` records (one per array task) as dicts; [] if none yet."""
        out = self.run("qacct", "-j", job_id, check=False)
        records: list[dict[str, str]] = []
        for block in out.split("=" * 62):
            fields = dict(
                [*line.split(None, 1), ""][:2] for line in block.splitlines() if line.strip()
            )
            if "jobnumber" in fields:
                records.append({k: v.strip() for k, v in fields.items()})
        return records

    def wait_accounted(
        self, job_id: str, count: int = 1, timeout: float = 60.0
    ) -> list[dict[str, str]]:
        """Poll ``qacct`` until the job has ``count`` records, and return them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            records = self.accounting(job_id)
            if len(records) >= count:
                return records
            time.sleep(0.3)
        pytest.fail(f"job {job_id} has no {count} accounting records after {timeout} s")

    def job_names(self) -> dict[str, str]:
        """Job id -> name of every job in ``qstat`` (all users)."""
        out = self.run("qstat", "-u", "*")
        rows = (line.split() for line in out.splitlines()[2:])
        return {row[0]: row[2] for row in rows if len(row) > 2}

    def config(self) -> dict[str, str]:
        """``qconf -sconf`` as a mapping of parameter name to value (continued lines joined)."""
        from reflow_executor_sge.config import parse_sconf

        return parse_sconf(self.run("qconf", "-sconf"))


def _problem() -> str | None:
    """Why no reflow test cell is reachable, or None when one is."""
    root = os.environ.get("SGE_ROOT")
    if not root:
        return "SGE_ROOT is not set"
    if shutil.which("qstat") is None:
        return "the Grid Engine commands (qstat) are not on PATH"
    try:
        queues = subprocess.run(
            ["qconf", "-sq", "all.q"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"qconf -sq all.q failed: {exc}"
    if queues.returncode != 0:
        return f"the cell of SGE_ROOT={root} does not answer: {queues.stderr.strip()}"
    hosts = re.search(r"^hostlist\s+(.*)$", queues.stdout, re.MULTILINE)
    if hosts is None or socket.gethostname() not in hosts.group(1).split():
        return f"all.q of SGE_ROOT={root} does not run on this host: not a test cell"
    return None


@pytest.fixture(scope="session")
def sge() -> SGECell:
    """The running Grid Engine test cell; skips (or fails, under nox) when there is none."""
    problem = _problem()
    if problem is not None:
        hint = 'start one with tests/clusters/sge/start.sh, or run nox -s "cluster(sge)"'
        if os.environ.get("REFLOW_TEST_CLUSTER") == "sge":
            pytest.fail(f"no Grid Engine test cell: {problem}", pytrace=False)
        pytest.skip(f"no Grid Engine test cell: {problem}; {hint}")
    return SGECell(os.environ["SGE_ROOT"], os.environ.get("SGE_CELL", "default"))


@pytest.fixture
def executor(tmp_path: Path, sge: SGECell) -> SGEExecutor:
    """A Grid Engine executor on the test cell, with its state in the test's ``tmp_path``."""
    from reflow_executor_sge import SGEExecutor  # lazy: only tests that use it need it

    return SGEExecutor(state_dir=str(tmp_path / "sge-state"))

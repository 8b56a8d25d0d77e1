"""Fixtures for tests that run against reflow's real Slurm test cluster.

That cluster is the one ``tests/clusters/slurm/start.sh`` starts. ``nox -s "cluster(slurm)"``
starts it, points ``SLURM_CONF`` at it, runs the tests in this folder and stops it.

Anywhere else (the ``integration`` session, a plain ``pytest``) these tests are skipped unless
``SLURM_CONF`` names a configuration written by ``start.sh``: they never submit jobs to a real
site's cluster. When ``REFLOW_TEST_CLUSTER=slurm`` (set by the nox session) a missing or
unreachable test cluster is an error instead of a skip.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from reflow_executor_slurm import SlurmExecutor

#: First line of every slurm.conf that start.sh writes.
CONF_MARK = "# Written by reflow's tests/clusters/slurm/start.sh"
#: sacct states after which a job never changes again.
FINAL_STATES = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "TIMEOUT",
    }
)


@dataclass(frozen=True)
class SlurmCluster:
    """The running test cluster: its ``slurm.conf`` and helpers to drive it."""

    conf: Path

    @property
    def env(self) -> dict[str, str]:
        """Environment for Slurm client commands, pointed at this cluster."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *args: str, timeout: float = 30.0) -> str:
        """Run a Slurm command (argument list, no shell) and return its stdout; fail on error."""
        proc = subprocess.run(
            args, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if proc.returncode != 0:
            pytest.fail(f"{' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
        return proc.stdout

    def squeue(
        self, prefix: str, *fields: str, finished: bool = False, elements: bool = False
    ) -> list[tuple[str, ...]]:
        """``squeue`` rows of the jobs whose name starts with ``prefix``: their ``fields``.

        squeue, not sacct: slurmctld sends a short job's record to slurmdbd seconds late.

        Parameters
        ----------
        prefix : str
            The start of the job names wanted (reflow's are ``<workflow>.<task>``).
        *fields : str
            squeue format fields, e.g. ``"%i"`` (job id), ``"%j"`` (name), ``"%S"``/``"%e"``
            (start/end).
        finished : bool
            Also the jobs that ended (``-t all``; they stay for ``MinJobAge``, 600 s here).
        elements : bool
            One row per array element (``-r``), not one per array.
        """
        args = ["squeue", "-h", "-o", "|".join(("%j", *fields))]
        args += ["-t", "all"] if finished else []
        args += ["-r"] if elements else []
        rows = [line.split("|") for line in self.run(*args).splitlines()]
        return [
            tuple(r[1:]) for r in rows if len(r) == len(fields) + 1 and r[0].startswith(prefix)
        ]

    def config(self) -> dict[str, str]:
        """``scontrol show config`` as a mapping of parameter name to value."""
        pairs = (
            line.split("=", 1) for line in self.run("scontrol", "show", "config").splitlines()
        )
        return {k.strip(): v.strip() for k, v in (p for p in pairs if len(p) == 2)}

    def sbatch(self, *args: str) -> str:
        """Submit with ``sbatch --parsable`` and return the job id."""
        job_id = self.run("sbatch", "--parsable", *args).strip().split(";")[0]
        assert job_id.isdigit(), f"sbatch printed {job_id!r}, not a job id"
        return job_id

    def sacct(self, job_id: str, *fields: str) -> list[str]:
        """The job's own sacct record (``-X``, no steps) as a list of ``fields``; [] if none."""
        out = self.run("sacct", "-n", "-X", "-P", "-j", job_id, "-o", ",".join(fields))
        line = out.split("\n", 1)[0]
        return line.split("|") if line else []

    def wait_final(
        self, job_id: str, timeout: float = 60.0, final: Iterable[str] = FINAL_STATES
    ) -> str:
        """Poll ``sacct`` until the job reaches a final state, and return that state.

        sacct prints ``CANCELLED by 0`` for a cancelled job: only the first word is returned.
        slurmctld sends a job's start record to slurmdbd up to ~5 s late, so sacct may show
        nothing while the job pends or runs, and a job that ended within those seconds may
        read ``JobName=allocation`` with an empty partition until that record lands.
        """
        final = frozenset(final)
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = "".join(self.sacct(job_id, "State")).split(" ", 1)[0]
            if state in final:
                return state
            time.sleep(0.2)
        pytest.fail(f"job {job_id} not finished after {timeout} s (sacct state {state!r})")


def _problem(conf: str | None) -> str | None:
    """Why ``conf`` is not a reachable test cluster, or None when it is."""
    if not conf:
        return "SLURM_CONF is not set"
    path = Path(conf)
    try:
        first = path.read_text().split("\n", 1)[0]
    except OSError as exc:
        return f"cannot read SLURM_CONF={conf}: {exc.strerror}"
    if not first.startswith(CONF_MARK):
        return f"SLURM_CONF={conf} is not a reflow test cluster (not written by start.sh)"
    try:
        ping = subprocess.run(
            ["scontrol", "ping"],
            env={**os.environ, "SLURM_CONF": conf},
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"scontrol ping failed: {exc}"
    if "is UP" not in ping.stdout:
        return f"the test cluster of SLURM_CONF={conf} is not up: {ping.stdout.strip()}"
    return None


@pytest.fixture(scope="session")
def slurm() -> SlurmCluster:
    """The running Slurm test cluster; skips (or fails, under nox) when there is none."""
    conf = os.environ.get("SLURM_CONF")
    problem = _problem(conf)
    if problem is not None:
        hint = 'start one with tests/clusters/slurm/start.sh, or run nox -s "cluster(slurm)"'
        if os.environ.get("REFLOW_TEST_CLUSTER") == "slurm":
            pytest.fail(f"no Slurm test cluster: {problem}", pytrace=False)
        pytest.skip(f"no Slurm test cluster: {problem}; {hint}")
    assert conf is not None
    return SlurmCluster(Path(conf))


@pytest.fixture
def executor(tmp_path: Path, slurm: SlurmCluster) -> SlurmExecutor:
    """A Slurm executor on the test cluster, with its state in the test's ``tmp_path``."""
    from reflow_executor_slurm import SlurmExecutor  # lazy: only tests that use it need it

    return SlurmExecutor(state_dir=str(tmp_path / "slurm-state"))

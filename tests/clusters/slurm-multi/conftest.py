"""Fixtures for the tests on reflow's multi-node Slurm test cluster (``start.sh`` here).

``nox -s "cluster(slurm-multi)"`` starts it (three ``slurmd -N`` nodes n1-n3 on this machine,
OverMemoryKill, a preemptable partition), runs these tests and stops it. Elsewhere they are
skipped unless ``SLURM_CONF`` names a configuration written by ``start.sh`` with nodes
n1-n3; with ``REFLOW_TEST_CLUSTER=slurm-multi`` (set by the nox session) that is an error.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

CONF_MARK = "# Written by reflow's tests/clusters/slurm/start.sh"
NODES = ("n1", "n2", "n3")


@dataclass(frozen=True)
class MultiCluster:
    """The running cluster: its ``slurm.conf``, base directory and helpers."""

    conf: Path

    @property
    def base(self) -> Path:
        """The cluster's base directory (``<base>/etc/slurm.conf``)."""
        return self.conf.parent.parent

    @property
    def env(self) -> dict[str, str]:
        """Environment for Slurm client commands, pointed at this cluster."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *args: str, timeout: float = 30.0) -> str:
        """Run a Slurm command (argument list) and return its stdout; fail on error."""
        proc = subprocess.run(
            args, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if proc.returncode != 0:
            pytest.fail(f"{' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
        return proc.stdout

    def slurmd_pid(self, node: str) -> int:
        """The pid of node ``node``'s slurmd, as start.sh recorded it."""
        return int((self.base / "run" / f"slurmd-{node}.pid").read_text().strip())

    def restart_slurmd(self, node: str) -> None:
        """Start ``node``'s slurmd again (recorded where stop.sh finds it) and resume the node."""
        log = (self.base / "log" / f"slurmd-{node}.out").open("ab")
        proc = subprocess.Popen(
            ["slurmd", "-D", "-f", str(self.conf), "-N", node],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        (self.base / "run" / f"slurmd-{node}.pid").write_text(f"{proc.pid}\n")


def _problem(conf: str | None) -> str | None:
    if not conf:
        return "SLURM_CONF is not set"
    try:
        text = Path(conf).read_text()
    except OSError as exc:
        return f"cannot read SLURM_CONF={conf}: {exc.strerror}"
    if not text.startswith(CONF_MARK):
        return f"SLURM_CONF={conf} is not a reflow test cluster"
    if not all(f"NodeName={n} " in text for n in NODES):
        return f"SLURM_CONF={conf} is not the multi-node cluster (no nodes n1-n3)"
    return None


@pytest.fixture(scope="session")
def cluster() -> MultiCluster:
    """The running multi-node cluster; skips (or fails, under nox) when there is none."""
    conf = os.environ.get("SLURM_CONF")
    problem = _problem(conf)
    if problem is not None:
        if os.environ.get("REFLOW_TEST_CLUSTER") == "slurm-multi":
            pytest.fail(f"no multi-node Slurm test cluster: {problem}", pytrace=False)
        pytest.skip(
            f"no multi-node Slurm test cluster: {problem}; run tests/clusters/slurm-multi/start.sh"
        )
    assert conf is not None
    return MultiCluster(Path(conf))

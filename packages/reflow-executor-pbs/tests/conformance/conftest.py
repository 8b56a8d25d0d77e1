"""The fake PBS Pro scheduler (``reflow.testing.fake_schedulers``) for the conformance tests."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from reflow.testing.fake_schedulers import FakeScheduler


def server_bin(fake: FakeScheduler, directory: Path) -> Path:
    """qsub/qstat/qdel that find the fake without ``REFLOW_FAKE_SCHEDULER_DIR`` in the env.

    Real PBS commands find their server in ``/etc/pbs.conf``, so a job (reflow's
    dispatcher) can call them; the fake's commands need the variable, which the fake
    leaves out of its jobs' environment.  These wrappers set it, as pbs.conf would.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("qsub", "qstat", "qdel"):
        path = directory / name
        path.write_text(
            "#!/bin/sh\n"
            f"REFLOW_FAKE_SCHEDULER_DIR={shlex.quote(str(fake.state_dir))}\n"
            "export REFLOW_FAKE_SCHEDULER_DIR\n"
            f'exec {shlex.quote(str(fake.bin_dir / name))} "$@"\n'
        )
        path.chmod(0o755)
    return directory


@pytest.fixture
def fake_pbs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeScheduler]:
    """A running fake PBS Pro server (job history on), its commands first on ``PATH``."""
    with FakeScheduler.start("pbs", state_dir=tmp_path / "fake-pbs", slots=4) as fake:
        fake.apply(monkeypatch)
        monkeypatch.delenv("REFLOW_PBS_FLAVOR", raising=False)
        monkeypatch.delenv("REFLOW_PBS_BIN", raising=False)
        yield fake


@pytest.fixture
def fake_pbs_no_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeScheduler]:
    """A fake PBS Pro server without job history: finished jobs vanish from qstat."""
    with FakeScheduler.start(
        "pbs", state_dir=tmp_path / "fake-pbs", slots=4, job_history=False
    ) as fake:
        fake.apply(monkeypatch)
        monkeypatch.delenv("REFLOW_PBS_FLAVOR", raising=False)
        monkeypatch.delenv("REFLOW_PBS_BIN", raising=False)
        yield fake


@pytest.fixture
def fake_pbs_bin(fake_pbs: FakeScheduler, tmp_path: Path) -> Path:
    """:func:`server_bin` of :func:`fake_pbs`: commands a job (the dispatcher) can call."""
    return server_bin(fake_pbs, tmp_path / "pbs-bin")

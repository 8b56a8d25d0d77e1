"""A running LSF fake (``reflow.testing.fake_schedulers``) for the tests of this directory."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from reflow.testing.fake_schedulers import FakeScheduler


def cluster_bin(fake: FakeScheduler, directory: Path) -> Path:
    """bsub/bjobs/bkill that find the fake without ``REFLOW_FAKE_SCHEDULER_DIR`` set.

    Real LSF commands find their cluster through ``lsf.conf`` (``LSF_ENVDIR``),
    so a job (reflow's dispatcher) can submit jobs itself; the fake's commands
    need the variable, which the fake leaves out of its jobs' environment.
    These wrappers set it, as lsf.conf would.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("bsub", "bjobs", "bkill"):
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
def fake_lsf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeScheduler]:
    """bsub, bjobs and bkill first on PATH, backed by a local runner with 4 slots."""
    with FakeScheduler.start("lsf", state_dir=tmp_path / "fake-lsf", slots=4) as fake:
        fake.apply(monkeypatch)
        wrappers = cluster_bin(fake, tmp_path / "lsf-bin")
        monkeypatch.setenv("PATH", f"{wrappers}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.delenv("LSF_ENVDIR", raising=False)
        yield fake

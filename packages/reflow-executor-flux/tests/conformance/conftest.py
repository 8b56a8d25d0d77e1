"""A running Flux fake (``reflow.testing.fake_schedulers``) for the tests of this directory."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from reflow.testing.fake_schedulers import FakeScheduler


def instance_bin(fake: FakeScheduler, directory: Path) -> Path:
    """A ``flux`` that finds the fake without ``REFLOW_FAKE_SCHEDULER_DIR`` set.

    A real job finds its Flux instance through ``FLUX_URI``, which the job
    shell sets, so a job (reflow's dispatcher) can submit jobs itself; the
    fake's command needs the variable, which the fake leaves out of its jobs'
    environment.  This wrapper sets it, as FLUX_URI would.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "flux"
    path.write_text(
        "#!/bin/sh\n"
        f"REFLOW_FAKE_SCHEDULER_DIR={shlex.quote(str(fake.state_dir))}\n"
        "export REFLOW_FAKE_SCHEDULER_DIR\n"
        f'exec {shlex.quote(str(fake.bin_dir / "flux"))} "$@"\n'
    )
    path.chmod(0o755)
    return directory


@pytest.fixture
def fake_flux(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeScheduler]:
    """``flux`` first on PATH, backed by a local runner with 4 slots."""
    with FakeScheduler.start("flux", state_dir=tmp_path / "fake-flux", slots=4) as fake:
        fake.apply(monkeypatch)
        wrapper = instance_bin(fake, tmp_path / "flux-bin")
        monkeypatch.setenv("PATH", f"{wrapper}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.delenv("FLUX_F58_FORCE_ASCII", raising=False)
        yield fake

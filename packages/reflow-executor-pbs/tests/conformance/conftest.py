"""The fake PBS Pro scheduler (``reflow.testing.fake_schedulers``) for the conformance tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reflow.testing.fake_schedulers import FakeScheduler


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

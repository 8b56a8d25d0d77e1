"""The fake PBS Pro scheduler (``reflow_fake_schedulers``) for the conformance tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reflow_fake_schedulers import FakeScheduler


def _serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, job_history: bool
) -> Iterator[FakeScheduler]:
    with FakeScheduler.start(
        "pbs", state_dir=tmp_path / "fake-pbs", slots=4, job_history=job_history
    ) as fake:
        fake.apply(monkeypatch)
        monkeypatch.delenv("REFLOW_PBS_FLAVOR", raising=False)
        monkeypatch.delenv("REFLOW_PBS_BIN", raising=False)
        yield fake


@pytest.fixture
def fake_pbs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeScheduler]:
    """A running fake PBS Pro server (job history on), its commands first on ``PATH``."""
    yield from _serve(tmp_path, monkeypatch, job_history=True)


@pytest.fixture
def fake_pbs_no_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeScheduler]:
    """A fake PBS Pro server without job history: finished jobs vanish from qstat."""
    yield from _serve(tmp_path, monkeypatch, job_history=False)

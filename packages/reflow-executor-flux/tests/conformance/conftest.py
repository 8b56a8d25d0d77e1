"""A running Flux fake (``reflow_fake_schedulers``) for the tests of this directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reflow_fake_schedulers import FakeScheduler


@pytest.fixture
def fake_flux(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeScheduler]:
    """``flux`` first on PATH, backed by a local runner with 4 slots.

    The jobs inherit PATH, so reflow's dispatcher jobs submit through the fake too.
    """
    with FakeScheduler.start("flux", state_dir=tmp_path / "fake-flux", slots=4) as fake:
        fake.apply(monkeypatch)
        monkeypatch.delenv("FLUX_F58_FORCE_ASCII", raising=False)
        yield fake

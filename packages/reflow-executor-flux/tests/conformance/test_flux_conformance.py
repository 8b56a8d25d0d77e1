"""reflow's executor conformance suite, with FluxExecutor against the Flux fake."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow.testing.executor import ExecutorConformance
from reflow_executor_flux import FluxExecutor
from reflow_fake_schedulers import FakeScheduler


class TestFluxConformance(ExecutorConformance):
    __test__ = True
    timeout = 60.0

    @pytest.fixture(autouse=True)
    def _fake(self, fake_flux: FakeScheduler) -> None:
        self.fake = fake_flux

    def make_executor(self, tmp_path: Path) -> FluxExecutor:
        return FluxExecutor(state_dir=tmp_path / "flux-state", backoff=0.1)


class TestFluxConformanceAsciiIds(TestFluxConformance):
    """The same, with ``flux submit`` printing ``f`` instead of ``ƒ`` (FLUX_F58_FORCE_ASCII)."""

    @pytest.fixture(autouse=True)
    def _ascii(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("FLUX_F58_FORCE_ASCII", "1")

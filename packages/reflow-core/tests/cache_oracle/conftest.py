"""The cache oracle's shared fixture: a test module's batch, run once per command."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .batch import Batch
from .harness import Command, Trial


@pytest.fixture(scope="module")
def trials(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[Command], Trial]:
    """The runs of the module's ``BATCH`` under a command, made by the first case that asks."""
    batch: Batch = request.module.BATCH
    name = request.module.__name__.rsplit(".", 1)[-1]
    return lambda command: batch.trial(
        command, lambda: tmp_path_factory.mktemp(f"{name}-{command}")
    )

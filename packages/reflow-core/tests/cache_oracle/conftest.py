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
    """The runs of the module's ``BATCH`` under a command, made by the first case that asks.

    A failure is kept and raised again for every case, rather than paid for
    once per case.
    """
    batch: Batch = request.module.BATCH
    name = request.module.__name__.rsplit(".", 1)[-1]
    done: dict[Command, Trial | Exception] = {}

    def runs(command: Command) -> Trial:
        if command not in done:
            try:
                done[command] = batch.trial(tmp_path_factory.mktemp(f"{name}-{command}"), command)
            except Exception as exc:  # a broken set-up fails every case, each with the error
                done[command] = exc
        result = done[command]
        if isinstance(result, Exception):
            raise result
        return result

    return runs

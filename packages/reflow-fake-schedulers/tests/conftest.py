"""Fixtures for the fake schedulers' tests: start a fake, run its commands, wait, measure."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reflow_fake_schedulers import FakeScheduler


class Bench:
    """A started fake and helpers to drive it from a working directory."""

    SPAN = 'python3 -c "import time; s=time.time(); time.sleep({sleep}); print(s, time.time())"'
    """A shell command that sleeps and prints its start and end times."""

    def __init__(self, fake: FakeScheduler, work: Path) -> None:
        self.fake = fake
        self.work = work

    def run(
        self, *argv: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a fake command in :attr:`work` with the fake's environment."""
        return subprocess.run(
            list(argv),
            input=input,
            env={**os.environ, **self.fake.env, **(env or {})},
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def ok(self, *argv: str, input: str | None = None) -> str:
        """Run a command that must succeed; return its stdout, stripped."""
        done = self.run(*argv, input=input)
        assert done.returncode == 0, (argv, done.stdout, done.stderr)
        return done.stdout.strip()

    @staticmethod
    def wait_until(check: Callable[[], bool], timeout: float = 30.0) -> None:
        """Poll ``check`` until it is true; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, "timed out waiting"
            time.sleep(0.1)

    def spans(self, pattern: str) -> list[tuple[float, float]]:
        """The ``start end`` pairs the jobs printed into the files matching ``pattern``."""
        found = []
        for path in sorted(self.work.glob(pattern)):
            start, end = path.read_text().split()[:2]
            found.append((float(start), float(end)))
        return found


@pytest.fixture
def make_bench(tmp_path: Path) -> Iterator[Callable[..., Bench]]:
    """``make_bench(flavour, **options)``: a started fake (stopped after the test)."""
    started: list[FakeScheduler] = []
    work = tmp_path / "work"
    work.mkdir()

    def make(flavour: str, **options: object) -> Bench:
        fake = FakeScheduler.start(
            flavour,
            state_dir=tmp_path / f"fake-{len(started)}",
            **options,  # type: ignore[arg-type]
        )
        started.append(fake)
        return Bench(fake, work)

    yield make
    for fake in started:
        fake.stop()

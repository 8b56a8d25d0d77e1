"""The run_local progress line: drawn on a terminal, silent otherwise."""

from __future__ import annotations

import io

from reflow.engine.local.progress import Progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_drawn_on_a_terminal() -> None:
    stream = FakeTerminal()
    progress = Progress(stream)
    with progress:
        progress.total, progress.done, progress.cached, progress.failed = 10, 4, 3, 1
        progress.running = 2
        progress.show(force=True)
    text = stream.getvalue()
    assert "8/10 instances" in text and "done 4" in text and "cached 3" in text
    assert "running 2" in text and "failed 1" in text
    assert text.endswith("\n")  # the line is closed when the run ends


def test_progress_is_silent_when_not_a_terminal() -> None:
    stream = io.StringIO()
    with Progress(stream) as progress:
        progress.total = 3
        progress.show(force=True)
    assert stream.getvalue() == ""

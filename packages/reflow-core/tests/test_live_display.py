"""What ``run`` and ``submit --wait`` show while a run runs: in a pseudo-terminal, and piped.

The workflow script runs as its user runs it, in a child process whose
standard streams are a pseudo-terminal (:mod:`pty`) or pipes.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import textwrap
import time
from pathlib import Path

import pytest

SCRIPT = """
import time
from typing import Annotated
from reflow import Result, Workflow

wf = Workflow("shown")

@wf.job()
def items(n: int = 3) -> list[int]:
    return list(range(n))

@wf.job(array=True)
def work(i: Annotated[int, Result(step="items")]) -> int:
    time.sleep(1.5)  # long enough for the display to be drawn while it runs
    return i * i

@wf.job()
def total(xs: Annotated[list[int], Result(step="work")]) -> int:
    return sum(xs)

if __name__ == "__main__":
    raise SystemExit(wf.cli())
"""

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "shown.py"
    path.write_text(textwrap.dedent(SCRIPT))
    monkeypatch.setenv("REFLOW_LOCAL_STATE", str(tmp_path / "local-jobs"))
    monkeypatch.setenv("REFLOW_LOCAL_SLOTS", "3")
    monkeypatch.delenv("NO_COLOR", raising=False)
    return path


def in_terminal(args: list[str], cwd: Path, timeout: float = 180) -> str:
    """Run ``args`` with a 100x30 pseudo-terminal as stdin, stdout and stderr; all it wrote."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen(
        args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env={**os.environ, "TERM": "xterm"}
    )
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        assert proc.wait(timeout=max(deadline - time.monotonic(), 1)) == 0, out.decode()
    finally:
        proc.kill()
        os.close(master)
    return out.decode(errors="replace")


def piped(args: list[str], cwd: Path) -> tuple[str, str]:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


def last_row(text: str, task: str) -> list[str]:
    """The cells of ``task``'s last row in the live table, as the terminal showed it."""
    lines = _ANSI.sub("", text).splitlines()
    rows = [line.split() for line in lines if line.split()[:1] == [task] and "/" in line]
    return [cell for cell in rows[-1] if "━" not in cell]


def assert_live_table(text: str) -> None:
    """A table redrawn in place (cursor moved up), with a row per task, ending done."""
    assert "\x1b[1A" in text  # the table is redrawn where it was
    plain = _ANSI.sub("", text)
    assert "DONE" in plain and "ETA" in plain and "elapsed" in plain
    # Drawn while work ran: some of it busy, not all done.
    assert re.search(r"^work\s+\S+\s+[0-2]/3\s", plain, re.MULTILINE)
    assert last_row(text, "work")[:2] == ["work", "3/3"]
    assert last_row(text, "total")[:2] == ["total", "1/1"]


def test_run_in_a_terminal_draws_a_live_table_then_the_summary(
    script: Path, tmp_path: Path
) -> None:
    text = in_terminal([sys.executable, str(script), "run", "--run-dir", "run"], tmp_path)
    assert_live_table(text)
    plain = _ANSI.sub("", text)
    assert re.search(r"^\s*work\s+3\s+0\s+0\s+0\s*$", plain, re.MULTILINE)  # ran 3, cached 0
    assert "total: 5" in plain


def test_run_piped_writes_plain_lines_only(script: Path, tmp_path: Path) -> None:
    out, err = piped([sys.executable, str(script), "run", "--run-dir", "run"], tmp_path)
    assert "\x1b" not in out + err
    lines = err.splitlines()
    assert lines and all(line.startswith("reflow: [") for line in lines), err
    assert lines[-1].endswith("items 1/1 | work 3/3 | total 1/1")
    assert len(lines) <= 4  # one per change, at most every few seconds: not one per redraw
    again, err = piped([sys.executable, str(script), "run", "--run-dir", "run"], tmp_path)
    assert err.splitlines()[-1].endswith(
        "items 1/1 cached 1 | work 3/3 cached 3 | total 1/1 cached 1"
    )
    assert re.search(r"^work\s+0\s+3\s+0\s+0$", again, re.MULTILINE)  # all from the cache


def test_submit_wait_in_a_terminal_draws_a_live_table(script: Path, tmp_path: Path) -> None:
    args = [sys.executable, str(script), "submit", "--run-dir", "run", "--executor", "local"]
    text = in_terminal([*args, "--wait"], tmp_path)
    assert_live_table(text)
    assert re.search(r"Run shown-\S+ SUCCESS after", _ANSI.sub("", text))


def test_submit_wait_piped_writes_plain_lines(script: Path, tmp_path: Path) -> None:
    args = [sys.executable, str(script), "submit", "--run-dir", "run", "--executor", "local"]
    out, err = piped([*args, "--wait"], tmp_path)
    progress = [line for line in err.splitlines() if line.startswith("reflow: [")]
    assert progress[-1].endswith("items 1/1 | work 3/3 | total 1/1")
    assert "\x1b" not in out + err
    assert re.search(r"^work\s+3\s+0\s+0\s+0$", out, re.MULTILINE)


def test_status_watch_in_a_terminal_shows_the_progress_table(
    script: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "watched.db"
    monkeypatch.setenv("REFLOW_STORE_PATH", str(store))
    piped([sys.executable, str(script), "run", "--run-dir", "run"], tmp_path)
    watch = [sys.executable, "-m", "reflow", "status", "latest", "--watch", "--store-path", store]
    text = in_terminal([str(arg) for arg in watch], tmp_path)
    plain = _ANSI.sub("", text)
    assert "Status    SUCCESS" in plain  # the status view ...
    assert last_row(text, "work")[:2] == ["work", "3/3"]  # ... and the progress table under it
    assert "DONE" in plain and "ETA" in plain

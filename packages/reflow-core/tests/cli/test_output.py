"""Output of the ``reflow`` command: colour and tables on a terminal, plain text in a pipe."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Demo

COMMANDS = ("runs", "status", "logs", "explain", "dag", "gc", "resume", "plugins")


def _reflow(*argv: str) -> list[str]:
    return [sys.executable, "-m", "reflow", *argv]


def test_piped_output_has_no_escape_codes(demo: Demo) -> None:
    env = {**os.environ, "FORCE_COLOR": "", "TERM": "xterm-256color"}
    for argv in (
        ("runs",),
        ("status", demo.failed),
        ("explain", demo.sched, "process[1]"),
        ("dag", demo.failed),
        ("gc", "--dry-run"),
    ):
        done = subprocess.run(
            _reflow(*argv, "--store-path", str(demo.store_path)),
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip()
        assert "\x1b" not in done.stdout, argv


def test_a_terminal_gets_colour_and_a_ruled_table(demo: Demo) -> None:
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        _reflow("status", demo.failed, "--store-path", str(demo.store_path)),
        stdout=follower,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the command ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=60) == 0
    text = b"".join(chunks).decode("utf-8", "replace")
    assert "\x1b[" in text  # colour
    assert "\u2500" in text  # the rule under the table's header
    assert "\x1b[1;31mStatus    FAILED" in text  # a failed run in bold red


def test_help_lists_every_command() -> None:
    done = subprocess.run(
        _reflow("--help"), capture_output=True, text=True, timeout=60, check=True
    )
    listed = {line.split()[0] for line in done.stdout.splitlines() if line.startswith("    ")}
    assert set(COMMANDS) <= listed


def test_importing_reflow_and_building_the_parser_does_not_import_rich() -> None:
    code = (
        "import sys, reflow, reflow.cli.main\n"
        "reflow.cli.main.build_parser()\n"
        "print('rich' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"


def test_plain_tables_align_columns_and_numbers() -> None:
    from reflow.cli.output import Cell, Printer, Table

    table = Table(("TASK", "COUNT"), frozenset({1}))
    table.add("a", "5")
    table.add(Cell("longer", "bold"), "120")
    assert Printer.plain([table]).splitlines() == [
        "TASK    COUNT",
        "a           5",
        "longer    120",
    ]


def test_a_table_wider_than_the_terminal_keeps_its_ids_whole() -> None:
    import io

    from reflow.cli.output import Printer, Table

    run_id = "a-very-long-workflow-name-20261122-041440-8f38e3e5" * 2
    table = Table(("RUN", "STATUS", "EXECUTOR"))
    table.add(run_id, "SUCCESS", "slurm")
    stream = io.StringIO()
    printer = Printer(stream, rich=True)
    assert printer.console().width < len(run_id)
    printer.show([table])
    text = stream.getvalue()
    assert run_id in text and "slurm" in text


def test_a_reader_that_goes_away_ends_the_command_quietly(demo: Demo) -> None:
    """``reflow runs | head -0``: no traceback, the shell's status for SIGPIPE."""
    child = subprocess.Popen(
        _reflow("runs", "--store-path", str(demo.store_path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # before the child has written anything (it is still importing)
    err = child.stderr.read().decode()
    assert child.wait(timeout=60) == 141, err
    assert err == ""


def test_a_file_error_is_one_line_with_status_2(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathlib import Path

    path = demo.cli("logs", demo.sched, "process[4]", "--path").out.strip()

    def denied(self: Path) -> bytes:  # what reading another user's 0600 log does
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    done = demo.cli("logs", demo.sched, "process[4]")
    assert done.code == 2
    assert done.err == f"reflow: error: [Errno 13] Permission denied: '{path}'\n"

"""Output of the ``reflow`` command: colour and tables on a terminal, plain text in a pipe."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from typing import TYPE_CHECKING

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

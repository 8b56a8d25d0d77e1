"""What every fake command shares: finding the state, failing like a real tool.

A command fails by raising :class:`CommandError` with the real tool's words and
exit status; :func:`run_command` prints the message on stderr and returns the
status.  Options the real tool has but the fake does not implement fail with
:func:`unsupported`, whose message says so, so a test never mistakes a gap of
the fake for a refusal of the scheduler.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from reflow_fake_schedulers.state import StateStore

__all__ = [
    "STATE_DIR_VAR",
    "CommandError",
    "job_env",
    "open_store",
    "run_command",
    "run_named",
    "runner_alive",
    "script_directives",
    "unsupported",
    "user_name",
]

STATE_DIR_VAR = "REFLOW_FAKE_SCHEDULER_DIR"
"""The environment variable naming the fake scheduler's state directory."""


class CommandError(Exception):
    """A fake command refuses its input: ``message`` on stderr, exit ``status``."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def unsupported(prog: str, what: str) -> CommandError:
    """The error for something the real tool accepts but the fake does not implement."""
    return CommandError(
        f"{prog}: {what} is valid for the real tool but not implemented by reflow's fake "
        "scheduler (reflow_fake_schedulers)",
        2,
    )


def open_store(prog: str) -> StateStore:
    """The state of the fake scheduler this command belongs to (from the environment)."""
    root = os.environ.get(STATE_DIR_VAR)
    if not root or not (Path(root) / "state.json").is_file():
        raise CommandError(
            f"{prog}: {STATE_DIR_VAR} does not name a running fake scheduler "
            "(start one with reflow_fake_schedulers.FakeScheduler.start and use its env)",
            2,
        )
    return StateStore(Path(root))


def runner_alive(pid: int | None) -> bool:
    """Whether the runner process ``pid`` still exists."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def user_name() -> str:
    """The submitting user's name."""
    with contextlib.suppress(Exception):
        return getpass.getuser()
    return str(os.getuid())


def job_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The submitting command's environment, without the fake's own variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != STATE_DIR_VAR}
    env.update(extra or {})
    return env


def script_directives(text: str, prefix: str) -> list[str]:
    """The option words of the ``prefix`` lines (``#PBS``, ``#BSUB``) heading a script.

    As the real tools read them, directives end at the first line that is
    neither blank, nor a comment, nor the ``#!`` line.
    """
    import shlex

    words: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(prefix) and stripped[len(prefix) : len(prefix) + 1].isspace():
            body = stripped[len(prefix) :].split(" #", 1)[0]
            words.extend(shlex.split(body))
        elif stripped and not stripped.startswith("#"):
            break
    return words


def run_command(prog: str, func: Callable[[Sequence[str]], int], argv: Sequence[str]) -> int:
    """Run ``func(argv)``; a :class:`CommandError` becomes its message and status."""
    try:
        return func(argv)
    except CommandError as exc:
        if exc.message:
            print(exc.message, file=sys.stderr)
        return exc.status
    except BrokenPipeError:
        return 141


def run_named(
    module: str, commands: dict[str, Callable[[Sequence[str]], int]], argv: Sequence[str] | None
) -> int:
    """Run the command the first word of ``argv`` (default ``sys.argv[1:]``) names.

    An unknown or missing name prints the usage of ``python -m`` on the fake's
    ``module`` and returns 2.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in commands:
        names = "|".join(commands)
        print(f"usage: python -m reflow_fake_schedulers.{module} {names} ...")
        return 2
    return run_command(args[0], commands[args[0]], args[1:])

"""Running a workload manager's commands: argument lists, timeouts, bounded retries.

Every scheduler command reflow runs (``sbatch``, ``squeue``, ``qdel`` ...) goes
through :func:`run_command`.  It never uses a shell, gives each attempt a
timeout, and retries only failures that are known to pass on their own (a
timeout, a controller that is briefly unreachable), with exponential backoff
and jitter.  Anything else fails at once with a :class:`SchedulerCommandError`
that carries the scheduler's own words.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from reflow.errors import ReflowError

__all__ = ["TRANSIENT_MESSAGES", "SchedulerCommandError", "looks_transient", "run_command"]

logger = logging.getLogger(__name__)

TRANSIENT_MESSAGES: tuple[str, ...] = (
    "socket timed out",
    "unable to contact slurm controller",
    "slurm_load_jobs error: slurm backup controller in standby mode",
    "unable to contact qmaster",
    "failed receiving gdi request",
    "cannot connect to server",
    "batch system daemon not responding",
    "lsf is processing your request",
    "connection refused",
    "connection timed out",
    "resource temporarily unavailable",
    "try again later",
)
"""Phrases (lower case) of scheduler errors that usually pass on their own."""

_SHOWN = 2000
"""At most this many characters of a command's output go into an error message."""


class SchedulerCommandError(ReflowError):
    """A scheduler command could not be run, or kept failing.

    Attributes
    ----------
    argv : tuple[str, ...]
        The command and its arguments.
    returncode : int or None
        Its exit status; ``None`` if it never ran to the end (missing program,
        timeout).
    stdout, stderr : str
        What it printed (empty if it never ran).
    """

    def __init__(
        self,
        message: str,
        argv: Sequence[str],
        returncode: int | None = None,
        stdout: str = "",
        stderr: str = "",
    ) -> None:
        super().__init__(message)
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def looks_transient(result: subprocess.CompletedProcess[str]) -> bool:
    """Whether a failed command's output names one of :data:`TRANSIENT_MESSAGES`."""
    text = f"{result.stderr or ''}\n{result.stdout or ''}".lower()
    return any(phrase in text for phrase in TRANSIENT_MESSAGES)


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _SHOWN else "..." + text[-_SHOWN:]


def _attempt(
    argv: Sequence[str], timeout: float, input: str | None, env: Mapping[str, str] | None
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` once in its own process group; kill the group on timeout."""
    with subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        encoding="utf-8",
        errors="replace",
        env=None if env is None else dict(env),
        start_new_session=True,
    ) as proc:
        try:
            stdout, stderr = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                proc.kill()
            # A daemon that left the group may still hold the pipes: do not wait for it.
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.communicate(timeout=5)
            raise
    return subprocess.CompletedProcess(list(argv), proc.returncode, stdout, stderr)


def run_command(
    argv: Sequence[str],
    *,
    timeout: float = 60,
    retries: int = 3,
    backoff: float = 1.0,
    transient: Callable[[subprocess.CompletedProcess[str]], bool] | None = None,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    retry_timeouts: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a scheduler command, retrying transient failures a bounded number of times.

    Parameters
    ----------
    argv : Sequence[str]
        The program and its arguments; never run through a shell.
    timeout : float
        Seconds each attempt may take; the command's process group is killed
        after that.
    retries : int
        How many times a transient failure is retried (``retries + 1``
        attempts at most).
    backoff : float
        Seconds before the first retry; doubled for each further one, plus a
        random jitter of up to ``backoff`` seconds.
    transient : callable or None
        Says whether a failed run (non-zero exit) is worth retrying, e.g.
        "Socket timed out"; ``None``: :func:`looks_transient`.
    input : str or None
        Text for the command's standard input.
    env : Mapping[str, str] or None
        The command's whole environment; ``None``: this process's.
    retry_timeouts : bool
        Whether a timed-out attempt is retried.  Pass ``False`` for commands
        that must not run twice, such as a submission that may have gone
        through before the timeout.

    Returns
    -------
    subprocess.CompletedProcess[str]
        The successful run (exit status 0), with its stdout and stderr.

    Raises
    ------
    SchedulerCommandError
        If the program is missing or cannot be executed, if the command exits
        non-zero with a non-transient error, or if it still fails after the
        retries.  The message names the command and includes its stderr.
    """
    if not argv:
        raise ValueError("run_command needs a program to run")
    argv = [str(arg) for arg in argv]
    is_transient = looks_transient if transient is None else transient
    command = shlex.join(argv)
    attempts = max(0, retries) + 1
    attempt = 0
    while True:
        attempt += 1
        last = attempt == attempts
        logger.debug("Running %s (attempt %d of %d)", command, attempt, attempts)
        try:
            result = _attempt(argv, timeout, input, env)
        except FileNotFoundError as exc:
            raise SchedulerCommandError(
                f"Cannot run {command}: the program {argv[0]!r} was not found "
                f"(PATH={os.environ.get('PATH', '')}). Install the scheduler's client commands "
                f"(the package that provides {Path(argv[0]).name}), or add their "
                "directory to PATH, e.g. with 'module load' on the cluster.",
                argv,
            ) from exc
        except PermissionError as exc:
            raise SchedulerCommandError(
                f"Cannot run {command}: {argv[0]!r} is not executable ({exc}). Check the "
                "program's permissions, or which program of that name PATH finds first.",
                argv,
            ) from exc
        except subprocess.TimeoutExpired:
            logger.warning(
                "%s timed out after %g s (attempt %d of %d).", command, timeout, attempt, attempts
            )
            if last or not retry_timeouts:
                hint = (
                    "The scheduler may be overloaded: try again later, or raise the command "
                    "timeout."
                    if retry_timeouts
                    else "It was not retried because it may have taken effect anyway: check "
                    "the scheduler's queue before trying again."
                )
                raise SchedulerCommandError(
                    f"{command} did not finish within {timeout:g} s "
                    f"(attempt {attempt} of {attempts}). {hint}",
                    argv,
                ) from None
        else:
            if result.returncode == 0:
                return result
            shown = _clip(result.stderr) or _clip(result.stdout) or "(no output)"
            if last or not is_transient(result):
                retried = f" (after {attempt} attempts)" if attempt > 1 else ""
                raise SchedulerCommandError(
                    f"{command} failed with exit status {result.returncode}{retried}: {shown}",
                    argv,
                    result.returncode,
                    result.stdout,
                    result.stderr,
                )
            logger.warning(
                "%s failed transiently (attempt %d of %d): %s", command, attempt, attempts, shown
            )
        delay = backoff * 2 ** (attempt - 1) + random.uniform(0, backoff)  # noqa: S311
        logger.debug("Retrying %s in %.1f s.", command, delay)
        time.sleep(delay)

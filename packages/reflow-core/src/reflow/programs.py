"""``reflow.shell``: run a program (or a pipeline of them) from a task.

Most pipelines call programs (``bwa mem ... | samtools view ...``).
:func:`shell` formats a command template with the given values, each
shell-quoted, runs it with bash in strict mode (``set -euo pipefail``: a
program failing anywhere in a pipe fails the whole command), writes the
command and the programs' stderr to the task's log (its stderr: the job's
``.err`` file in scheduler mode, the console under ``run_local``), and
raises :class:`ShellError` with the tail of that stderr when the command
fails, so the task fails with the program's own words.
"""

from __future__ import annotations

import collections
import os
import shlex
import signal
import string
import subprocess
import sys
import threading
from collections.abc import Mapping
from typing import IO, Any

from reflow.errors import ReflowError

__all__ = ["ShellError", "shell"]

STRICT = "set -euo pipefail"
"""The first line of every command: stop at the first failure, in any part of a pipe."""

TAIL_LINES = 20
"""How many of the last stderr lines a :class:`ShellError` carries."""


class ShellError(ReflowError):
    """A command run by :func:`shell` failed.

    Attributes
    ----------
    command : str
        The command as run (values formatted in).
    returncode : int
        Its exit status (negative: killed by that signal).
    stderr_tail : str
        The last lines it wrote to stderr.
    """

    def __init__(self, command: str, returncode: int, stderr_tail: str) -> None:
        self.command = command
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        if returncode < 0:
            how = f"was killed by {signal.Signals(-returncode).name}"
        else:
            how = f"failed with exit status {returncode}"
        shown = command if len(command) <= 300 else command[:297] + "..."
        text = f"command {how}: {shown}"
        if stderr_tail:
            text += "\n--- last lines of its stderr ---\n" + stderr_tail
        super().__init__(text)


class _QuotingFormatter(string.Formatter):
    """``str.format`` that shell-quotes every value (a list: each item, joined by spaces)."""

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, (list, tuple)):
            return " ".join(shlex.quote(format(item, format_spec)) for item in value)
        return shlex.quote(format(value, format_spec))


def format_command(template: str, values: Mapping[str, Any]) -> str:
    """``template`` with ``{name}`` fields replaced by the shell-quoted ``values``.

    ``{{`` and ``}}`` are literal braces.  A ``Path`` or number becomes its
    text; a list or tuple becomes its items, each quoted, separated by spaces.

    Raises
    ------
    ValueError
        In one line, for a field with no value or a malformed template.

    Examples
    --------
    >>> format_command("wc -l {files} > {out}", {"files": ["a b", "c"], "out": "n.txt"})
    "wc -l 'a b' c > n.txt"
    """
    try:
        return _QuotingFormatter().vformat(template, (), values)
    except KeyError as exc:
        name = exc.args[0]
        raise ValueError(
            f"reflow.shell: {{{name}}} in the command has no value; pass {name}=... "
            "(or write {{ and }} for literal braces)"
        ) from None
    except IndexError:
        raise ValueError(
            "reflow.shell: the command has a positional field {}; name every field, "
            "e.g. {out}, and pass out=..."
        ) from None
    except ValueError as exc:
        raise ValueError(f"reflow.shell: the command is not a valid template: {exc}") from None


def _pump(stream: IO[str], sink: IO[str], tail: collections.deque[str]) -> None:
    """Copy a program's stderr to the task's stderr line by line, keeping the last lines."""
    for line in stream:
        tail.append(line)
        sink.write(line)
        sink.flush()


def shell(
    command: str,
    /,
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    capture: bool = False,
    **values: Any,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` with bash in strict mode, its ``{fields}`` filled with quoted ``values``.

    Parameters
    ----------
    command : str
        A bash command or pipeline with ``{name}`` fields, e.g.
        ``"bwa mem -t {cpus} {ref} {fq} | samtools view -b -o {out}"``.
    cwd : path or None
        Directory to run in (default: the task's).
    env : mapping or None
        Variables to add to the task's environment.
    capture : bool
        Return the command's stdout as text instead of passing it on.
    **values
        The fields' values; each is shell-quoted (lists item by item), so a
        file name with spaces or ``;`` stays one argument.

    Returns
    -------
    subprocess.CompletedProcess[str]
        ``stdout`` (with ``capture``, else ``None``) and ``stderr`` (its last lines).

    Raises
    ------
    ShellError
        When the command fails: its exit status and the tail of its stderr.
    ValueError
        For a field without a value.

    Examples
    --------
    >>> shell("echo {greeting} | tr a-z A-Z", greeting="hi there", capture=True).stdout
    'HI THERE\\n'
    """
    text = format_command(command, values)
    sys.stderr.write(f"+ {text}\n")  # the command as run, in the task's log
    sys.stderr.flush()
    environ = None if env is None else {**os.environ, **env}
    process = subprocess.Popen(
        ["bash", "-c", f"{STRICT}\n{text}"],  # noqa: S607 - bash as the PATH gives it, like a job
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=environ,
        text=True,
        errors="replace",
    )
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    assert process.stderr is not None
    pump = threading.Thread(target=_pump, args=(process.stderr, sys.stderr, tail), daemon=True)
    pump.start()
    stdout = process.stdout.read() if process.stdout is not None else None
    code = process.wait()
    pump.join()
    stderr = "".join(tail)
    if code != 0:
        raise ShellError(text, code, stderr.rstrip("\n"))
    return subprocess.CompletedProcess(text, code, stdout, stderr)

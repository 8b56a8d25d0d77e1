"""What the fake submit and cancel commands share: a job's script, cancelling an element."""

from __future__ import annotations

import shlex
from pathlib import Path

from reflow_fake_schedulers.state import Element, end_element

__all__ = ["cancel_element", "write_script"]


def write_script(job_dir: Path, text: str, shell: str = "") -> list[str]:
    """Save a job's script as ``job_dir/script``; return the command that runs it.

    The command is ``shell`` when given (qsub's ``-S``), else the script's
    ``#!`` line, else ``/bin/sh``, each followed by the script's path.
    """
    script = job_dir / "script"
    script.write_text(text)
    script.chmod(0o700)
    if shell:
        return [shell, str(script)]
    if text.startswith("#!"):
        return [*shlex.split(text[2:].splitlines()[0]), str(script)]
    return ["/bin/sh", str(script)]


def cancel_element(element: Element, now: float) -> None:
    """Cancel ``element``: a queued one ends now, the runner signals a running one."""
    if element["state"] == "queued":
        end_element(element, now, "cancelled")
        element["cancel"] = True
    elif element["state"] == "running":
        element["cancel"] = True

"""A workflow script's definition mistakes end as one line and exit status 2.

A mistake in a decorator (``@wf.job(cpus=-1)``, ``pack="fast"``) is raised while
Python executes the script's top level, before ``wf.cli()`` can catch it, so
without this hook the user reads a traceback and the shell sees status 1.
:func:`install` (called when a script creates its :class:`~reflow.Workflow`)
replaces Python's own hook only: an interactive session, a test runner or a
user's hook of their own keeps its behaviour.
"""

from __future__ import annotations

import atexit
import os
import sys
from types import TracebackType

from reflow.errors import ConfigError, WorkflowDefinitionError

__all__ = ["install"]

_MISTAKES = (WorkflowDefinitionError, ConfigError)
_prog = {"name": "reflow"}


def _one_line(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    if not isinstance(value, _MISTAKES) or "--debug" in sys.argv:
        sys.__excepthook__(kind, value, tb)
        return
    print(f"{_prog['name']}: error: {value}", file=sys.stderr)
    # What an ordinary exit does, then the status of a usage error (a hook cannot
    # choose the status Python exits with after an uncaught exception).
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(2)


def install(name: str) -> None:
    """Use the one-line hook for a script run as a program; leave every other hook alone.

    Parameters
    ----------
    name : str
        The workflow's name, which starts the line as it starts ``wf.cli()``'s.
    """
    _prog["name"] = name
    interactive = hasattr(sys, "ps1") or sys.flags.interactive
    if sys.excepthook is sys.__excepthook__ and not interactive:
        sys.excepthook = _one_line

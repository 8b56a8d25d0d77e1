"""The naming rule for workflows, flows, tasks and flow prefixes.

Names end up in every executor's job names and in file and directory paths
(log files, run files, job scripts), so they are checked once, when the
workflow is defined, and are safe everywhere after that: an executor only
shortens or adapts a job name to its scheduler's own limits (PBS ``-N``
must start with a letter, for instance), and paths use the name as written.

The rule: letters, digits, ``_``, ``-`` and ``.``, at most
:data:`MAX_LENGTH` characters, not starting with ``.`` or ``-``.  Task names
and flow prefixes also name command-line flags and Python keyword
arguments, so within that rule they are identifiers: letters, digits and
``_``, not starting with a digit.
"""

from __future__ import annotations

import re

from reflow.errors import WorkflowDefinitionError

__all__ = ["MAX_LENGTH", "check_name", "check_task_name"]

MAX_LENGTH = 100
"""Longest name: job names add a task name to the workflow's, and file names stay short."""

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_name(kind: str, name: object) -> str:
    """Return ``name`` if it follows the naming rule; raise a one-line error if not.

    Parameters
    ----------
    kind : str
        What is named, for the message (``"Workflow"``, ``"Flow"``).
    name : object
        The name given.

    Raises
    ------
    WorkflowDefinitionError
        Naming the allowed characters.

    Examples
    --------
    >>> check_name("Workflow", "rna-seq.v2")
    'rna-seq.v2'
    """
    if isinstance(name, str) and _NAME.fullmatch(name) and len(name) <= MAX_LENGTH:
        return name
    raise WorkflowDefinitionError(
        f"{kind} name {name!r} is not valid: use letters, digits, '_', '-' and '.', "
        f"not starting with '.' or '-', at most {MAX_LENGTH} characters (it names jobs "
        "and files on every scheduler)."
    )


def check_task_name(kind: str, name: object) -> str:
    """Return ``name`` if it is a valid task name or flow prefix; raise a one-line error if not.

    Parameters
    ----------
    kind : str
        What is named, for the message (``"Task"``, ``"Prefix"``).
    name : object
        The name given.

    Raises
    ------
    WorkflowDefinitionError
        Naming the allowed characters.
    """
    if isinstance(name, str) and _IDENTIFIER.fullmatch(name) and len(name) <= MAX_LENGTH:
        return name
    raise WorkflowDefinitionError(
        f"{kind} name {name!r} is not valid: use letters, digits and '_', not starting "
        f"with a digit, at most {MAX_LENGTH} characters (it names jobs, files and "
        "command-line flags)."
    )

"""The subcommands of the ``reflow`` command, one module each.

A command module defines:

``NAME``
    The word typed after ``reflow``.
``HELP``
    One line for ``reflow --help``.
``DESCRIPTION``
    The paragraph at the top of ``reflow NAME --help``.
``add_arguments(parser)``
    Adds the command's own options to its :class:`argparse.ArgumentParser`.
``run(args) -> int``
    Does the work and returns the exit status.  Errors are raised as
    :class:`~reflow.errors.ReflowError`; :func:`reflow.cli.main.main` turns
    them into one line on stderr.

Importing a command module must be cheap and must not touch plugins: the
parser (and so ``reflow --help``) is built from all of them.  Import what the
command needs inside ``run``.  To add a command, write its module and list it
in :data:`COMMANDS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from reflow.cli.commands import (
    cancel,
    dag,
    explain,
    gc,
    logs,
    plugins,
    report,
    resume,
    runs,
    status,
    store,
    suggest,
)

if TYPE_CHECKING:
    import argparse

__all__ = ["COMMANDS", "Command"]


class Command(Protocol):
    """The shape of a command module (see the module docstring)."""

    NAME: str
    HELP: str
    DESCRIPTION: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the command's options to its parser."""

    def run(self, args: argparse.Namespace) -> int:
        """Run the command and return its exit status."""


COMMANDS: tuple[Command, ...] = (
    runs,
    status,
    logs,
    explain,
    dag,
    gc,
    resume,
    cancel,
    plugins,
    report,
    suggest,
    store,
)
"""The subcommands, in the order ``reflow --help`` lists them."""

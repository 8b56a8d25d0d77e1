"""The ``reflow`` command (also ``python -m reflow``).

Global options, accepted before or after the subcommand:

``-v`` / ``-q``
    More or less logging on stderr (``-v`` INFO, ``-vv`` DEBUG; ``-q`` ERROR,
    ``-qq`` CRITICAL).  Without them the level comes from ``REFLOW_LOG_LEVEL``,
    else WARNING.  This is the only place reflow configures logging; the
    library itself adds no handlers.
``--debug``
    Show the full traceback of an error.  Without it, a
    :class:`~reflow.errors.ReflowError` is printed as one line,
    ``reflow: error: ...``, and the exit status is 2.
``--version``
    Print the reflow-core version.

Building the parser touches no plugin, so ``reflow --help`` works even when an
installed plugin is broken.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from typing import TYPE_CHECKING

from reflow import env
from reflow._version import __version__
from reflow.cli.commands import COMMANDS
from reflow.env import VARIABLES
from reflow.errors import ReflowError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["build_parser", "main"]

logger = logging.getLogger(__name__)

EXIT_ERROR = 2
"""Exit status when a command fails with a :class:`~reflow.errors.ReflowError`."""

EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), as shells report it."""

EXIT_BROKEN_PIPE = 141
"""Exit status when the reader of the output went away (128 + SIGPIPE), as shells report it."""

_LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)


class _StderrHandler(logging.Handler):
    """Writes each record to whatever ``sys.stderr`` is at that moment."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


def _common_options(*, top_level: bool) -> argparse.ArgumentParser:
    """The global options, shared by the top-level parser and every subcommand.

    On subcommands their defaults are suppressed, so ``reflow -v plugins`` and
    ``reflow plugins -v`` both work and neither resets the other.
    """
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("global options")
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0 if top_level else argparse.SUPPRESS,
        help="log more on stderr (-v: INFO, -vv: DEBUG)",
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="count",
        default=0 if top_level else argparse.SUPPRESS,
        help="log less on stderr (-q: ERROR, -qq: CRITICAL)",
    )
    group.add_argument(
        "--debug",
        action="store_true",
        default=False if top_level else argparse.SUPPRESS,
        help="show the full traceback of errors",
    )
    return parser


def _environment_epilog() -> str:
    width = max(len(name) for name in VARIABLES)
    lines = [f"  {name.ljust(width)}  {text}" for name, text in VARIABLES.items()]
    return "environment variables:\n" + "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """Build the parser of the ``reflow`` command and all its subcommands.

    Returns
    -------
    argparse.ArgumentParser
        The parser; each subcommand stores its ``run`` function as
        ``args.run``.
    """
    parser = argparse.ArgumentParser(
        prog="reflow",
        description="Inspect and manage reflow workflows, runs and plugins.",
        epilog=_environment_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common_options(top_level=True)],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")
    subparsers.required = True
    common = _common_options(top_level=False)
    for command in COMMANDS:
        subparser = subparsers.add_parser(
            command.NAME,
            help=command.HELP,
            description=command.DESCRIPTION,
            parents=[common],
        )
        command.add_arguments(subparser)
        subparser.set_defaults(run=command.run)
    return parser


def _log_level(verbose: int, quiet: int) -> int:
    """The level ``-v``/``-q`` ask for, else ``REFLOW_LOG_LEVEL``, else WARNING."""
    if verbose or quiet:
        index = _LEVELS.index(logging.WARNING) - verbose + quiet
        return _LEVELS[max(0, min(index, len(_LEVELS) - 1))]

    name = env.checked(env.REFLOW_LOG_LEVEL)
    if name is None:
        return logging.WARNING
    level: int = logging.getLevelName(name.strip().upper())
    return level


def _configure_logging(level: int) -> None:
    """Send log records of ``level`` and above to stderr (replacing an earlier call's handler)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StderrHandler):
            root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("reflow: %(levelname)s: %(name)s: %(message)s"))
    handler.setLevel(level)
    root.addHandler(handler)
    root.setLevel(level)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``reflow`` command.

    Parameters
    ----------
    argv : Sequence[str] or None
        The arguments after the program name; ``None`` means ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0 on success, 2 for a usage error, a
        :class:`~reflow.errors.ReflowError` or a file that cannot be read or
        written, 130 after Ctrl-C, 141 when the output's reader went away.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exit_:  # --help, --version and usage errors
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else EXIT_ERROR)
    debug = bool(args.debug)
    try:
        env.check()
        _configure_logging(_log_level(args.verbose, args.quiet))
        logger.debug("reflow-core %s: running %r", __version__, args.command)
        status: int = args.run(args)
    except ReflowError as error:
        if debug:
            traceback.print_exc(file=sys.stderr)
        sys.stderr.write(f"reflow: error: {_one_line(error)}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc(file=sys.stderr)
        sys.stderr.write("reflow: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `reflow ... | head`: the reader has all it wanted
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as error:  # a file that cannot be read or written
        if debug:
            traceback.print_exc(file=sys.stderr)
        sys.stderr.write(f"reflow: error: {_one_line(error)}\n")
        return EXIT_ERROR
    return status


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush does not fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real file behind stdout
        pass

"""``reflow plugins``: list the installed executor and store plugins.

For each plugin: its kind, name, distribution and version, the file it is
loaded from, and ``ok`` or the reason it cannot be used (it fails to import,
or it was built for another reflow-core).  ``--json`` prints the same as one
JSON object.  The listing itself always succeeds (exit status 0), broken
plugins included: it is the tool for finding them.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from reflow._version import __version__

if TYPE_CHECKING:
    import argparse

    from reflow.plugins import PluginInfo

__all__ = ["DESCRIPTION", "HELP", "NAME", "add_arguments", "run"]

NAME = "plugins"
HELP = "list installed executor and store plugins and whether they load"
DESCRIPTION = (
    "List the executor and store plugins installed for this Python interpreter, "
    "with their distribution, version, module file and status: 'ok', or why the "
    "plugin cannot be used."
)

_COLUMNS = ("KIND", "NAME", "DISTRIBUTION", "VERSION", "PATH", "STATUS")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--json``."""
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: interpreter, reflow-core version and the plugin list",
    )


def run(args: argparse.Namespace) -> int:
    """Print the plugin listing; always returns 0."""
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.executors import Executor
    from reflow.plugins import describe_plugins

    infos = describe_plugins({"executors": Executor})
    if args.json:
        sys.stdout.write(json.dumps(_as_json(infos, __version__), indent=2) + "\n")
    else:
        sys.stdout.write(f"reflow-core {__version__} on {sys.executable}\n")
        sys.stdout.write(_table(infos))
    return 0


def _as_json(infos: list[PluginInfo], core_version: str) -> dict[str, object]:
    return {
        "python": sys.executable,
        "reflow_core": core_version,
        "plugins": [
            {
                "kind": info.kind,
                "name": info.name,
                "value": info.value,
                "distribution": info.distribution,
                "version": info.version,
                "path": info.path,
                "core_requirement": info.core_requirement,
                "compatible": info.compatible,
                "error": info.error,
            }
            for info in infos
        ],
    }


def _table(infos: list[PluginInfo]) -> str:
    if not infos:
        return "No executor or store plugins are installed.\n"
    rows = [_COLUMNS] + [
        (
            info.kind,
            info.name,
            info.distribution or "-",
            info.version or "-",
            info.path or "-",
            "ok" if info.error is None else " ".join(info.error.split()),
        )
        for info in infos
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(_COLUMNS) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True))
        + "  "
        + row[-1]
        for row in rows
    ]
    return "\n".join(lines) + "\n"

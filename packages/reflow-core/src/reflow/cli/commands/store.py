"""``reflow store``: look at a store, and copy one store into another.

``reflow store info [URL]``
    The backend (the URL's scheme), the URL (never a password), the schema
    version, how many runs and task instances it holds, and its size, where
    the store can tell (:meth:`Store.describe <reflow.stores.Store.describe>`).
    Without a URL, the configured store.
``reflow store copy SRC_URL DST_URL``
    Every run with its task specifications and instances (the history and
    the cache) from one store into another, through the Store interface, so
    any two stores work (see :mod:`reflow.stores.copying`).  A run already in
    the destination is skipped, so copying again adds nothing and finishes an
    interrupted copy.  Progress on a terminal, then one summary line.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from reflow.errors import ReflowError
from reflow.urlpasswords import without_password

if TYPE_CHECKING:
    import argparse

    from reflow.stores import RunRecord, Store

__all__ = ["DESCRIPTION", "HELP", "NAME", "add_arguments", "run"]

NAME = "store"
HELP = "show what a store holds, or copy one store into another"
DESCRIPTION = (
    "'reflow store info [URL]' shows a store's backend, URL, schema version, counts and size "
    "(the configured store without a URL). 'reflow store copy SRC_URL DST_URL' copies every "
    "run, task and instance (history and cache) from one store into another, for example "
    "from SQLite to PostgreSQL; runs already in DST are skipped, so it can be run again."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``info`` and ``copy`` actions and their arguments."""
    actions = parser.add_subparsers(title="actions", metavar="ACTION", dest="action")
    actions.required = True
    info = actions.add_parser(
        "info",
        help="backend, URL, schema version, counts and size of a store",
        description="Show a store's backend, URL (no password), schema version, numbers of "
        "runs and task instances, and size where the store can tell.",
    )
    info.add_argument(
        "url",
        nargs="?",
        metavar="URL",
        help="store URL, such as sqlite:///abs/path.db (default: the configured store)",
    )
    info.add_argument("--json", action="store_true", help="print one JSON object")
    copy = actions.add_parser(
        "copy",
        help="copy every run, task and instance from SRC_URL into DST_URL",
        description="Copy every run (with its context, owner, status and parameters), task "
        "specification and task instance (states, outputs, hashes, identities, cache "
        "information) and whole-array identity from SRC_URL into DST_URL. Each run is copied "
        "whole or not at all; a run already in DST_URL is skipped. Instance ids and times "
        "are the destination's.",
    )
    copy.add_argument("source", metavar="SRC_URL", help="the store to copy from")
    copy.add_argument("target", metavar="DST_URL", help="the store to copy into")


def run(args: argparse.Namespace) -> int:
    """Run ``info`` or ``copy``."""
    if args.action == "info":
        return _info(args)
    return _copy(args)


def _checked_url(url: str, what: str) -> str:
    """``url`` if it is a store URL; a path or a typo fails in one line."""
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.env import store_url_fix

    fix = store_url_fix(url)
    if fix is not None:
        raise ReflowError(f"{what} {without_password(url)!r} is not valid: {fix}.")
    return url.strip()


def _open(url: str | None, *, create: bool) -> Store:
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.config import load_config
    from reflow.stores import open_store

    store = open_store(url, load_config(), create=create)
    store.init()
    return store


def _url(store: Store) -> str:
    from reflow.runs.creation import store_url  # lazy: see _open, `reflow --help` is fast

    return store_url(store) or repr(store)


def _info(args: argparse.Namespace) -> int:
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.commands.runs import run_progress
    from reflow.cli.output import Line, Printer, Table, format_size
    from reflow.stores import url_scheme

    url = None if args.url is None else _checked_url(args.url, "The store URL")
    store = _open(url, create=False)
    try:
        described = store.describe()
        records = store.list_run_records()
        instances = described.get("instances")
        if instances is None:  # the store cannot count them at once: ask per run
            instances = sum(run_progress(store, r.run_id)[1] for r in records)
        location = _url(store)
        facts: dict[str, Any] = {
            "backend": url_scheme(location) or type(store).__name__,
            "url": location,
            "schema_version": described.get("schema_version"),
            "runs": len(records),
            "instances": instances,
            "users": len({r.user_id for r in records}),
            "size_bytes": described.get("size_bytes"),
        }
    finally:
        store.close()
    printer = Printer()
    if args.json:
        printer.json(facts)
        return 0
    size = facts["size_bytes"]
    version = facts["schema_version"]
    table = Table(("", ""))
    for label, value in (
        ("backend", facts["backend"]),
        ("url", facts["url"]),
        ("schema version", "unknown" if version is None else str(version)),
        ("runs", f"{facts['runs']} (of {facts['users']} user(s))"),
        ("task instances", str(facts["instances"])),
        ("size", "unknown" if size is None else format_size(int(size))),
    ):
        table.add(label, str(value))
    doc: list[Line | Table] = [table]
    printer.show(doc)
    return 0


def _copy(args: argparse.Namespace) -> int:
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.stores.copying import copy_store

    source_url = _checked_url(args.source, "SRC_URL")
    target_url = _checked_url(args.target, "DST_URL")
    source = _open(source_url, create=False)
    try:
        target = _open(target_url, create=True)
        try:
            if _url(source) == _url(target):
                raise ReflowError(
                    f"SRC_URL and DST_URL name the same store ({_url(source)}); "
                    "give two different stores."
                )
            summary = copy_store(source, target, progress=_progress_line())
            where = f"from {_url(source)} into {_url(target)}"
        finally:
            target.close()
    finally:
        source.close()
    skipped = f"; skipped {summary.skipped} run(s) already there" if summary.skipped else ""
    print(
        f"Copied {summary.runs} run(s), {summary.instances} task instance(s), "
        f"{summary.specs} task specification(s) and {summary.arrays} whole-array "
        f"identit{'y' if summary.arrays == 1 else 'ies'} {where}{skipped}."
    )
    return 0


def _progress_line() -> Any:
    """A progress callback that rewrites one line on a terminal (stderr), else nothing."""
    stream = sys.stderr
    if not stream.isatty():
        return None

    def show(done: int, total: int, record: RunRecord, skipped: bool) -> None:
        what = "skipped (already there)" if skipped else "copied"
        stream.write(f"\r\x1b[2Krun {done}/{total}: {record.run_id} {what}")
        if done == total:
            stream.write("\n")
        stream.flush()

    return show

"""``reflow.cli.runref``: the ``RUN``/``--store-path`` pair and opening a run, for commands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from reflow.cli.runref import add_run_options, opened_run
from reflow.errors import ReflowError


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_run_options(parser)
    return parser.parse_args(argv)


def test_run_options_read_the_run_and_the_store_path() -> None:
    args = parse("latest", "--store-path", "~/m.db")
    assert (args.run_ref, args.store_path) == ("latest", Path("~/m.db"))
    assert parse("abcd").store_path is None


def test_opened_run_resolves_the_run_and_closes_the_store_after(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.insert_run("20240101-aaaa-bcdef", "flow", "me", {})
    closed: list[bool] = []
    monkeypatch.setattr(type(store), "close", lambda self: closed.append(True))
    with opened_run(parse("bcdef", "--store-path", str(store.path))) as (opened, record):
        assert record.run_id == "20240101-aaaa-bcdef"
        assert opened.get_run_record(record.run_id) is not None
        assert closed == []
    assert closed == [True]
    with (
        pytest.raises(ReflowError, match="No run 'nope'"),
        opened_run(parse("nope", "--store-path", str(store.path))),
    ):
        pass  # pragma: no cover - the run is not found before the block
    assert closed == [True, True]  # closed although RUN named nothing

"""The documentation names everything a user or a plugin author can rely on.

A ``REFLOW_*`` variable, a nox session or a plugin-API name added to the code without a line
in the docs fails here, so the docs cannot silently fall behind the code.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

import pytest

import reflow.env
import reflow.executors
import reflow.stores

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def code_spans(markdown: str) -> set[str]:
    """Every identifier inside a `code span` of the text, dotted paths split into parts."""
    spans = re.findall(r"`([^`\n]+)`", markdown)
    return {word for span in spans for word in re.findall(r"[A-Za-z_][A-Za-z0-9_-]*", span)}


def section(markdown: str, heading: str) -> str:
    """The text under a ``## heading``, up to the next heading of that level."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match is not None, f"no '## {heading}' section"
    return match.group(1)


def nox_sessions(noxfile_source: str) -> set[str]:
    """The names of the sessions a noxfile defines, read without importing nox."""
    sessions = set()
    for node in ast.walk(ast.parse(noxfile_source)):
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            if ast.unparse(call.func if call else decorator) != "nox.session":
                continue
            names = [k.value for k in (call.keywords if call else []) if k.arg == "name"]
            sessions.add(ast.literal_eval(names[0]) if names else node.name)
    return sessions


def first_cells(markdown: str) -> list[str]:
    """The first cell of every row of the tables in the text."""
    return [row.split("|")[1] for row in markdown.splitlines() if row.startswith("| ")]


def undocumented_variables(variables: Iterable[str], configuration_md: str) -> list[str]:
    """Variables without a row of their own in the tables of the configuration page."""
    rows = first_cells(section(configuration_md, "Environment variables"))
    documented = set().union(*(code_spans(cell) for cell in rows))
    return sorted(set(variables) - documented)


def undocumented_sessions(noxfile_source: str, development_md: str) -> list[str]:
    """Sessions missing from the first column of the session table of development.md."""
    rows = first_cells(section(development_md, "The nox sessions"))
    documented = {m.group(1) for cell in rows if (m := re.match(r" `([\w-]+)", cell))}
    return sorted(nox_sessions(noxfile_source) - documented)


def undocumented_names(names: Iterable[str], pages: Iterable[str]) -> list[str]:
    """Names that no page shows in a code span."""
    documented = set().union(*(code_spans(page) for page in pages))
    return sorted(set(names) - documented)


def test_every_environment_variable_is_in_the_configuration_table() -> None:
    variables = {
        *reflow.env.VARIABLES,
        *(n for n in reflow.env.__all__ if n.startswith("REFLOW_")),
    }
    assert "REFLOW_STORE_PATH" in variables
    assert undocumented_variables(variables, (DOCS / "configuration.md").read_text()) == []


def test_every_nox_session_is_in_the_development_table() -> None:
    noxfile = (ROOT / "noxfile.py").read_text()
    assert {"lint", "tests", "cluster", "conformance", "minimums", "docs"} <= nox_sessions(noxfile)
    assert undocumented_sessions(noxfile, (DOCS / "development.md").read_text()) == []


@pytest.mark.parametrize("module", [reflow.executors, reflow.stores], ids=lambda m: m.__name__)
def test_every_plugin_api_name_is_in_the_docs(module: ModuleType) -> None:
    # __all__ as it is at run time: it is the declared plugin API.
    assert {"Executor", "Store"} & set(module.__all__)
    pages = [page.read_text() for page in DOCS.rglob("*.md")]
    assert undocumented_names(module.__all__, pages) == []


NEW_SESSION = """

@nox.session(name="new-one")
def new_one(session: nox.Session) -> None:
    pass
"""


def test_each_check_names_what_the_docs_lack() -> None:
    configuration = (DOCS / "configuration.md").read_text()
    without_mode = "\n".join(
        line for line in configuration.splitlines() if not line.startswith("| `REFLOW_MODE`")
    )
    assert undocumented_variables(reflow.env.VARIABLES, without_mode) == ["REFLOW_MODE"]

    noxfile = (ROOT / "noxfile.py").read_text()
    added = noxfile + NEW_SESSION
    development = (DOCS / "development.md").read_text()
    assert undocumented_sessions(added, development) == ["new-one"]
    # A session named only in prose, not in the table, is not documented.
    assert undocumented_sessions(added, development + "\nnew-one does X\n") == ["new-one"]

    pages = ["`reflow.stores.open_store(url)` opens a `Store`; StoreError is not in a span."]
    assert undocumented_names(["open_store", "Store", "StoreError"], pages) == ["StoreError"]

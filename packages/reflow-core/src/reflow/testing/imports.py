"""Which reflow-core modules a plugin imports: the check that it keeps to its declared API.

A plugin package (an executor, a store) may import from reflow-core only the
module that declares its plugin API (``reflow.executors``, ``reflow.stores``),
and only the names in that module's ``__all__``; its tests may also use
``reflow.testing``.  Any other import ties the plugin to core's internals,
which move between releases.  Every import counts: at module level, inside a
function, or under ``TYPE_CHECKING``.  A plugin's own tests call::

    from reflow.testing.imports import package_violations

    def test_only_the_plugin_api_is_imported():
        assert package_violations(PACKAGE_DIR, {"reflow.stores"}) == []
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = [
    "TEST_API",
    "forbidden_imports",
    "names_taken",
    "package_violations",
    "reflow_imports",
]

TEST_API = frozenset({"reflow.testing", "reflow.testing.*"})
"""What a plugin's tests may import besides its API: ``reflow.testing`` and its submodules."""


def reflow_imports(source: str, filename: str = "<source>") -> Iterator[tuple[int, str, set[str]]]:
    """Each import of a reflow module in ``source``: line, module, the names taken from it.

    ``from reflow import env`` counts as the module ``reflow.env``; ``import
    reflow.errors`` takes no names.

    Parameters
    ----------
    source : str
        Python source text.
    filename : str
        For syntax errors.

    Yields
    ------
    tuple of (int, str, set of str)
        The line, the module, and the names imported from it.
    """
    nodes = ast.walk(ast.parse(source, filename))
    for node in (n for n in nodes if isinstance(n, ast.Import | ast.ImportFrom)):
        modules: dict[str, set[str]] = {}
        if isinstance(node, ast.Import):
            modules = {alias.name: set() for alias in node.names}
        elif node.level == 0 and node.module:
            if node.module == "reflow":  # from reflow import env: the module reflow.env
                modules = {f"reflow.{alias.name}": set() for alias in node.names}
            else:
                modules = {node.module: {alias.name for alias in node.names}}
        for module, names in modules.items():
            if module == "reflow" or module.startswith("reflow."):
                yield node.lineno, module, names


def _allowed(module: str, api: Iterable[str]) -> bool:
    return any(
        module == allowed or (allowed.endswith(".*") and module.startswith(allowed[:-1]))
        for allowed in api
    )


def forbidden_imports(source: str, api: Iterable[str], filename: str = "<source>") -> list[str]:
    """``file:line module`` for each import of a reflow module outside ``api``.

    Parameters
    ----------
    source : str
        Python source text.
    api : iterable of str
        The allowed modules; ``name.*`` allows the submodules of ``name``.
    filename : str
        Named in the result.

    Returns
    -------
    list of str
        One entry per forbidden import, in the order found.
    """
    api = frozenset(api)
    return [
        f"{filename}:{line} {module}"
        for line, module, _ in reflow_imports(source, filename)
        if not _allowed(module, api)
    ]


def _python_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def package_violations(
    package: Path, api: Iterable[str], test_api: Iterable[str] | None = None
) -> list[str]:
    """The forbidden imports of a plugin package's ``src`` (and ``tests``), by path in it.

    Parameters
    ----------
    package : Path
        The package's directory (holding ``src/`` and ``tests/``).
    api : iterable of str
        The modules its sources may import.
    test_api : iterable of str or None
        What its tests may import besides ``api``; ``None`` checks ``src`` alone.

    Returns
    -------
    list of str
        ``path:line module`` for each forbidden import.
    """
    api = frozenset(api)
    folders = [("src", api)]
    if test_api is not None:
        folders.append(("tests", api | frozenset(test_api)))
    found = []
    for folder, allowed in folders:
        for path in _python_files(package / folder):
            text = path.read_text(encoding="utf-8")
            found += forbidden_imports(text, allowed, path.relative_to(package).as_posix())
    return found


def names_taken(folder: Path, module: str) -> set[str]:
    """Every name the Python files under ``folder`` import from ``module``.

    Parameters
    ----------
    folder : Path
        A package's source folder.
    module : str
        The module, e.g. ``reflow.stores``.

    Returns
    -------
    set of str
        The names, to compare with the module's ``__all__``.
    """
    taken: set[str] = set()
    for path in _python_files(folder):
        for _, found, names in reflow_imports(path.read_text(encoding="utf-8"), str(path)):
            if found == module:
                taken |= names
    return taken

"""The layers of reflow-core, checked on its import graph.

``docs/architecture.md`` describes layers; this test keeps the code to them:

- no import circle among reflow-core's modules, except within the user-facing
  face (:data:`FACE`), counting imports inside functions too;
- the definition layer (``reflow.define``) imports nothing above it (only the
  base modules in :data:`DEFINE_MAY_IMPORT`), not even for type annotations;
- every import of a reflow module left inside a function says why, with a
  ``# lazy: ...`` comment on its line or the line above (the project's only
  reason is import time measured to matter).

The graph is read from the source with :mod:`ast`, as Python would import it:
``from a.b import c`` depends on ``a.b`` (and on ``a.b.c`` when that is a
module), and importing ``a.b.c`` runs the ``__init__`` of ``a.b`` first (unless the importer
is inside ``a.b``, which has then started already).  The
``reflow`` package itself is left out of that last rule: its ``__init__`` imports
its public names on first use, so it never runs anything else at import time.
Imports under ``if TYPE_CHECKING:`` never run and so cannot close a circle;
they still count for the definition layer's rule.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

import reflow

SRC = Path(reflow.__file__).resolve().parent.parent
"""The directory holding the ``reflow`` package of reflow-core."""

FACE = frozenset(
    {
        "reflow",
        "reflow.workflow",
        "reflow.workflow._core",
        "reflow.run",
        "reflow.cli",
        "reflow.cli.main",
    }
)
"""The user-facing face, whose modules may import each other in a circle.

``Workflow`` and ``Run`` drive the engines and the generated command line,
and the generated command line drives them back; the generated command line
(``reflow.cli.script.*``) and the ``reflow`` command's own commands
(``reflow.cli.commands.*``, which load workflows) belong here too, see
:func:`in_face`.
"""

DEFINE_MAY_IMPORT = frozenset(
    {
        "reflow",
        "reflow._types",
        "reflow._version",
        "reflow.errors",
        "reflow.env",
        "reflow.manifest",
    }
)
"""What ``reflow.define`` may import besides itself: the base every layer stands on.

The states, the errors, the environment variables and the value codec: none of
them imports another reflow module.
"""

LAZY_MARK = "# lazy:"


def in_face(module: str) -> bool:
    """Whether ``module`` belongs to the user-facing face."""
    return module in FACE or module.startswith(("reflow.cli.script", "reflow.cli.commands"))


@dataclass(frozen=True)
class Import:
    """One import statement of a reflow module that names reflow modules."""

    module: str
    """The importing module."""
    targets: frozenset[str]
    """The modules the statement makes Python import (packages' ``__init__`` included)."""
    path: Path
    line: int
    in_function: bool
    type_checking: bool


def modules(src: Path) -> dict[str, tuple[Path, bool]]:
    """Every module of the ``reflow`` package under ``src``: dotted name -> (file, is a package).

    Only ``reflow``: installed (not editable), ``src`` is site-packages.
    """
    found = {}
    for path in sorted((src / "reflow").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        package = parts[-1] == "__init__"
        if package:
            parts.pop()
        found[".".join(parts)] = (path, package)
    return found


def _with_parents(name: str, known: Mapping[str, object], running: set[str]) -> set[str]:
    """``name`` and the packages above it whose ``__init__`` importing it runs.

    ``running`` are the importing module's own packages: their ``__init__`` has
    started before the module could run, so importing a sibling does not run
    them again (``from reflow.report.units import x`` in ``reflow.report.dag``).
    """
    parts = name.split(".")
    parents = {".".join(parts[:i]) for i in range(2, len(parts))} - running
    return {n for n in (*parents, name) if n in known}


def _named(node: ast.Import | ast.ImportFrom, module: str, package: bool) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    base = module.split(".") if package else module.split(".")[:-1]
    if node.level:
        base = base[: len(base) - (node.level - 1)]
        source = ".".join([*base, node.module] if node.module else base)
    else:
        source = node.module or ""
    return {source, *(f"{source}.{alias.name}" for alias in node.names)}


def _walk(
    nodes: Iterable[ast.AST], in_function: bool, type_checking: bool
) -> Iterator[tuple[ast.AST, bool, bool]]:
    for node in nodes:
        yield node, in_function, type_checking
        inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        checking = type_checking or (
            isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        )
        yield from _walk(ast.iter_child_nodes(node), inner, checking)


def imports(src: Path) -> list[Import]:
    """Every import statement under ``src`` that names a module under ``src``."""
    known = modules(src)
    found = []
    for module, (path, package) in known.items():
        parts = module.split(".")
        running = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        tree = ast.parse(path.read_text(), str(path))
        for node, in_function, type_checking in _walk(tree.body, False, False):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            targets: set[str] = set()
            for name in _named(node, module, package):
                targets |= _with_parents(name, known, running)
            targets.discard(module)
            if targets:
                found.append(
                    Import(
                        module, frozenset(targets), path, node.lineno, in_function, type_checking
                    )
                )
    return found


def circles(found: Iterable[Import]) -> list[set[str]]:
    """The import circles (strongly connected components of more than one module)."""
    graph: dict[str, set[str]] = {}
    for imp in found:
        if imp.type_checking:
            continue  # never runs: cannot close a circle
        # The root package runs nothing at import time (see the module docstring).
        graph.setdefault(imp.module, set()).update(imp.targets - {"reflow"})
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph.get(node, ()):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def circle_problems(found: list[Import]) -> list[str]:
    """One line per import circle that leaves the face, naming its back edges."""
    problems = []
    for component in circles(found):
        outside = sorted(m for m in component if not in_face(m))
        if not outside:
            continue
        edges = sorted(
            f"{imp.path.name}:{imp.line} {imp.module} -> "
            + ", ".join(sorted(imp.targets & component))
            for imp in found
            if not imp.type_checking and imp.module in component and imp.targets & component
        )
        problems.append(f"circle through {', '.join(outside)}:\n    " + "\n    ".join(edges))
    return problems


def define_problems(found: list[Import]) -> list[str]:
    """One line per import of ``reflow.define`` that reaches above the definition layer."""
    return [
        f"{imp.path}:{imp.line}: {imp.module} imports {target}"
        for imp in found
        if imp.module.startswith("reflow.define")
        for target in sorted(imp.targets)
        if not target.startswith("reflow.define") and target not in DEFINE_MAY_IMPORT
    ]


def lazy_problems(found: list[Import]) -> list[str]:
    """One line per import inside a function without a ``# lazy:`` reason.

    The reason is on the import's line, or on the line above the group of
    imports it starts or belongs to.
    """
    problems = []
    for imp in found:
        if not imp.in_function or imp.type_checking:
            continue
        text = imp.path.read_text()
        spans = {
            line: node.lineno
            for node in ast.walk(ast.parse(text))
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for line in range(node.lineno, (node.end_lineno or node.lineno) + 1)
        }
        above = imp.line - 1
        while above in spans:  # up to the first import of the group
            above = spans[above] - 1
        lines = text.splitlines()
        marked = [lines[imp.line - 1], lines[above - 1] if above >= 1 else ""]
        if not any(LAZY_MARK in line for line in marked):
            problems.append(f"{imp.path}:{imp.line}: {lines[imp.line - 1].strip()}")
    return problems


# -- reflow-core itself ----------------------------------------------------------------


@pytest.fixture(scope="module")
def core_imports() -> list[Import]:
    return imports(SRC)


def test_no_import_circle_outside_the_face(core_imports: list[Import]) -> None:
    assert circle_problems(core_imports) == []


def test_the_definition_layer_imports_nothing_above_it(core_imports: list[Import]) -> None:
    assert define_problems(core_imports) == []


def test_every_import_inside_a_function_says_why(core_imports: list[Import]) -> None:
    assert lazy_problems(core_imports) == []


def test_function_level_imports_are_the_exception(core_imports: list[Import]) -> None:
    # Most imports of reflow modules are at the top of their module: the
    # lazy ones are the few that keep an entry point fast.
    lazy = [imp for imp in core_imports if imp.in_function and not imp.type_checking]
    top = [imp for imp in core_imports if not imp.in_function]
    assert len(lazy) * 3 < len(top)


def test_the_graph_sees_reflow_core() -> None:
    # Guards the tests above against passing on an empty or misread tree.
    found = imports(SRC)
    names = {imp.module for imp in found}
    assert {"reflow.workflow._core", "reflow.define.flow", "reflow.engine.local.engine"} <= names
    engine = [imp for imp in found if imp.module == "reflow.engine.local.engine"]
    assert any("reflow.cache.planning" in imp.targets for imp in engine)


# -- the checker, on planted violations ------------------------------------------------


def _tree(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


_CLEAN = {
    "reflow/__init__.py": "",
    "reflow/errors.py": "",
    "reflow/define/__init__.py": "",
    "reflow/define/flow.py": "from reflow.errors import *\n",
    "reflow/engine/__init__.py": "",
    "reflow/engine/run.py": "from reflow.define.flow import *\n",
    "reflow/run.py": (
        "from reflow.engine.run import *\n"
        "def go():\n"
        "    # lazy: the workflow imports the run back\n"
        "    from reflow.workflow import Workflow\n"
    ),
    "reflow/workflow.py": "from reflow.run import *\n",
}


def test_a_clean_tree_passes(tmp_path: Path) -> None:
    found = imports(_tree(tmp_path, _CLEAN))
    assert circles(found) == [{"reflow.run", "reflow.workflow"}]  # the face's own circle
    assert circle_problems(found) == []
    assert define_problems(found) == []
    assert lazy_problems(found) == []


def test_a_circle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    planted = {
        **_CLEAN,
        "reflow/engine/run.py": (
            "from reflow.define.flow import *\n"
            "def f():\n"
            "    # lazy: planted\n"
            "    from reflow.run import go\n"
        ),
    }
    [problem] = circle_problems(imports(_tree(tmp_path, planted)))
    assert "reflow.engine.run" in problem
    assert "run.py:4 reflow.engine.run -> reflow.run" in problem


def test_a_circle_through_a_package_init_is_found(tmp_path: Path) -> None:
    planted = {**_CLEAN, "reflow/engine/__init__.py": "from reflow.run import *\n"}
    [problem] = circle_problems(imports(_tree(tmp_path, planted)))
    assert "reflow.engine" in problem


def test_type_checking_imports_close_no_circle(tmp_path: Path) -> None:
    planted = {
        **_CLEAN,
        "reflow/engine/run.py": (
            "from typing import TYPE_CHECKING\n"
            "from reflow.define.flow import *\n"
            "if TYPE_CHECKING:\n"
            "    from reflow.run import go\n"
        ),
    }
    assert circle_problems(imports(_tree(tmp_path, planted))) == []


def test_the_definition_layer_may_not_import_an_engine(tmp_path: Path) -> None:
    planted = {
        **_CLEAN,
        "reflow/define/flow.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    from reflow.engine import run\n"
        ),
    }
    problems = define_problems(imports(_tree(tmp_path, planted)))
    assert [p.split(": ")[-1] for p in problems] == [
        "reflow.define.flow imports reflow.engine",
        "reflow.define.flow imports reflow.engine.run",
    ]


def test_a_function_level_import_without_a_reason_is_found(tmp_path: Path) -> None:
    planted = {
        **_CLEAN,
        "reflow/engine/run.py": (
            "def f():\n"
            "    # lazy: a reason for the group below\n"
            "    from reflow.define import flow\n"
            "    from reflow import errors\n"
            "    x = 1\n"
            "    from reflow.define import flow\n"
        ),
    }
    [problem] = lazy_problems(imports(_tree(tmp_path, planted)))
    assert problem.endswith("run.py:6: from reflow.define import flow")

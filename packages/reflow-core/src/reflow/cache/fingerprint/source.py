"""The text that stands for one code object: its normalised syntax tree, or its bytecode.

A function is fingerprinted from the syntax tree of its source, with
comments, layout, line numbers, docstrings and its own decorators left out,
dumped in a form that does not depend on the Python version (fields that are
empty or ``None`` are skipped, so a field added to the tree by a newer Python
changes nothing).  An unchanged function therefore keeps its fingerprint
across Python upgrades and comment or formatting edits.

The source is only trusted when it is the source of the code that is loaded:
the file is read now, and it may have been edited since the module was
imported (a notebook, a long-lived process, a job started after an edit).  The
whole file is compiled again on this interpreter and the code object found at
the function's place must match the loaded one, bytecode, names and
constants.  Where it does not, or there is no source at all (exec'd code, a
``.pyc`` without its ``.py``), the bytecode is hashed instead and the reason is
kept, so ``reflow explain`` can say why a Python upgrade will be a miss.
"""

from __future__ import annotations

import ast
import hashlib
import linecache
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import CodeType
from typing import Any

__all__ = ["CodeText", "code_text"]

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


@dataclass(frozen=True)
class CodeText:
    """What a code object contributes to a fingerprint.

    Attributes
    ----------
    text : str
        The canonical text to hash (normalised syntax tree, or bytecode).
    source : str
        ``"ast"``, or ``"bytecode: <why>"`` when there was no trustworthy source.
    names : frozenset[str]
        Global and free names the code reads, nested code included.
    chains : frozenset[tuple[str, ...]] or None
        Dotted names read (``mypkg.helpers.scale`` as three parts), from the
        syntax tree; ``None`` when fingerprinted from bytecode, which does not
        keep them.
    """

    text: str
    source: str
    names: frozenset[str]
    chains: frozenset[tuple[str, ...]] | None


class _ParsedFile:
    """One source file as read now: its tree, its code, and both indexed by place.

    The indexes are built once per file, so fingerprinting the many
    functions of a large module costs one parse and one walk, not one each.
    """

    def __init__(self, lines: list[str], text: str) -> None:
        self.lines = lines
        self.text = text
        self.codes: dict[tuple[str, int], list[CodeType]] = {}
        self.nodes: dict[tuple[str, int], list[tuple[str, ast.AST]]] = {}
        try:
            tree = ast.parse(text)
            compiled = compile(tree, "<fingerprint>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            self.ok = False
            return
        self.ok = True
        for code in _code_objects(compiled):
            self.codes.setdefault((code.co_name, code.co_firstlineno), []).append(code)
        for qualname, node in _qualnames(tree):
            key = (qualname.rpartition(".")[2], _first_line(node))
            self.nodes.setdefault(key, []).append((qualname, node))


# Code objects are immutable, so what was found for one stays true for the
# process; the object is kept alive with its entry so its id cannot be reused.
_CODE_MEMO: dict[int, tuple[CodeType, CodeText]] = {}
_FILES: dict[str, _ParsedFile] = {}


def code_text(code: CodeType, module_globals: Mapping[str, Any] | None) -> CodeText:
    """Return the :class:`CodeText` of ``code`` (memoised per code object)."""
    hit = _CODE_MEMO.get(id(code))
    if hit is not None and hit[0] is code:
        return hit[1]
    names = frozenset(_names(code))
    found = _from_source(code, module_globals)
    if isinstance(found, str):
        result = CodeText(_bytecode_text(code), f"bytecode: {found}", names, None)
    else:
        text, chains, annotated = found
        # Names used only in annotations (a parameter typed with a class of the
        # user's code) are not in the code's names, but the task uses that class.
        result = CodeText(text, "ast", names | annotated, chains)
    _CODE_MEMO[id(code)] = (code, result)
    return result


def _label(code: CodeType) -> str:
    return str(getattr(code, "co_qualname", code.co_name))


def _from_source(
    code: CodeType, module_globals: Mapping[str, Any] | None
) -> tuple[str, frozenset[tuple[str, ...]], frozenset[str]] | str:
    """The normalised tree text, its dotted names and the names its annotations use.

    A string instead says why the source cannot be used.
    """
    filename = code.co_filename
    linecache.checkcache(filename)  # read the file as it is now, not a stale copy
    lines = linecache.getlines(filename, dict(module_globals) if module_globals else None)
    if not lines:
        return f"no source for {_label(code)}"
    parsed = _parse(filename, lines)
    if not parsed.ok:
        return f"the source of {_label(code)} in {filename} does not compile"
    fresh = parsed.codes.get((code.co_name, code.co_firstlineno), [])
    wanted = getattr(code, "co_qualname", None)
    if not any(getattr(c, "co_qualname", None) == wanted and _same_code(c, code) for c in fresh):
        return f"{filename} was edited after {_label(code)} was loaded"
    node = _find_node(parsed, code)
    if node is None:
        return f"{_label(code)} cannot be told apart from other code on its line"
    try:
        annotated = {chain[0] for a in _annotations(node) for chain in _chains(a)}
        return _dump(node, root=True), frozenset(_chains(node)), frozenset(annotated)
    except RecursionError:
        return f"the syntax tree of {_label(code)} is nested too deeply to write out"


def _parse(filename: str, lines: list[str]) -> _ParsedFile:
    known = _FILES.get(filename)
    if known is not None and known.lines is lines:
        return known  # linecache's own list: the file was not read again
    text = "".join(lines)
    if known is not None and known.text == text:
        known.lines = lines
        return known
    parsed = _ParsedFile(lines, text)
    _FILES[filename] = parsed
    return parsed


def _code_objects(code: CodeType) -> Iterator[CodeType]:
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield const
            yield from _code_objects(const)


def _same_code(a: CodeType, b: CodeType) -> bool:
    """Same bytecode, names and constants: line numbers may differ, behaviour not."""
    if (
        a.co_code != b.co_code
        or a.co_names != b.co_names
        or a.co_varnames != b.co_varnames
        or a.co_freevars != b.co_freevars
        or a.co_cellvars != b.co_cellvars
        or a.co_flags != b.co_flags
        or len(a.co_consts) != len(b.co_consts)
    ):
        return False
    for x, y in zip(a.co_consts, b.co_consts, strict=True):
        if isinstance(x, CodeType) and isinstance(y, CodeType):
            if not _same_code(x, y):
                return False
        elif _const_text(x) != _const_text(y):
            return False
    return True


def _const_text(value: Any) -> str:
    """A constant's text, independent of set order (which varies with the hash seed)."""
    if isinstance(value, tuple):
        inner = ",".join(_const_text(v) for v in value)
    elif isinstance(value, frozenset):
        inner = ",".join(sorted(_const_text(v) for v in value))
    else:
        inner = repr(value)  # repr, not ==: 0.0 and -0.0 differ
    return f"{type(value).__name__}:{inner}"


def _first_line(node: ast.AST) -> int:
    # A decorated function's code starts at its first decorator.
    decorators = getattr(node, "decorator_list", None) or []
    lines: list[int] = [d.lineno for d in decorators]
    return min([*lines, int(getattr(node, "lineno", 0))])


def _qualnames(tree: ast.Module) -> Iterator[tuple[str, ast.AST]]:
    """Each function or lambda node with the ``__qualname__`` Python gives it."""

    def visit(node: ast.AST, prefix: str) -> Iterator[tuple[str, ast.AST]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, _DEFS):
                name = child.name if not isinstance(child, ast.Lambda) else "<lambda>"
                yield prefix + name, child
                yield from visit(child, f"{prefix}{name}.<locals>.")
            elif isinstance(child, ast.ClassDef):
                yield from visit(child, f"{prefix}{child.name}.")
            else:
                yield from visit(child, prefix)

    return visit(tree, "")


def _find_node(parsed: _ParsedFile, code: CodeType) -> ast.AST | None:
    wanted = getattr(code, "co_qualname", None)
    found = [
        node
        for qualname, node in parsed.nodes.get((code.co_name, code.co_firstlineno), [])
        if wanted is None or qualname == wanted
    ]
    if len(found) > 1 and sys.version_info >= (3, 11):
        # Two lambdas on one line: the columns of the code's instructions decide.
        columns = {
            col
            for line, _, col, end in code.co_positions()
            # zero-width spans are the function's own set-up, placed at column 0
            if line == code.co_firstlineno and col is not None and end is not None and end > col
        }
        found = [
            node
            for node in found
            if columns
            and all(
                node.col_offset <= col < (node.end_col_offset or 0)  # type: ignore[attr-defined]
                for col in columns
            )
        ]
    return found[0] if len(found) == 1 else None


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def _dump(node: Any, *, root: bool = False) -> str:
    """A version-independent text of a syntax tree without positions and docstrings."""
    if isinstance(node, list):
        return "[" + ",".join(_dump(item) for item in node) + "]"
    if not isinstance(node, ast.AST):
        return f"{type(node).__name__}:{node!r}"
    fields = []
    for name, value in ast.iter_fields(node):
        if value is None or value == []:
            continue  # absent, or a field a newer Python added: the same tree either way
        if root and name == "decorator_list":
            continue  # the decorators' effect is followed through the objects they made
        if name == "body" and isinstance(node, (*_DEFS, ast.ClassDef)) and isinstance(value, list):
            kept = [s for i, s in enumerate(value) if i or not _is_docstring(s)]
            fields.append(f"{name}={_dump(kept)}")
        elif name == "values" and isinstance(node, ast.JoinedStr):
            fields.append(f"{name}={_dump(_fstring_parts(node))}")
        else:
            fields.append(f"{name}={_dump(value)}")
    return f"{type(node).__name__}(" + ",".join(fields) + ")"


def _annotations(node: ast.AST) -> Iterator[ast.AST]:
    arguments = getattr(node, "args", None)
    if isinstance(arguments, ast.arguments):
        every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
        every += [a for a in (arguments.vararg, arguments.kwarg) if a is not None]
        yield from (a.annotation for a in every if a.annotation is not None)
    returns = getattr(node, "returns", None)
    if returns is not None:
        yield returns


def _walk(node: ast.AST) -> Iterator[ast.AST]:
    """``ast.walk`` without the function's own decorators (followed as objects instead)."""
    for name, value in ast.iter_fields(node):
        if name == "decorator_list":
            continue
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, ast.AST):
                yield from ast.walk(child)


def _fstring_parts(node: ast.JoinedStr) -> list[ast.expr]:
    """An f-string's parts with its text in one piece between replacement fields.

    Python 3.12's parser adds an empty text part to a nested format spec
    (``f"{y:{x}}"``) that 3.11 and 3.13 do not: the same f-string either way.
    """
    parts: list[ast.expr] = []
    for part in node.values:
        if isinstance(part, ast.Constant) and isinstance(part.value, str):
            if not part.value:
                continue
            last = parts[-1] if parts else None
            if isinstance(last, ast.Constant) and isinstance(last.value, str):
                parts[-1] = ast.Constant(value=last.value + part.value)
                continue
        parts.append(part)
    return parts


def _chains(node: ast.AST) -> Iterator[tuple[str, ...]]:
    """Every dotted name the tree reads (``a.b.c``), longest form only."""
    nodes = [node, *_walk(node)]
    inner = {id(n.value) for n in nodes if isinstance(n, ast.Attribute)}
    for candidate in nodes:
        if id(candidate) in inner or not isinstance(candidate, (ast.Attribute, ast.Name)):
            continue
        parts: list[str] = []
        current: ast.AST = candidate
        while isinstance(current, ast.Attribute):
            parts.append(current.attr)
            current = current.value
        if isinstance(current, ast.Name):
            parts.append(current.id)
            yield tuple(reversed(parts))


def _names(code: CodeType) -> Iterator[str]:
    yield from code.co_names
    yield from code.co_freevars
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _names(const)


def _bytecode_text(code: CodeType) -> str:
    """Bytecode, names and constants, nested code included; line numbers left out."""
    parts = [
        f"python {sys.version_info[0]}.{sys.version_info[1]}",  # bytecode is per version
        code.co_code.hex(),
        repr(code.co_names),
        repr(code.co_varnames),
        repr(code.co_freevars),
        repr(code.co_cellvars),
    ]
    for const in code.co_consts:
        if isinstance(const, CodeType):
            parts.append(_bytecode_text(const))
        else:
            parts.append(_const_text(const))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()

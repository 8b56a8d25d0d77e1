"""The nodes of a fingerprint's graph: one function, class or module-level binding each.

A node's *own* digest covers its own content only: a function's normalised
source, its defaults and closure and the names it reads; a class's
attributes, methods and bases; a binding's value.  Every user function or
class it uses is a placeholder (``@0``, ``@1``...) standing for an entry of
its ``uses``, which :mod:`reflow.cache.fingerprint.graph` follows.  A node also
keeps the bindings it read (a module global, a closure cell, a default, a
class attribute) with the object each gave, so a memoised node can be
checked: it is still right while every read gives the same object.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import CellType, FunctionType
from typing import Any

from reflow.cache.fingerprint.classes import user_entries
from reflow.cache.fingerprint.source import code_text
from reflow.cache.fingerprint.userfiles import (
    is_user_class,
    is_user_function,
    is_user_module,
    qualified_name,
)
from reflow.cache.fingerprint.values import Encoder, is_external

__all__ = ["Binding", "Node", "build_node", "callable_node", "digest_of", "is_current"]

MISSING = object()
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


@dataclass(frozen=True)
class Binding:
    """A module-level name bound to something that is not a user function or class."""

    module: str
    name: str
    value: Any = field(compare=False)


# A read is (kind, holder, key, the object it gave): a node stays valid while
# every read still gives the same object.
_Read = tuple[str, Any, Any, Any]


@dataclass
class Node:
    kind: str  # function, class, constant, global
    module: str  # the module it was defined or bound in
    label: str  # its qualified name in that module
    own: str
    shown: str  # the component value: the own digest, or the name a global is bound to
    uses: list[Any]  # the objects its placeholders stand for, in order
    source: str | None = None  # for functions: "ast" or "bytecode: ..."
    reads: list[_Read] = field(default_factory=list)


def is_current_read(read: _Read) -> bool:
    kind, holder, key, seen = read
    if kind == "cell":
        try:
            return bool(holder.cell_contents is seen)
        except ValueError:
            return seen is MISSING
    if kind == "item":
        return bool(holder.get(key, MISSING) is seen)
    return getattr(holder, key, MISSING) is seen


def digest_of(parts: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


class _Builder:
    """Builds one node: its text parts, the objects it uses, the bindings it read."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.uses: list[Any] = []
        self.reads: list[_Read] = []
        self.labels: set[str] = set()  # names already followed (np.mean and np.std: np once)
        self.encode = Encoder(self.ref)

    def ref(self, target: Any) -> str:
        self.uses.append(target)
        return f"@{len(self.uses) - 1}"

    def read(self, kind: str, holder: Any, key: Any) -> Any:
        if kind == "cell":
            try:
                value = holder.cell_contents
            except ValueError:
                value = MISSING
        elif kind == "item":
            value = holder.get(key, MISSING)
        else:
            value = getattr(holder, key, MISSING)
        self.reads.append((kind, holder, key, value))
        return value


def _function_node(func: FunctionType) -> Node:
    b = _Builder()
    code = b.read("attr", func, "__code__")
    namespace = b.read("attr", func, "__globals__")
    text = code_text(code, namespace)
    b.parts.append(text.text)
    annotations = b.read("attr", func, "__annotations__")
    if annotations and (text.chains is None or not _annotated_in_source(text.text)):
        # Not in the hashed tree (bytecode, or set at run time): they decide wire modes.
        b.parts.append("annotations " + _type_text(annotations, func.__module__))
    for default in b.read("attr", func, "__defaults__") or ():
        b.parts.append("default " + b.encode(default))
    kwdefaults = b.read("attr", func, "__kwdefaults__") or {}
    for name in sorted(kwdefaults):
        b.parts.append(f"kwdefault {name}=" + b.encode(kwdefaults[name]))
    cells: dict[str, CellType] = dict(
        zip(code.co_freevars, b.read("attr", func, "__closure__") or (), strict=False)
    )
    closure: dict[str, Any] = {}
    for name, cell in cells.items():
        closure[name] = b.read("cell", cell, None)
        if closure[name] is not MISSING:
            b.parts.append(f"closure {name}=" + b.encode(closure[name]))
    wrapped = getattr(func, "__wrapped__", None)
    if wrapped is not None:  # functools.wraps: what the wrapper calls, however it holds it
        b.parts.append("wraps " + b.encode(wrapped))
    module = namespace.get("__name__", "?") if isinstance(namespace, dict) else "?"
    chains = text.chains
    if chains is None:  # bytecode keeps names, not dotted names: try each name on each module
        modules = [n for n in text.names if is_user_module(namespace.get(n))]
        chains = frozenset((n, a) for n in modules for a in text.names) | {
            (n,) for n in text.names
        }
    for chain in sorted(chains):
        if chain[0] not in text.names:
            continue  # a local variable
        if chain[0] in closure:
            if len(chain) > 1:  # the closure value itself is written above
                _reach(b, chain, closure[chain[0]], "", "closure")
        elif isinstance(namespace, dict):
            # Read (and so checked again later) even when absent: a helper defined
            # after the first fingerprint, in a notebook, must be seen.
            value = b.read("item", namespace, chain[0])
            if value is not MISSING:
                _reach(b, chain, value, str(module), "global")
    return Node(
        "function",
        str(func.__module__),
        func.__qualname__,
        digest_of(b.parts),
        "",
        b.uses,
        source=text.source,
        reads=b.reads,
    )


def _type_text(annotation: Any, module: str | None) -> str:
    """Text of annotations without the defining module's name.

    The workflow script is ``__main__`` under ``run`` and another module
    inside jobs: the same code must give the same fingerprint in both.
    """
    text = _ADDRESS.sub("", annotation if isinstance(annotation, str) else repr(annotation))
    if not module:  # exec'd code without a module
        return text
    return re.sub(rf"(?<![\w.]){re.escape(module)}\.", "", text)


def _annotated_in_source(tree_text: str) -> bool:
    # Annotations written in the source are fields of its tree, already hashed.
    return "annotation=" in tree_text or "returns=" in tree_text


def _reach(b: _Builder, chain: tuple[str, ...], value: Any, module: str, how: str) -> None:
    """Follow ``a.b.c`` through the user's modules to what it names, and record it."""
    path = [chain[0]]
    name = chain[0]
    for attr in chain[1:]:
        if not is_user_module(value):
            break
        module, name = value.__name__, attr
        value = b.read("item", vars(value), attr)
        if value is MISSING:
            return  # set later, or a submodule not imported: nothing to see yet
        path.append(attr)
    if value is MISSING:
        return
    label = f"{how} {'.'.join(path)}"
    if label in b.labels:
        return
    b.labels.add(label)
    if is_user_function(value) or is_user_class(value) or not module:
        b.parts.append(f"{label}=" + b.encode(value))
    else:
        b.parts.append(f"{label}=" + b.ref(Binding(module, name, value)))


def _class_node(cls: type) -> Node:
    b = _Builder()
    b.parts.append("class " + cls.__name__)
    bases = b.read("attr", cls, "__bases__")
    b.parts.append("bases " + ",".join(b.encode(base) for base in bases))
    namespace = vars(cls)
    for name in user_entries(cls):
        b.parts.append(f"{name}=" + b.encode(b.read("item", namespace, name)))
    if issubclass(cls, enum.Enum):  # members by name and value, not by enum's tables
        for name, member in cls.__members__.items():
            b.parts.append(f"member {name}=" + b.encode(member.value))
    for f in getattr(cls, "__dataclass_fields__", {}).values():
        default = "" if f.default is dataclasses.MISSING else b.encode(f.default)
        factory = "" if f.default_factory is dataclasses.MISSING else b.encode(f.default_factory)
        kind = _type_text(f.type, cls.__module__)
        b.parts.append(f"field {f.name}: {kind} default={default} factory={factory}")
    return Node(
        "class",
        cls.__module__,
        cls.__qualname__,
        digest_of(b.parts),
        "",
        b.uses,
        reads=b.reads,
    )


def _binding_node(binding: Binding) -> Node:
    b = _Builder()
    text = b.encode(binding.value)
    kind = "global" if is_external(binding.value) or callable(binding.value) else "constant"
    # A name bound to a library's function shows what it is bound to, for explain;
    # data shows its digest only (a large table must not be stored in every run).
    shown = text if kind == "global" and not b.uses and len(text) < 200 else ""
    return Node(kind, binding.module, binding.name, digest_of([text]), shown, b.uses)


def is_current(node: Node) -> bool:
    """Whether every binding ``node`` read still gives the object it gave."""
    return all(is_current_read(read) for read in node.reads)


def build_node(target: Any) -> Node:
    """Build the node of a user function, a user class or a :class:`Binding`."""
    if isinstance(target, Binding):
        return _binding_node(target)
    if isinstance(target, FunctionType):
        return _function_node(target)
    return _class_node(target)


def callable_node(func: Any) -> Node:
    """The node of a task that is not a plain function: a bound method, a partial..."""
    b = _Builder()
    text = b.encode(func)
    inner = getattr(func, "__func__", func)
    module, label = str(getattr(inner, "__module__", "")), qualified_name(inner)
    return Node(
        "callable", module, label.removeprefix(module + "."), digest_of([text]), "", b.uses
    )

"""The graph of what a task's code reaches, and its fingerprint.

Each node is one thing of the user's code the task can reach: a function, a
class, or a module-level name bound to data or to something from a library
(``TABLE = {...}``, ``AGG = max``).  A node's *own* digest covers its own
content only: its normalised source, its defaults and closure, and the names
it reads, where every user function or class it uses is a placeholder.  The
fingerprint hashes the task's own digest and, for every reachable node, its
own digest followed by the own digests of the nodes it uses, in order.  So
any change anywhere in the reach changes the fingerprint, cycles (recursion,
a class whose method uses the class) need no special case, and the result
does not depend on the order in which things were first fingerprinted.

The own digests are also the named components that ``reflow explain``
compares to say *which* helper, constant or class changed.

Nodes are kept for the process, keyed by the object (held alive, so an id
cannot be reused), and reused only while every binding they read (a module
global, a closure cell, a default, a class attribute) is still bound to the
same object: re-running a notebook cell or reloading a module is seen.  A
container changed in place after it was first read is not.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import sys
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import CellType, FunctionType
from typing import Any

from reflow.fingerprint.source import code_text
from reflow.fingerprint.userfiles import (
    is_user_class,
    is_user_function,
    is_user_module,
    qualified_name,
)
from reflow.fingerprint.values import Encoder, is_external

__all__ = ["Fingerprint", "fingerprint"]

_MISSING = object()
# Entries of a class's namespace that Python or the class machinery writes.
_CLASS_NOISE = frozenset(
    {
        "__dict__",
        "__weakref__",
        "__module__",
        "__doc__",
        "__qualname__",
        "__firstlineno__",
        "__static_attributes__",
        "__annotations__",
        "__annotate__",
        "__annotate_func__",
        "__dataclass_params__",
        "__dataclass_fields__",
        "__match_args__",
        "__orig_bases__",
        "__parameters__",
    }
)
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


@dataclass(frozen=True)
class Fingerprint:
    """A task's code fingerprint and its named components.

    Attributes
    ----------
    digest : str
        The hex digest that enters the cache identity.
    components : dict[str, str]
        What ``explain`` compares: ``"function pipeline.process"``,
        ``"helper mypkg.helpers.scale"``, ``"constant pipeline.TABLE"``,
        ``"class pipeline.Scaler"`` -> own digest; ``"global pipeline.AGG"``
        -> the qualified name it is bound to; ``"source"`` -> ``"ast"`` or
        ``"bytecode: <why>"``; ``"python"`` -> ``"3.11"``.
    """

    digest: str
    components: dict[str, str]


@dataclass(frozen=True)
class _Binding:
    """A module-level name bound to something that is not a user function or class."""

    module: str
    name: str
    value: Any = field(compare=False)


# A read is (kind, holder, key, the object it gave): a node stays valid while
# every read still gives the same object.
_Read = tuple[str, Any, Any, Any]


@dataclass
class _Node:
    kind: str  # function, class, constant, global
    module: str  # the module it was defined or bound in
    label: str  # its qualified name in that module
    own: str
    shown: str  # the component value: the own digest, or the name a global is bound to
    uses: list[Any]  # the objects its placeholders stand for, in order
    source: str | None = None  # for functions: "ast" or "bytecode: ..."
    reads: list[_Read] = field(default_factory=list)


_MEMO: dict[int, tuple[Any, _Node]] = {}


def _still(read: _Read) -> bool:
    kind, holder, key, seen = read
    if kind == "cell":
        try:
            return bool(holder.cell_contents is seen)
        except ValueError:
            return seen is _MISSING
    if kind == "item":
        return bool(holder.get(key, _MISSING) is seen)
    return getattr(holder, key, _MISSING) is seen


def _digest(parts: Iterable[str]) -> str:
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
                value = _MISSING
        elif kind == "item":
            value = holder.get(key, _MISSING)
        else:
            value = getattr(holder, key, _MISSING)
        self.reads.append((kind, holder, key, value))
        return value


def _function_node(func: FunctionType) -> _Node:
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
        if closure[name] is not _MISSING:
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
            if value is not _MISSING:
                _reach(b, chain, value, str(module), "global")
    return _Node(
        "function",
        str(func.__module__),
        func.__qualname__,
        _digest(b.parts),
        "",
        b.uses,
        source=text.source,
        reads=b.reads,
    )


def _type_text(annotation: Any, module: str) -> str:
    """Text of annotations without the defining module's name.

    The workflow script is ``__main__`` under ``run`` and another module
    inside jobs: the same code must give the same fingerprint in both.
    """
    text = _ADDRESS.sub("", annotation if isinstance(annotation, str) else repr(annotation))
    return text.replace(f"{module}.", "")


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
        if value is _MISSING:
            return  # set later, or a submodule not imported: nothing to see yet
        path.append(attr)
    if value is _MISSING:
        return
    label = f"{how} {'.'.join(path)}"
    if label in b.labels:
        return
    b.labels.add(label)
    if is_user_function(value) or is_user_class(value) or not module:
        b.parts.append(f"{label}=" + b.encode(value))
    else:
        b.parts.append(f"{label}=" + b.ref(_Binding(module, name, value)))


def _class_node(cls: type) -> _Node:
    b = _Builder()
    b.parts.append("class " + cls.__name__)
    bases = b.read("attr", cls, "__bases__")
    b.parts.append("bases " + ",".join(b.encode(base) for base in bases))
    namespace = vars(cls)
    own_file = getattr(sys.modules.get(cls.__module__), "__file__", None)
    for name in sorted(namespace):
        if name in _CLASS_NOISE:
            continue
        value = b.read("item", namespace, name)
        code = getattr(_innermost(value), "__code__", None)
        generated = own_file or "__dataclass_fields__" in namespace
        if generated and code is not None and code.co_filename.startswith("<"):
            continue  # written by dataclasses, namedtuple or attrs from what is hashed here
        b.parts.append(f"{name}=" + b.encode(value))
    for f in getattr(cls, "__dataclass_fields__", {}).values():
        default = "" if f.default is dataclasses.MISSING else b.encode(f.default)
        factory = "" if f.default_factory is dataclasses.MISSING else b.encode(f.default_factory)
        kind = _type_text(f.type, cls.__module__)
        b.parts.append(f"field {f.name}: {kind} default={default} factory={factory}")
    return _Node(
        "class",
        cls.__module__,
        cls.__qualname__,
        _digest(b.parts),
        "",
        b.uses,
        reads=b.reads,
    )


def _innermost(value: Any) -> Any:
    """What a chain of ``__wrapped__`` ends at (dataclasses wrap the ``__repr__`` it writes)."""
    for _ in range(100):  # a wrapper that wraps itself must not hang the fingerprint
        try:
            inner = getattr(value, "__wrapped__", None)
        except Exception:  # a proxy whose attribute lookup fails
            break
        if inner is None:
            break
        value = inner
    return value


def _binding_node(binding: _Binding) -> _Node:
    b = _Builder()
    text = b.encode(binding.value)
    kind = "global" if is_external(binding.value) or callable(binding.value) else "constant"
    # A name bound to a library's function shows what it is bound to, for explain;
    # data shows its digest only (a large table must not be stored in every run).
    shown = text if kind == "global" and not b.uses and len(text) < 200 else ""
    return _Node(kind, binding.module, binding.name, _digest([text]), shown, b.uses)


def _key(target: Any) -> tuple[Any, ...]:
    if isinstance(target, _Binding):
        return ("binding", target.module, target.name, id(target.value))
    return ("object", id(target))


def _node(target: Any) -> _Node:
    """The node of a function, class or binding, from the memo while it is valid."""
    held = target.value if isinstance(target, _Binding) else target
    hit = _MEMO.get(id(held))
    if hit is not None and hit[0] is held and all(_still(read) for read in hit[1].reads):
        node = hit[1]
    elif isinstance(target, _Binding):
        node = _binding_node(target)
    elif isinstance(target, FunctionType):
        node = _function_node(target)
    else:
        node = _class_node(target)
    _MEMO[id(held)] = (held, node)
    if isinstance(target, _Binding):  # one value may be bound under several names
        return dataclasses.replace(node, module=target.module, label=target.name)
    return node


def _root_node(func: Callable[..., Any]) -> _Node:
    if isinstance(func, FunctionType):
        return _node(func)
    # A bound method, a partial, a wrapper or a callable object: written as a value.
    b = _Builder()
    text = b.encode(func)
    inner = getattr(func, "__func__", func)
    module, label = str(getattr(inner, "__module__", "")), qualified_name(inner)
    return _Node("callable", module, label.removeprefix(module + "."), _digest([text]), "", b.uses)


def fingerprint(func: Callable[..., Any]) -> Fingerprint:
    """Fingerprint ``func`` and everything it reaches in the user's own code."""
    root = _root_node(func)
    nodes: dict[tuple[Any, ...], _Node] = {}
    pending = deque(root.uses)
    while pending:
        target = pending.popleft()
        key = _key(target)
        if key not in nodes:
            nodes[key] = _node(target)
            pending.extend(nodes[key].uses)

    def entry(node: _Node) -> str:
        return node.own + ":" + ",".join(nodes[_key(t)].own for t in node.uses)

    digest = _digest([entry(root), *sorted(entry(node) for node in nodes.values())])
    return Fingerprint(digest, _components(root, list(nodes.values())))


def _kind(node: _Node) -> str:
    if node.kind != "function":
        return node.kind
    owner = node.label.rpartition(".")[0]
    return "method" if owner and not owner.endswith("<locals>") else "helper"


def _components(root: _Node, reached: list[_Node]) -> dict[str, str]:
    # Names of the task's own module are shown bare: that module is ``__main__``
    # under ``run`` and another name inside jobs, and the user knows which file it is.
    def shown(node: _Node) -> str:
        return node.label if node.module == root.module else f"{node.module}.{node.label}"

    components = {f"{root.kind} {root.label}": root.own}
    for node in reached:
        name = f"{_kind(node)} {shown(node)}"
        if name in components:  # two closures of one factory, two lambdas of one scope
            name += f" #{sum(1 for c in components if c.startswith(name)) + 1}"
        components[name] = node.shown or node.own
    bytecode = [n.source for n in (root, *reached) if n.source and n.source != "ast"]
    components["source"] = "; ".join(bytecode) if bytecode else "ast"
    components["python"] = f"{sys.version_info[0]}.{sys.version_info[1]}"
    return components

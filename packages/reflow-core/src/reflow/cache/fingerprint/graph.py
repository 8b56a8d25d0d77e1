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
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import FunctionType
from typing import Any

from reflow.cache.fingerprint.nodes import (
    Binding,
    Node,
    build_node,
    callable_node,
    digest_of,
    is_current,
)

__all__ = ["Fingerprint", "fingerprint"]


@dataclass(frozen=True)
class Fingerprint:
    """A task's code fingerprint and its named components.

    Attributes
    ----------
    digest : str
        The hex digest that enters the cache identity.
    components : dict[str, str]
        What ``explain`` compares: ``"function process"`` (the task),
        ``"helper mypkg.helpers.scale"``, ``"method Scaler.apply"``,
        ``"constant TABLE"``, ``"class Scaler"`` -> own digest;
        ``"global AGG"`` -> the qualified name it is bound to
        (``builtins.max``); ``"source"`` -> ``"ast"`` or ``"bytecode: <why>"``;
        ``"python"`` -> ``"3.11"``.  Names of the task's own module are
        bare, others carry their module.
    """

    digest: str
    components: dict[str, str]


_MEMO: dict[int, tuple[Any, Node]] = {}


def _key(target: Any) -> tuple[Any, ...]:
    if isinstance(target, Binding):
        return ("binding", target.module, target.name, id(target.value))
    return ("object", id(target))


def _node(target: Any) -> Node:
    """The node of a function, class or binding, from the memo while it is valid."""
    held = target.value if isinstance(target, Binding) else target
    hit = _MEMO.get(id(held))
    node = hit[1] if hit is not None and hit[0] is held and is_current(hit[1]) else None
    if node is None:
        node = build_node(target)
    _MEMO[id(held)] = (held, node)
    if isinstance(target, Binding):  # one value may be bound under several names
        return dataclasses.replace(node, module=target.module, label=target.name)
    return node


def _root_node(func: Callable[..., Any]) -> Node:
    if isinstance(func, FunctionType):
        return _node(func)
    return callable_node(func)  # a bound method, a partial, a callable object...


def fingerprint(func: Callable[..., Any]) -> Fingerprint:
    """Fingerprint ``func`` and everything it reaches in the user's own code."""
    root = _root_node(func)
    nodes: dict[tuple[Any, ...], Node] = {}
    pending = deque(root.uses)
    while pending:
        target = pending.popleft()
        key = _key(target)
        if key not in nodes:
            nodes[key] = _node(target)
            pending.extend(nodes[key].uses)

    def entry(node: Node) -> str:
        return node.own + ":" + ",".join(nodes[_key(t)].own for t in node.uses)

    digest = digest_of([entry(root), *sorted(entry(node) for node in nodes.values())])
    return Fingerprint(digest, _components(root, list(nodes.values())))


def _kind(node: Node) -> str:
    if node.kind != "function":
        return node.kind
    owner = node.label.rpartition(".")[0]
    return "method" if owner and not owner.endswith("<locals>") else "helper"


def _components(root: Node, reached: list[Node]) -> dict[str, str]:
    # Names of the task's own module are shown bare: that module is ``__main__``
    # under ``run`` and another name inside jobs, and the user knows which file it is.
    def shown(node: Node) -> str:
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

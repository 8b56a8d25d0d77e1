"""Wire-mode inference: how an upstream output reaches a downstream parameter.

The mode follows from three facts: whether each side is an array task, the
upstream return type, and the downstream parameter type.

==================  =====================  =================  ==========================
upstream            downstream             parameter          mode
==================  =====================  =================  ==========================
singleton ``T``     singleton              ``T``              DIRECT
singleton ``list``  array                  element ``T``      FAN_OUT (one element each)
singleton ``T``     array                  ``T``              BROADCAST (whole value)
array ``T``         singleton              ``list[T]``        GATHER
array ``list[T]``   singleton              ``list[T]``        GATHER_FLATTEN
array ``T``         array                  ``T``              CHAIN (index i to index i)
array ``list[T]``   array                  ``T``              CHAIN_FLATTEN (re-fan-out)
==================  =====================  =================  ==========================

``Result(broadcast=True)`` forces BROADCAST.  A missing annotation on either
side is trusted: the mode then follows from the array flags alone.
"""

from __future__ import annotations

import enum
import inspect
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from reflow.define.markers import extract_base_type, list_element_type, strip_optional, type_repr
from reflow.errors import WiringError

__all__ = [
    "ParamWiring",
    "WireMode",
    "check_type_compatibility",
    "infer_wire_mode",
    "is_compatible",
]


class WireMode(str, enum.Enum):
    """How one upstream output is delivered to one downstream parameter."""

    DIRECT = "direct"
    FAN_OUT = "fan_out"
    BROADCAST = "broadcast"
    GATHER = "gather"
    GATHER_FLATTEN = "gather_flatten"
    CHAIN = "chain"
    CHAIN_FLATTEN = "chain_flatten"

    def __str__(self) -> str:
        return self.value

    @property
    def drives_array(self) -> bool:
        """Whether this mode decides how many elements an array task has."""
        return self in (WireMode.FAN_OUT, WireMode.CHAIN, WireMode.CHAIN_FLATTEN)

    @property
    def gives_list(self) -> bool:
        """Whether the delivered value is a list (so several steps concatenate)."""
        return self in (WireMode.GATHER, WireMode.GATHER_FLATTEN)


@dataclass(frozen=True)
class ParamWiring:
    """The resolved wiring of one ``Result`` parameter.

    Attributes
    ----------
    param : str
        Parameter name.
    steps : tuple[str, ...]
        Upstream tasks, in concatenation order.
    modes : tuple[WireMode, ...]
        The mode of each step, same order.
    broadcast : bool
        Whether ``broadcast=True`` was given.
    """

    param: str
    steps: tuple[str, ...]
    modes: tuple[WireMode, ...]
    broadcast: bool = False

    @property
    def drives_array(self) -> bool:
        """Whether this parameter gives an array task its elements."""
        return any(m.drives_array for m in self.modes)


def _unknown(tp: Any) -> bool:
    return tp is None or tp is inspect.Parameter.empty or tp is Any


def is_compatible(source: Any, target: Any) -> bool:
    """Whether a value of type ``source`` can be passed where ``target`` is expected.

    The check is structural and deliberately lenient where Python typing is
    vague: ``Any``, type variables and unknown generics pass; ``int`` passes
    for ``float``; unions pass when every member of the source fits.
    """
    source, target = extract_base_type(source), extract_base_type(target)
    if _unknown(source) or _unknown(target) or source == target:
        return True
    if hasattr(source, "__constraints__") or hasattr(target, "__constraints__"):
        return True  # a TypeVar: whatever it is bound to at the call
    src_inner, src_opt = strip_optional(source)
    tgt_inner, tgt_opt = strip_optional(target)
    if src_opt and not tgt_opt:
        return False
    if src_opt or tgt_opt:
        return is_compatible(src_inner, tgt_inner)
    if get_origin(target) in _UNION_ORIGINS:
        return any(is_compatible(source, member) for member in get_args(target))
    if get_origin(source) in _UNION_ORIGINS:
        return all(is_compatible(member, target) for member in get_args(source))
    if get_origin(source) is Literal:
        values = get_args(source)
        return all(is_compatible(type(v), target) for v in values)
    if get_origin(target) is Literal:
        return False
    src_elem, tgt_elem = list_element_type(source), list_element_type(target)
    if src_elem is not None or tgt_elem is not None:
        if src_elem is None or tgt_elem is None:
            return False
        return is_compatible(src_elem, tgt_elem)
    src_origin = get_origin(source) or source
    tgt_origin = get_origin(target) or target
    if not (isinstance(src_origin, type) and isinstance(tgt_origin, type)):
        return True
    if tgt_origin is float and src_origin is int:
        return True
    if tgt_origin is complex and src_origin in (int, float):
        return True
    if not issubclass(src_origin, tgt_origin):
        return False
    src_args, tgt_args = get_args(source), get_args(target)
    if src_args and tgt_args and len(src_args) == len(tgt_args) and Ellipsis not in tgt_args:
        return all(is_compatible(a, b) for a, b in zip(src_args, tgt_args, strict=True))
    return True


def _union_origins() -> tuple[Any, ...]:
    import types
    from typing import Union

    return (Union, types.UnionType)


_UNION_ORIGINS = _union_origins()


def infer_wire_mode(
    *,
    task: str,
    param: str,
    step: str,
    upstream_type: Any,
    upstream_is_array: bool,
    param_type: Any,
    downstream_is_array: bool,
    broadcast: bool = False,
) -> WireMode:
    """Infer how ``step``'s output reaches parameter ``param`` of ``task``.

    Raises
    ------
    WiringError
        If the types cannot be wired in any mode; the message names the
        task, the parameter, both types, and the fix.
    """
    up = "" if _unknown(upstream_type) else type_repr(upstream_type)
    want = "" if _unknown(param_type) else type_repr(param_type)
    where = f"Task {task!r} parameter {param!r}"
    up_elem = None if _unknown(upstream_type) else list_element_type(upstream_type)
    want_elem = None if _unknown(param_type) else list_element_type(param_type)

    if broadcast:
        if upstream_is_array:
            raise WiringError(
                f"{where}: Result(step={step!r}, broadcast=True) cannot broadcast an "
                f"array task's outputs; {step!r} has one output per element. Drop "
                "broadcast=True to chain element by element, or gather it first."
            )
        if not downstream_is_array:
            raise WiringError(
                f"{where}: broadcast=True only applies to array tasks, and {task!r} "
                "is a singleton. Drop broadcast=True."
            )
        if not is_compatible(upstream_type, param_type):
            raise WiringError(
                f"{where} ({want}) cannot receive the whole output of {step!r} ({up}) "
                f"by broadcast: annotate {param!r} as {up}."
            )
        return WireMode.BROADCAST

    if not upstream_is_array and not downstream_is_array:
        if is_compatible(upstream_type, param_type):
            return WireMode.DIRECT
        hint = ""
        if up_elem is not None and is_compatible(up_elem, param_type):
            hint = (
                f" {step!r} returns a list: to process one element per job, make "
                f"{task!r} an array task (array=True)."
            )
        raise WiringError(
            f"{where} ({want}) cannot receive the output of {step!r} ({up}): "
            f"annotate {param!r} as {up}, or change what {step!r} returns.{hint}"
        )

    if not upstream_is_array and downstream_is_array:
        if _unknown(upstream_type) or _unknown(param_type):
            return WireMode.FAN_OUT
        if up_elem is not None and is_compatible(up_elem, param_type):
            return WireMode.FAN_OUT
        if is_compatible(upstream_type, param_type):
            return WireMode.BROADCAST
        if up_elem is None:
            raise WiringError(
                f"{where} ({want}) cannot fan out over {step!r}, which returns one {up}, "
                f"not a list: return list[{want}] from {step!r} to give each element "
                f"one value, or annotate {param!r} as {up} and pass "
                f"Result(step={step!r}, broadcast=True) to give every element the "
                "whole value."
            )
        raise WiringError(
            f"{where} ({want}) cannot receive the elements of {step!r} ({up}): a "
            f"fan-out gives each array element one {type_repr(up_elem)}. Annotate "
            f"{param!r} as {type_repr(up_elem)}, or as {up} with broadcast=True."
        )

    if upstream_is_array and not downstream_is_array:
        if _unknown(upstream_type) or _unknown(param_type):
            return WireMode.GATHER
        if want_elem is not None and is_compatible(upstream_type, want_elem):
            return WireMode.GATHER
        if want_elem is not None and up_elem is not None and is_compatible(up_elem, want_elem):
            return WireMode.GATHER_FLATTEN
        raise WiringError(
            f"{where} ({want}) cannot receive the outputs of array task {step!r}, "
            f"each a {up}: a singleton receives all of them as a list, so annotate "
            f"{param!r} as list[{up}], or make {task!r} an array task (array=True) "
            "to chain element by element."
        )

    # array -> array
    if _unknown(upstream_type) or _unknown(param_type):
        return WireMode.CHAIN
    if is_compatible(upstream_type, param_type):
        return WireMode.CHAIN
    if up_elem is not None and is_compatible(up_elem, param_type):
        return WireMode.CHAIN_FLATTEN
    raise WiringError(
        f"{where} ({want}) cannot chain from array task {step!r}: element i of "
        f"{step!r} returns {up} and element i of {task!r} receives it. Annotate "
        f"{param!r} as {up}."
    )


def check_type_compatibility(
    upstream_type: Any,
    upstream_is_array: bool,
    param_type: Any,
    downstream_is_array: bool,
    step: str,
    task: str,
    param: str,
    broadcast: bool = False,
) -> WireMode:
    """Positional form of :func:`infer_wire_mode`, raising on incompatible types."""
    return infer_wire_mode(
        task=task,
        param=param,
        step=step,
        upstream_type=upstream_type,
        upstream_is_array=upstream_is_array,
        param_type=extract_base_type(param_type),
        downstream_is_array=downstream_is_array,
        broadcast=broadcast,
    )

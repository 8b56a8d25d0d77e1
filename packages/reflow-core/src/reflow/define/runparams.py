"""Run parameters: the CLI flags generated from task signatures.

Every task parameter that is neither a ``Result`` nor a ``RunDir`` is a run
parameter.  Parameters of the same name in several tasks share one flag
(``namespace="global"``, the default) unless ``Param(namespace="local")``
gives each task its own ``--<task>-<name>`` flag.
"""

from __future__ import annotations

import enum
import inspect
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

from reflow.define.annotations import resolve_annotations
from reflow.define.markers import (
    Param,
    list_element_type,
    split_annotated,
    strip_optional,
    type_repr,
)
from reflow.errors import AnnotationError, WorkflowDefinitionError

if TYPE_CHECKING:
    from reflow.define.flow import TaskSpec

__all__ = [
    "RESERVED_NAMES",
    "ResolvedParam",
    "check_reserved_names",
    "collect_cli_params",
    "converter_for",
    "dict_problem",
    "merge_resolved_params",
]

RESERVED_NAMES: frozenset[str] = frozenset(
    {
        "run_dir",
        "store_path",
        "store",
        "executor",
        "force",
        "force_tasks",
        "verify",
        "dry_run",
        "help",
        "debug",
        "verbose",
        "quiet",
        "json",
        "max_workers",
        "max_jobs",
        "on_error",
        "task",
        "yes",
        "version",
    }
)
"""Parameter names that would clash with the generated CLI's own options."""

_SCALARS: dict[type, Callable[[str], Any]] = {
    str: str,
    int: int,
    float: float,
    Path: Path,
    datetime: datetime.fromisoformat,
    date: date.fromisoformat,
}


def _named(func: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    # argparse names the type in "invalid <name> value" errors.
    def convert(text: str) -> Any:
        return func(text)

    convert.__name__ = name
    return convert


def _enum_converter(cls: type[enum.Enum]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        if text in cls.__members__:
            return cls[text]
        for member in cls:
            if str(member.value) == text:
                return member
        raise ValueError(text)

    convert.__name__ = cls.__name__
    return convert


_JSON_KINDS: dict[Any, tuple[type, ...]] = {
    str: (str,),
    int: (int,),
    float: (int, float),
    bool: (bool,),
}
"""The JSON values a ``dict`` key or value type accepts (``bool`` is never an ``int``)."""


def _fits(tp: Any, item: Any) -> bool:
    kinds = _JSON_KINDS.get(tp)
    if kinds is None:  # Any, a nested or another type: not checked
        return True
    return isinstance(item, kinds) and (tp is bool or not isinstance(item, bool))


def dict_problem(tp: Any, value: dict[Any, Any]) -> str | None:
    """Why ``value`` is not a ``tp`` (``dict[K, V]``), or ``None`` when it is.

    Keys and values of type ``str``, ``int``, ``float`` and ``bool`` are
    checked, as the elements of a ``list[int]`` are; other types are not.

    Examples
    --------
    >>> dict_problem(dict[str, int], {"a": 1, "b": "x"})
    "the value of 'b' is str 'x', not int"
    """
    args = get_args(tp)
    if len(args) != 2:
        return None
    key_type, value_type = args
    for key, item in value.items():
        if not _fits(key_type, key):
            return f"the key {key!r} is {type(key).__name__}, not {type_repr(key_type)}"
        if not _fits(value_type, item):
            return (
                f"the value of {key!r} is {type(item).__name__} {item!r}, "
                f"not {type_repr(value_type)}"
            )
    return None


def _int_key(key: str) -> int | str:
    """``"3"`` as 3; any other key as it is, for :func:`dict_problem` to name."""
    try:
        return int(key)
    except ValueError:
        return key


def _json_converter(tp: Any) -> Callable[[str], Any]:
    key_type = get_args(tp)[0] if len(get_args(tp)) == 2 else None

    def convert(text: str) -> Any:
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError(text)  # argparse: "invalid JSON object value"
        if key_type is int:  # JSON keys are strings; an int key is written "3"
            value = {_int_key(k): v for k, v in value.items()}
        problem = dict_problem(tp, value)
        if problem is not None:
            # Only the command line converts text: a scheduler job defining the
            # workflow never does, and skips importing argparse.
            import argparse

            raise argparse.ArgumentTypeError(f"invalid {type_repr(tp)} value {text!r}: {problem}")
        return value

    convert.__name__ = "JSON object"
    return convert


def converter_for(tp: Any) -> Callable[[str], Any] | None:
    """Return the function turning one CLI word into a value of type ``tp``.

    Returns ``None`` when the type cannot be given on the command line.
    """
    if tp in _SCALARS:
        func = _SCALARS[tp]
        return func if tp in (str, int, float) else _named(func, tp.__name__)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_converter(tp)
    if isinstance(tp, type) and issubclass(tp, Path):
        return _named(tp, tp.__name__)
    origin = get_origin(tp)
    if tp is dict or origin is dict:
        return _json_converter(tp)
    if origin is Literal:
        kinds = {type(v) for v in get_args(tp)}
        if len(kinds) == 1 and next(iter(kinds)) in (str, int, float):
            return next(iter(kinds))
        return None
    return None


@dataclass(frozen=True)
class ResolvedParam:
    """One run parameter as the CLI and ``submit(**parameters)`` see it.

    Attributes
    ----------
    name : str
        The function parameter's name.
    task_name : str
        The (first) task that declares it.
    annotation : Any
        The resolved annotation without ``Annotated`` metadata.
    base_type : Any
        The value type: ``Optional`` removed; for lists, the element type.
    required : bool
        Whether the parameter has no default.
    default : Any
        The default value (``inspect.Parameter.empty`` when required).
    namespace : str
        ``"global"`` or ``"local"``.
    help_text : str
        Help shown by ``--help``.
    short : str or None
        Short flag.
    literal_choices : tuple or None
        Allowed values of a ``Literal`` (or an ``Enum``'s member names).
    is_list : bool
        Whether the parameter takes several values.
    is_bool : bool
        Whether the flag is a ``--x/--no-x`` switch.
    tasks : tuple[str, ...]
        Every task that receives this parameter.
    """

    name: str
    task_name: str
    annotation: Any
    base_type: Any
    required: bool
    default: Any
    namespace: str = "global"
    help_text: str = ""
    short: str | None = None
    literal_choices: tuple[Any, ...] | None = None
    is_list: bool = False
    is_bool: bool = False
    tasks: tuple[str, ...] = ()

    @property
    def dest(self) -> str:
        """Key of this parameter in the run's parameters (``submit(**params)``)."""
        if self.namespace == "local":
            return f"{self.task_name}_{self.name}"
        return self.name

    def cli_flag(self) -> str:
        """The long flag, such as ``--limit`` or ``--step-a-chunk``."""
        return "--" + self.dest.replace("_", "-")

    def convert(self, text: str) -> Any:
        """Convert one command-line word to this parameter's value type."""
        func = converter_for(self.base_type)
        if func is None:  # pragma: no cover - rejected when collected
            raise ValueError(text)
        return func(text)


def check_reserved_names(spec: TaskSpec) -> None:
    """Reject run parameters whose flag would clash with the CLI's own options."""
    for pname in spec.signature.parameters:
        if pname in spec.given_params:
            continue
        if pname in RESERVED_NAMES:
            fix = (
                " Annotate it as RunDir (run_dir: RunDir = RunDir()) to receive the run "
                "directory, or rename it."
                if pname == "run_dir"
                else " Rename it."
            )
            raise WorkflowDefinitionError(
                f"Task {spec.name!r} parameter {pname!r} would clash with the command "
                f"line's own --{pname.replace('_', '-')} option.{fix}"
            )


def _param_marker(metadata: Iterable[Any]) -> Param:
    found = [m for m in metadata if isinstance(m, Param)]
    return found[-1] if found else Param()


def collect_cli_params(
    task_name: str,
    func: Callable[..., Any],
    signature: inspect.Signature,
    hints: dict[str, Any] | None = None,
    skip: Iterable[str] = (),
) -> list[ResolvedParam]:
    """Return the run parameters of one task.

    Parameters
    ----------
    task_name : str
        The task.
    func : callable
        The task function.
    signature : inspect.Signature
        Its signature.
    hints : dict or None
        Resolved annotations (see :mod:`reflow.define.annotations`); resolved here
        when ``None``.
    skip : iterable of str
        Parameters that are not run parameters (``Result``, ``RunDir``, ``Resources``).

    Raises
    ------
    AnnotationError
        When a parameter's type cannot be given on the command line.
    """
    if hints is None:
        hints = resolve_annotations(task_name, func, signature)
    skipped = set(skip)
    out: list[ResolvedParam] = []
    for pname, param in signature.parameters.items():
        if pname in skipped:
            continue
        annotation = hints.get(pname, inspect.Parameter.empty)
        base, metadata = split_annotated(annotation)
        marker = _param_marker(metadata)
        default = param.default
        if base is inspect.Parameter.empty:
            # No annotation: the default's type, else text.
            base = type(default) if default not in (inspect.Parameter.empty, None) else str
        value_type, optional = strip_optional(base)
        if default is None:
            optional = True
        elem = list_element_type(value_type)
        is_list = elem is not None
        scalar = strip_optional(elem)[0] if is_list else value_type
        if scalar is Any:
            scalar = str
        is_bool = scalar is bool and not is_list
        choices: tuple[Any, ...] | None = None
        if get_origin(scalar) is Literal:
            choices = get_args(scalar)
        elif isinstance(scalar, type) and issubclass(scalar, enum.Enum):
            choices = tuple(scalar.__members__)
        if not is_bool and converter_for(scalar) is None:
            raise AnnotationError(
                f"Task {task_name!r} parameter {pname!r} has type {type_repr(base)}, which "
                "cannot be given on the command line. Use str, int, float, bool, Path, "
                "date, datetime, an Enum, a Literal, dict (as JSON) or a list of these; "
                "or wire it from another task with Result(step=...)."
            )
        if default is not inspect.Parameter.empty and default is not None and not optional:
            _check_default(task_name, pname, default, scalar, is_list, is_bool, choices)
        out.append(
            ResolvedParam(
                name=pname,
                task_name=task_name,
                annotation=base,
                base_type=scalar,
                required=default is inspect.Parameter.empty,
                default=default,
                namespace=marker.namespace,
                help_text=marker.help,
                short=marker.short,
                literal_choices=choices,
                is_list=is_list,
                is_bool=is_bool,
                tasks=(task_name,),
            )
        )
    return out


def _check_default(
    task: str,
    pname: str,
    default: Any,
    scalar: Any,
    is_list: bool,
    is_bool: bool,
    choices: tuple[Any, ...] | None,
) -> None:
    values = list(default) if is_list and isinstance(default, (list, tuple)) else [default]
    for value in values:
        ok = True
        if is_bool:
            ok = isinstance(value, bool)
        elif choices is not None and isinstance(scalar, type) and issubclass(scalar, enum.Enum):
            ok = isinstance(value, scalar)
        elif choices is not None:
            ok = value in choices
        elif scalar is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif isinstance(scalar, type) and scalar is not dict:
            ok = isinstance(value, scalar) and not (scalar is int and isinstance(value, bool))
        if not ok:
            raise AnnotationError(
                f"Task {task!r} parameter {pname!r}: default {default!r} does not match "
                f"its type {type_repr(scalar)}{' list' if is_list else ''}. Fix the default "
                "or the annotation."
            )


def _same_type(a: ResolvedParam, b: ResolvedParam) -> bool:
    return (a.annotation == b.annotation) or (
        a.base_type == b.base_type and a.is_list == b.is_list
    )


def merge_resolved_params(params: Iterable[ResolvedParam]) -> list[ResolvedParam]:
    """Merge global parameters of the same name into one flag each.

    Raises
    ------
    WorkflowDefinitionError
        If two tasks declare the same global parameter with different types
        or defaults, or two flags (long or short) collide.
    """
    merged: dict[str, ResolvedParam] = {}
    for rp in params:
        key = rp.dest
        seen = merged.get(key)
        if seen is None:
            merged[key] = rp
            continue
        if rp.namespace == "local" or seen.namespace == "local":
            raise WorkflowDefinitionError(
                f"Flag {rp.cli_flag()} is generated twice: by task {seen.task_name!r} and "
                f"by task {rp.task_name!r} parameter {rp.name!r}. Rename one of them."
            )
        if not _same_type(seen, rp):
            raise WorkflowDefinitionError(
                f"Parameter {rp.name!r} is {type_repr(seen.annotation)} in task "
                f"{seen.task_name!r} but {type_repr(rp.annotation)} in task {rp.task_name!r}; "
                f"a shared --{rp.name.replace('_', '-')} flag needs one type. Use the same "
                "type, or Param(namespace='local') to give each task its own flag."
            )
        if not _same_default(seen.default, rp.default):
            raise WorkflowDefinitionError(
                f"Parameter {rp.name!r} defaults to {_show(seen.default)} in task "
                f"{seen.task_name!r} but {_show(rp.default)} in task {rp.task_name!r}; a "
                "shared flag needs one default. Use the same default, or "
                "Param(namespace='local') to give each task its own flag."
            )
        if seen.short and rp.short and seen.short != rp.short:
            raise WorkflowDefinitionError(
                f"Parameter {rp.name!r} has short flag {seen.short} in task "
                f"{seen.task_name!r} but {rp.short} in task {rp.task_name!r}; use one."
            )
        merged[key] = ResolvedParam(
            name=seen.name,
            task_name=seen.task_name,
            annotation=seen.annotation,
            base_type=seen.base_type,
            required=seen.required,
            default=seen.default,
            namespace=seen.namespace,
            help_text=seen.help_text or rp.help_text,
            short=seen.short or rp.short,
            literal_choices=seen.literal_choices,
            is_list=seen.is_list,
            is_bool=seen.is_bool,
            tasks=(*seen.tasks, rp.task_name),
        )
    shorts: dict[str, ResolvedParam] = {}
    for rp in merged.values():
        if rp.short is None:
            continue
        if rp.short in shorts or rp.short == "-h":
            other = shorts.get(rp.short)
            owner = f"parameter {other.name!r} of task {other.task_name!r}" if other else "--help"
            raise WorkflowDefinitionError(
                f"Short flag {rp.short} of task {rp.task_name!r} parameter {rp.name!r} is "
                f"already used by {owner}; pick another letter."
            )
        shorts[rp.short] = rp
    return list(merged.values())


def _same_default(a: Any, b: Any) -> bool:
    empty = inspect.Parameter.empty
    if a is empty or b is empty:
        return a is b
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # pragma: no cover - exotic __eq__
        return False


def _show(default: Any) -> str:
    return "no default (required)" if default is inspect.Parameter.empty else repr(default)

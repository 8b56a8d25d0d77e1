"""The argparse flags generated from the run parameters."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from reflow.define.markers import type_repr
from reflow.define.runparams import converter_for

if TYPE_CHECKING:
    from reflow.define.runparams import ResolvedParam
    from reflow.workflow import Workflow

__all__ = ["add_parameter_arguments", "build_parameter_parser", "parameters_from_namespace"]


def _help(rp: ResolvedParam) -> str:
    text = rp.help_text or f"{type_repr(rp.annotation)} parameter of {', '.join(rp.tasks)}"
    if rp.required:
        return f"{text} (required)"
    default = rp.default
    if isinstance(default, (list, tuple)):
        shown = " ".join(str(v) for v in default) or "none"
    elif hasattr(default, "name") and hasattr(default, "value"):
        shown = str(default.name)
    else:
        shown = str(default)
    return f"{text} (default: {shown})".replace("%", "%%")


def add_parameter_arguments(
    parser: argparse.ArgumentParser | Any, params: Sequence[ResolvedParam]
) -> None:
    """Add one flag per run parameter to ``parser`` (or an argument group)."""
    for rp in params:
        names = [rp.cli_flag()] + ([rp.short] if rp.short else [])
        kwargs: dict[str, Any] = {"dest": rp.dest, "help": _help(rp)}
        if rp.is_bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = converter_for(rp.base_type)
            kwargs["metavar"] = rp.dest.upper()
            if rp.literal_choices is not None:
                kwargs["choices"] = list(_choice_values(rp))
                kwargs["metavar"] = "{" + ",".join(str(c) for c in rp.literal_choices) + "}"
            if rp.is_list:
                kwargs["nargs"] = "+" if rp.required else "*"
        if rp.required:
            kwargs["required"] = True
        else:
            kwargs["default"] = rp.default
        parser.add_argument(*names, **kwargs)


def _choice_values(rp: ResolvedParam) -> list[Any]:
    tp = rp.base_type
    if isinstance(tp, type) and hasattr(tp, "__members__"):
        return list(tp.__members__.values())
    return list(rp.literal_choices or ())


def build_parameter_parser(workflow: Workflow, prog: str | None = None) -> argparse.ArgumentParser:
    """A parser holding only the workflow's run-parameter flags."""
    parser = argparse.ArgumentParser(prog=prog or workflow.name, allow_abbrev=False)
    add_parameter_arguments(parser, workflow.cli_params())
    return parser


def parameters_from_namespace(
    namespace: argparse.Namespace, params: Sequence[ResolvedParam]
) -> dict[str, Any]:
    """Pick the run parameters out of a parsed namespace."""
    values: dict[str, Any] = {}
    for rp in params:
        if not hasattr(namespace, rp.dest):
            continue
        value = getattr(namespace, rp.dest)
        values[rp.dest] = list(value) if rp.is_list and value is not None else value
    return values

"""Typed, JSON-ready descriptions of a workflow (``Workflow.describe``)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from reflow.manifest import ManifestCodec

__all__ = ["CliParamDescription", "TaskDescription", "WorkflowDescription"]


@dataclass(frozen=True)
class TaskDescription:
    """One task: resources, dependencies and the wiring of its inputs."""

    name: str
    is_array: bool
    config: dict[str, Any]
    dependencies: list[str]
    result_deps: dict[str, dict[str, Any]]
    return_type: str | None
    has_verify: bool


@dataclass(frozen=True)
class CliParamDescription:
    """One run parameter and its command-line flag."""

    name: str
    task: str
    flag: str
    type_repr: str
    required: bool
    default: Any
    namespace: str
    help: str
    choices: list[Any] | None = None
    short: str | None = None
    tasks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class WorkflowDescription:
    """Everything a tool needs to rebuild the submit form and the graph."""

    name: str
    entrypoint: Path
    python: Path
    working_dir: Path
    tasks: list[TaskDescription]
    cli_params: list[CliParamDescription]

    def to_manifest_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary (paths as strings, defaults encoded)."""
        codec = ManifestCodec()

        def plain(obj: Any) -> Any:
            if hasattr(obj, "__dataclass_fields__"):
                return {f.name: plain(getattr(obj, f.name)) for f in fields(obj)}
            if isinstance(obj, list):
                return [plain(item) for item in obj]
            if isinstance(obj, dict):
                return {key: plain(value) for key, value in obj.items()}
            if isinstance(obj, Path):
                return str(obj)
            try:
                return codec.dump_value(obj)
            except TypeError:
                return repr(obj)

        result: dict[str, Any] = plain(self)
        return result

"""Text renderings of a workflow description: summary and graph."""

from __future__ import annotations

from typing import Any

from reflow.manifest import CODEC

__all__ = ["dag_text", "describe_text", "dot_string"]


def _plain(value: Any) -> str:
    """A stored default as a person would write it on the command line."""
    try:
        value = CODEC.load_value(value)
    except (TypeError, ValueError):
        return repr(value)
    if hasattr(value, "name") and hasattr(value, "value") and not isinstance(value, type):
        return str(value.name)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return repr(value)


def describe_text(desc: dict[str, Any]) -> str:
    """A readable summary of ``Workflow.describe()``."""
    lines = [f"Workflow {desc['name']}", "", "Tasks (in run order):"]
    for task in desc["tasks"]:
        cfg = task["config"]
        kind = "array" if task["is_array"] else "job"
        extra = f", at most {cfg['array_parallelism']} at once" if cfg["array_parallelism"] else ""
        if cfg.get("pack"):  # absent from descriptions recorded before pack=
            extra += f", {cfg['pack']} elements per array task"
        lines.append(
            f"  {task['name']}  [{kind}: {cfg['cpus']} cpu, {cfg['mem']}, {cfg['time']}{extra}]"
            f" -> {task['return_type'] or '?'}"
        )
        for pname, wire in task["result_deps"].items():
            for step, mode in zip(wire["steps"], wire["modes"], strict=True):
                lines.append(f"      {pname} <- {step} ({mode})")
        after = list(cfg["after"])
        if after:
            lines.append(f"      after {', '.join(after)}")
    lines += ["", "Parameters:"]
    if not desc["cli_params"]:
        lines.append("  (none)")
    for p in desc["cli_params"]:
        state = "required" if p["required"] else f"default {_plain(p['default'])}"
        literal = p["type_repr"].startswith("Literal")
        choices = f" one of {p['choices']}" if p["choices"] and not literal else ""
        lines.append(
            f"  {p['flag']:24s} {p['type_repr']}{choices}, {state}  ({', '.join(p['tasks'])})"
        )
    return "\n".join(lines)


def _edges(desc: dict[str, Any]) -> list[tuple[str, str, str]]:
    edges: list[tuple[str, str, str]] = []
    for task in desc["tasks"]:
        for pname, wire in task["result_deps"].items():
            for step, mode in zip(wire["steps"], wire["modes"], strict=True):
                edges.append((step, task["name"], f"{pname}: {mode}"))
        for dep in task["config"]["after"]:
            edges.append((dep, task["name"], "after"))
    return edges


def dot_string(text: str) -> str:
    """``text`` as a Graphviz double-quoted string, quotes included.

    Names and labels come from run records too, which may predate the naming
    rule, so anything may be in them: a ``"`` would end the string and a
    backslash start an escape (``\\n`` is a line break in a label), so both
    are escaped; a raw line break becomes that ``\\n``.

    Examples
    --------
    >>> print(dot_string('say "hi"'))
    "say \\"hi\\""
    """
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n") + '"'


def dag_text(desc: dict[str, Any], fmt: str = "text") -> str:
    """The task graph as plain text, Mermaid or Graphviz dot."""
    arrays = {t["name"] for t in desc["tasks"] if t["is_array"]}
    edges = _edges(desc)
    if fmt == "mermaid":
        out = ["flowchart TD"]
        for t in desc["tasks"]:
            name = t["name"]
            out.append(f"    {name}[[{name}]]" if name in arrays else f"    {name}[{name}]")
        out += [f"    {a} -->|{label}| {b}" for a, b, label in edges]
        return "\n".join(out)
    if fmt == "dot":
        out = [f"digraph {dot_string(desc['name'])} {{", "    rankdir=TB;"]
        for t in desc["tasks"]:
            shape = "box3d" if t["name"] in arrays else "box"
            out.append(f"    {dot_string(t['name'])} [shape={shape}];")
        out += [
            f"    {dot_string(a)} -> {dot_string(b)} [label={dot_string(label)}];"
            for a, b, label in edges
        ]
        out.append("}")
        return "\n".join(out)
    out = []
    for t in desc["tasks"]:
        mark = "[]" if t["name"] in arrays else ""
        incoming = [f"{a} ({label})" for a, b, label in edges if b == t["name"]]
        out.append(f"{t['name']}{mark}" + (f"  <- {', '.join(incoming)}" if incoming else ""))
    return "\n".join(out)

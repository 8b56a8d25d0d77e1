"""``reflow dag (SCRIPT | RUN)``: the task graph, with wire modes on the edges.

For a workflow file, the graph of the workflow it defines (imported the way
jobs import it, so its ``__main__`` block does not run).  For a run, the
graph recorded with the run (no script needed) with every task marked by
its state: in colour on a terminal, as ``[STATE counts]`` in text, as
Mermaid classes or Graphviz fill colours.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from reflow.errors import ReflowError

if TYPE_CHECKING:
    import argparse

    from reflow.workflow import Workflow

__all__ = ["DESCRIPTION", "HELP", "NAME", "add_arguments", "run"]

NAME = "dag"
HELP = "draw the task graph of a workflow file or of a run (with task states)"
DESCRIPTION = (
    "Print the task graph of the workflow in SCRIPT, or of RUN as recorded in the store, "
    "with each edge's parameter and wire mode. For a run every task is marked by its state. "
    "Formats: text, mermaid (Mermaid flowchart), dot (Graphviz), json."
)

FILL: dict[str, str] = {
    "SUCCESS": "#c8e6c9",
    "FAILED": "#ffcdd2",
    "RUNNING": "#fff59d",
    "SUBMITTED": "#b3e5fc",
    "RETRYING": "#ffe0b2",
    "PENDING": "#eeeeee",
    "CANCELLED": "#e1bee7",
    "SKIPPED": "#f5f5f5",
    "NOT_PLANNED": "#ffffff",
}
"""Node fill colour per task state, in the Mermaid and dot renderings."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the target, ``--format`` and ``--workflow``."""
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.runref import add_store_option

    parser.add_argument(
        "target",
        metavar="SCRIPT|RUN",
        help="a workflow .py file, or a run (id, unique prefix/suffix, latest)",
    )
    parser.add_argument(
        "--format", choices=("text", "mermaid", "dot", "json"), default="text", help="(text)"
    )
    parser.add_argument(
        "--workflow", metavar="NAME", help="the workflow to draw, when SCRIPT defines several"
    )
    add_store_option(parser)


def _is_script(target: str) -> bool:
    return target.endswith(".py") or Path(target).is_file()


def load_script_workflow(script: Path, name: str | None) -> Workflow:
    """The workflow defined in ``script`` (called ``name`` if given), loaded as jobs load it.

    Raises
    ------
    ReflowError
        If the file is missing, fails to import, or defines no (or several,
        without ``name``) workflows.
    """
    import sys

    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.engine.scheduler.loader import JOB_MODULE, WorkflowNotFoundError, load_workflow
    from reflow.workflow import Workflow

    if not script.is_file():
        raise ReflowError(f"There is no workflow file {script}.")
    try:
        return load_workflow(script, name or "\0")
    except WorkflowNotFoundError:
        if name is not None:
            raise
    except ReflowError:
        raise  # the script's own definition error (a bad name ...): one line as it is
    except Exception as exc:  # the user's module failed at import
        raise ReflowError(
            f"Importing the workflow file {script} failed: {type(exc).__name__}: {exc}"
        ) from exc
    module = sys.modules.get(JOB_MODULE)
    found: list[Workflow] = []
    for value in vars(module).values() if module is not None else ():
        if isinstance(value, Workflow) and all(value is not w for w in found):
            found.append(value)
    if len(found) == 1:
        return found[0]
    if not found:
        raise ReflowError(f"{script} defines no reflow Workflow at module level.")
    names = ", ".join(w.name for w in found)
    raise ReflowError(f"{script} defines several workflows ({names}); choose one with --workflow.")


def _counts_text(counts: dict[str, int]) -> str:
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.commands.status import STATE_ORDER

    return ", ".join(f"{counts[s]} {s}" for s in STATE_ORDER if counts.get(s))


def _state_text(state: str, counts: dict[str, int]) -> str:
    """``5 SUCCESS``, ``FAILED: 2 SUCCESS, 1 FAILED``, or ``not planned``."""
    if not any(counts.values()):
        return "not planned"
    text = _counts_text(counts)
    return text if len([n for n in counts.values() if n]) == 1 else f"{state}: {text}"


def _decorate(
    text: str, fmt: str, desc: dict[str, Any], summary: dict[str, dict[str, int]]
) -> str:
    """Add each task's state to a rendering of :func:`dag_text`."""
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.rungraph import task_state

    names = [t["name"] for t in desc["tasks"]]
    states = {n: task_state(summary.get(n, {})) for n in names}
    if fmt == "text":
        lines = text.splitlines()
        return "\n".join(
            f"{line}  [{_state_text(states[n], summary.get(n, {}))}]"
            for line, n in zip(lines, names, strict=True)
        )
    if fmt == "mermaid":
        out = [text]
        for state in dict.fromkeys(states.values()):
            members = ",".join(n for n in names if states[n] == state)
            out.append(f"    classDef {state.lower()} fill:{FILL.get(state, '#ffffff')}")
            out.append(f"    class {members} {state.lower()}")
        return "\n".join(out)
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.render import dot_string

    body = text.rstrip().removesuffix("}").rstrip("\n")
    nodes = []
    for n in names:
        # The line break between name and counts is a label line break, the
        # one escape left unescaped; the name itself is escaped.
        label = dot_string(n)[:-1] + (f"\\n{_counts_text(summary[n])}" if summary.get(n) else "")
        nodes.append(
            f"    {dot_string(n)} [style=filled, "
            f'fillcolor="{FILL.get(states[n], "#ffffff")}", label={label}"];'
        )
    return "\n".join([body, *nodes, "}"])


def run(args: argparse.Namespace) -> int:
    """Print the graph."""
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.output import STATE_STYLES, Line, Printer
    from reflow.cli.render import dag_text

    printer = Printer()
    summary: dict[str, dict[str, int]] | None = None
    if _is_script(args.target):
        desc = load_script_workflow(Path(args.target).expanduser(), args.workflow).describe()
    else:
        # lazy: `reflow --help` imports every command; what it runs loads when it runs
        from reflow.cli.rungraph import run_description
        from reflow.cli.runref import open_cli_store, resolve_run

        store = open_cli_store(args)
        record = resolve_run(store, args.target)
        desc = run_description(store, record)
        summary = store.task_state_summary(record.run_id)
    if args.format == "json":
        data: dict[str, Any] = {
            "workflow": desc["name"],
            "tasks": [
                {
                    "name": t["name"],
                    "is_array": t["is_array"],
                    "result_deps": t["result_deps"],
                    "after": list(t["config"]["after"]),
                }
                for t in desc["tasks"]
            ],
        }
        if summary is not None:
            # lazy: `reflow --help` imports every command; what it runs loads when it runs
            from reflow.cli.rungraph import task_state

            for task in data["tasks"]:
                task["state"] = task_state(summary.get(task["name"], {}))
                task["counts"] = summary.get(task["name"], {})
        printer.json(data)
        return 0
    text = dag_text(desc, args.format)
    if summary is not None:
        text = _decorate(text, args.format, desc, summary)
    if args.format != "text" or summary is None or not printer.rich:
        printer.stream.write(text + "\n")
        return 0
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.rungraph import task_state

    printer.show(
        Line(line, STATE_STYLES.get(task_state(summary.get(t["name"], {})), ""))
        for line, t in zip(text.splitlines(), desc["tasks"], strict=True)
    )
    return 0

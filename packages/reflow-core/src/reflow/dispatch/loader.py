"""Loading the user's workflow inside a job, without running its ``__main__`` block.

Jobs import the workflow's file under the module name ``__reflow_job__``, so
``if __name__ == "__main__":`` is false there.  While a job loads the file,
:func:`loading` is true and ``Workflow.submit`` returns without starting a
run, so a driver script that calls ``wf.submit()`` at top level (no
``__main__`` guard) still gives exactly one run.
"""

from __future__ import annotations

import importlib.util
import sys
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from reflow.errors import ReflowError

if TYPE_CHECKING:
    from reflow.workflow import Workflow

__all__ = ["JOB_MODULE", "find_workflow", "load_workflow", "loading", "register", "script_of"]

JOB_MODULE = "__reflow_job__"

_STATE = {"loading": False}
_WORKFLOWS: list[weakref.ref[Workflow]] = []


def loading() -> bool:
    """Whether a reflow job is importing the workflow file right now."""
    return _STATE["loading"]


def register(workflow: Workflow, defined_in: str | None) -> None:
    """Remember a workflow and the file it was defined in (called by ``Workflow``)."""
    workflow._defined_in = defined_in
    _WORKFLOWS.append(weakref.ref(workflow))


def script_of(workflow: Workflow) -> Path:
    """The importable file a workflow is defined in.

    Raises
    ------
    ReflowError
        For a workflow defined in ``python -c``, an interactive session or a
        notebook cell: jobs on other nodes could not load it.
    """
    where = getattr(workflow, "_defined_in", None)
    if not where or where.startswith("<") or not Path(where).is_file():
        raise ReflowError(
            f"Workflow {workflow.name!r} is not defined in a file (it comes from "
            f"{where or 'an interactive session, python -c or a notebook'}). Scheduler jobs "
            "import the workflow on other nodes, so it must live in an importable .py file: "
            "move it to a file and submit from there, or use run_local() here."
        )
    return Path(where).resolve()


def find_workflow(name: str, module_file: Path | None = None) -> Workflow:
    """The live workflow called ``name`` (defined in ``module_file`` if given)."""
    found = []
    for ref in _WORKFLOWS:
        wf = ref()
        if wf is None or wf.name != name:
            continue
        defined = getattr(wf, "_defined_in", None)
        if module_file is None or (defined and Path(defined).resolve() == module_file):
            found.append(wf)
    if not found:
        where = f" in {module_file}" if module_file else ""
        raise ReflowError(
            f"No workflow named {name!r}{where}. Was the workflow renamed or the file "
            "changed since the run was submitted?"
        )
    return found[-1]


def load_workflow(script: Path, name: str, argv: list[str] | None = None) -> Workflow:
    """Import ``script`` as a job would and return its workflow called ``name``.

    ``argv`` is the command line the run was submitted with: the script sees
    it as ``sys.argv`` while it loads, so top-level code that reads its
    arguments behaves as it did at submission.
    """
    script = Path(script).resolve()
    try:
        return find_workflow(name, script)
    except ReflowError:
        pass
    spec = importlib.util.spec_from_file_location(JOB_MODULE, script)
    if spec is None or spec.loader is None:
        raise ReflowError(f"Cannot import the workflow file {script}.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[JOB_MODULE] = module
    sys.path.insert(0, str(script.parent))
    _STATE["loading"] = True
    saved_argv = sys.argv
    if argv:
        sys.argv = list(argv)
    try:
        spec.loader.exec_module(module)
    except SystemExit:
        pass  # ``raise SystemExit(wf.cli())`` at top level: the workflow is defined by now
    except FileNotFoundError as exc:
        raise ReflowError(f"The workflow file {script} is gone: {exc}.") from exc
    finally:
        _STATE["loading"] = False
        sys.argv = saved_argv
    return find_workflow(name, script)

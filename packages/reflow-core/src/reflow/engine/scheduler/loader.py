"""Loading the user's workflow inside a job, without running its driver code.

Jobs import the workflow's file under the module name ``__reflow_job__``, so
``if __name__ == "__main__":`` is false there.  A script without that guard
still drives the workflow at top level (``run = wf.submit(...); run.wait()``).
While a job loads the file, :func:`loading` is true and the first *driver
call* (every method wrapped by :func:`driver_call`: ``submit``, ``run_local``,
``cli``, ``Run.wait``, ``Run.status``, ...) raises a private
:class:`BaseException` that :func:`load_workflow` catches: the rest of the
script is not executed, and the job does its own work with the workflow as it
was defined before that call.  A ``BaseException`` passes through the user's
``try/except Exception`` around the call, so nothing can wait on the very run
only this job can advance.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar, cast

from reflow.define.registry import defined_flows
from reflow.errors import ReflowError

if TYPE_CHECKING:
    from reflow.workflow import Workflow

__all__ = [
    "JOB_MODULE",
    "WorkflowNotFoundError",
    "driver_call",
    "find_workflow",
    "load_workflow",
    "loading",
    "script_of",
]

logger = logging.getLogger(__name__)

JOB_MODULE = "__reflow_job__"

_STATE = {"loading": False}

_P = ParamSpec("_P")
_R = TypeVar("_R")


class WorkflowNotFoundError(ReflowError):
    """The script, once loaded, defines no workflow of the name asked for."""


class _DriverCallWhileLoading(BaseException):
    """A driver call reached while a job loads the script: stop executing it.

    A ``BaseException`` so that the user's ``except Exception`` around the
    call does not swallow it (``KeyboardInterrupt`` and ``SystemExit`` are
    built the same way, for the same reason).
    """

    def __init__(self, call: str) -> None:
        super().__init__(call)
        self.call = call


def loading() -> bool:
    """Whether a reflow job is importing the workflow file right now."""
    return _STATE["loading"]


def driver_call(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Mark ``method`` as a driver call: it stops the script while a job loads it.

    Driver calls are what a script does with a workflow once it is defined:
    start runs, wait for them, poll them, run the command line.  In a job none
    of them may run (a ``wait()`` there would wait for the job itself).
    """

    @functools.wraps(method)
    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if _STATE["loading"]:
            raise _DriverCallWhileLoading(method.__qualname__)
        return method(*args, **kwargs)

    return guarded


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
    for wf in defined_flows():
        if wf.name != name:
            continue
        defined = getattr(wf, "_defined_in", None)
        if module_file is None or (defined and Path(defined).resolve() == module_file):
            found.append(wf)
    if not found:
        where = f" in {module_file}" if module_file else ""
        raise WorkflowNotFoundError(
            f"No workflow named {name!r}{where}. Was the workflow renamed or the file "
            "changed since the run was submitted?"
        )
    # Only a Workflow registers itself (reflow.define.registry), in its __init__.
    return cast("Workflow", found[-1])


def load_workflow(script: Path, name: str, argv: list[str] | None = None) -> Workflow:
    """Import ``script`` as a job would and return its workflow called ``name``.

    ``argv`` is the command line the run was submitted with: the script sees
    it as ``sys.argv`` while it loads, so top-level code that reads its
    arguments behaves as it did at submission.
    """
    script = Path(script).resolve()
    try:
        return find_workflow(name, script)
    except WorkflowNotFoundError:
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
    stopped_at = ""
    try:
        spec.loader.exec_module(module)
    except _DriverCallWhileLoading as stop:
        stopped_at = _where(stop, script)
        logger.info("loading %s stopped at its first driver call, %s", script, stopped_at)
    except SystemExit:
        pass  # the script exits at top level on its own: what it defined is all there is
    except FileNotFoundError as exc:
        raise ReflowError(f"The workflow file {script} is gone: {exc}.") from exc
    finally:
        _STATE["loading"] = False
        sys.argv = saved_argv
    try:
        return find_workflow(name, script)
    except WorkflowNotFoundError as exc:
        if not stopped_at:
            raise
        raise WorkflowNotFoundError(
            f"{exc} Jobs stop reading the script at its first top-level driver call "
            f"({stopped_at}), and the workflow is defined after it: define every workflow "
            'before that call, or put the driver code under if __name__ == "__main__":.'
        ) from None


def _where(stop: _DriverCallWhileLoading, script: Path) -> str:
    """``"Run.wait() at line 12"``: the call and the script's line that made it."""
    lines = [
        lineno
        for frame, lineno in traceback.walk_tb(stop.__traceback__)
        if Path(frame.f_code.co_filename).resolve() == script
    ]
    return f"{stop.call}()" + (f" at line {lines[-1]}" if lines else "")

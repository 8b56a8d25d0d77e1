"""Workflow scripts written by a test and imported, as a user's script file is.

Jobs load the workflow from its file (:mod:`reflow.engine.scheduler.loader`), so a
test that submits a run needs its workflow in a real module file, not in the
test's own code.
"""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path
from types import ModuleType

__all__ = ["import_script", "load_script", "load_template"]


def load_script(directory: Path, name: str, source: str) -> ModuleType:
    """Write ``source`` (dedented) to ``directory/<name>.py`` and import it as ``name``.

    Parameters
    ----------
    directory : Path
        An existing directory the jobs can read.
    name : str
        The module's name and file stem.
    source : str
        The script's text.

    Returns
    -------
    ModuleType
        The imported module.

    Raises
    ------
    ImportError
        If Python cannot make a module of the file.
    """
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return import_script(path, name)


def import_script(path: Path, name: str) -> ModuleType:
    """Import the script file ``path`` as module ``name`` (a user's script, an example).

    Parameters
    ----------
    path : Path
        The script.
    name : str
        The module's name.

    Returns
    -------
    ModuleType
        The imported module.

    Raises
    ------
    ImportError
        If Python cannot make a module of the file.
    """
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import a module from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_template(directory: Path, name: str, template: str) -> ModuleType:
    """Fill ``{name}`` in ``template`` with ``name``, then :func:`load_script` it.

    Test pipelines name their workflow after their module (job names start with
    it), so one template serves many tests; the template doubles every other
    brace, as :meth:`str.format` wants.

    Parameters
    ----------
    directory : Path
        An existing directory the jobs can read.
    name : str
        The module's name, file stem and the workflow's name.
    template : str
        The script's text with ``{name}`` where the workflow's name goes.

    Returns
    -------
    ModuleType
        The imported module.
    """
    return load_script(directory, name, template.format(name=name))

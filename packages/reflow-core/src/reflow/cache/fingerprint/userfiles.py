"""Which code is the user's own, and the qualified names of everything else.

The fingerprint follows what a task reaches in the user's own code and names
everything else (the standard library, installed packages, reflow itself) by
its qualified name only.  The user's own code is any file outside the
interpreter's standard library and package directories and outside reflow:
the workflow script, modules beside it, and packages installed in editable
mode (their files stay in the user's source tree).  Exec'd code, which has no
file, counts as the user's.
"""

from __future__ import annotations

import site
import sys
import sysconfig
from functools import cache
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

__all__ = [
    "is_user_class",
    "is_user_file",
    "is_user_function",
    "is_user_module",
    "qualified_name",
]

# Installed packages of another environment (a user site, system site-packages)
# are on sys.path too; they are never the user's own code.
_PACKAGE_DIRS = ("/site-packages/", "/dist-packages/")


def _library_dirs() -> tuple[str, ...]:
    keys = ("stdlib", "platstdlib", "purelib", "platlib")
    paths = {sysconfig.get_paths()[k] for k in keys}
    if site.ENABLE_USER_SITE:
        paths.add(site.getusersitepackages())
    own = Path(__file__).resolve().parent.parent  # reflow itself
    resolved = (str(Path(p).resolve()) + "/" for p in paths if p)
    return (*resolved, str(own) + "/")


_LIBRARY = _library_dirs()


@cache
def is_user_file(path: str | None) -> bool:
    """Whether a code file is the user's own (``None`` or ``<...>``: exec'd code, so yes)."""
    if path and path.startswith("<frozen "):
        return False  # the standard library's modules frozen into the interpreter (os, ...)
    if not path or path.startswith("<"):
        return True
    resolved = str(Path(path).resolve())
    return not resolved.startswith(_LIBRARY) and not any(d in resolved for d in _PACKAGE_DIRS)


def is_user_function(value: Any) -> bool:
    """Whether ``value`` is a Python function defined in the user's own code."""
    return isinstance(value, FunctionType) and is_user_file(value.__code__.co_filename)


def is_user_module(value: Any) -> bool:
    """Whether ``value`` is a module of the user's own code (built-in modules are not)."""
    if not isinstance(value, ModuleType):
        return False
    path = getattr(value, "__file__", None)
    return path is not None and is_user_file(path)


def is_user_class(value: Any) -> bool:
    """Whether ``value`` is a class defined in the user's own code."""
    if not isinstance(value, type):
        return False
    if value.__module__ in sys.builtin_module_names:
        return False
    module = sys.modules.get(value.__module__)
    # A class of an interactive or exec'd ``__main__`` has no file: it is the user's.
    path = getattr(module, "__file__", None)
    return is_user_file(path)


def qualified_name(value: Any) -> str:
    """``module.qualname`` of a function, class or module; the type's for anything else.

    reflow's own names are given as ``reflow.<name>``, its public form, so that
    moving one between reflow's modules does not change every fingerprint.
    """
    if isinstance(value, ModuleType):
        return value.__name__
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    if not isinstance(name, str):
        value, name = type(value), type(value).__qualname__
    module = getattr(value, "__module__", None)
    if not isinstance(module, str):
        return name
    return f"{_public(module)}.{name}"


def _public(module: str) -> str:
    """The public module a name is reached through, stable across versions.

    Implementations move between private modules (``pathlib._local`` in 3.13,
    ``_functools``, ``_operator``), and reflow's own between its modules; the
    public name is what the user's code wrote, and does not move.
    """
    if module == "reflow" or module.startswith("reflow."):
        return "reflow"
    parts = module.split(".")
    kept = [parts[0].lstrip("_") or parts[0]]
    kept += [p for p in parts[1:] if not p.startswith("_")]
    return ".".join(kept)

"""Discovery and loading of executor and store plugins.

Plugins are installed distributions that declare an entry point in one of two
groups:

``reflow.executors``
    ``slurm = "reflow_executor_slurm:SlurmExecutor"``, likewise ``pbs``,
    ``lsf``, ``sge``, ``flux`` and the built-in ``local``.
``reflow.stores``
    ``sqlite = "reflow_store_sqlite:SqliteStore"``.

The entry-point name is what users type (``REFLOW_EXECUTOR=slurm``).  This is
the only module that reads entry points, and it reads each group at most once
per process.  Listing plugins (:func:`available`) imports none of them;
:func:`load` imports only the plugin asked for, after checking that the
plugin's distribution was built for the installed reflow-core.  A plugin that
fails to import therefore never breaks anything but its own selection, and
:func:`describe_plugins` (behind ``reflow plugins``) reports such failures
instead of raising them.

Choices
-------
- Plugin names are matched exactly, then ignoring case.
- If two distributions register the same name in one group, the first one
  found on ``sys.path`` wins and a warning is logged once.
- A plugin whose distribution does not declare a ``reflow-core`` requirement
  (or whose distribution cannot be found) is taken as compatible.  A
  requirement this module cannot parse is logged and not enforced.
- A requirement applies when its environment marker holds for the running
  interpreter with no extra selected, as pip decides it; so one limited to an
  extra (``; extra == "x"``) is ignored.  Versions compare as PEP 440 says
  (through ``packaging``), except that an installed pre-release is admitted
  by every range containing it: the check judges what is installed, not what
  to download.
- Messages quote the range with its clauses in the order the distribution
  wrote them.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reflow._version import __version__ as _core_version_string
from reflow.define.graph import did_you_mean
from reflow.errors import PluginIncompatibleError, PluginLoadError, PluginNotFoundError

if TYPE_CHECKING:
    from collections.abc import Iterable
    from importlib.metadata import Distribution, EntryPoint

    from packaging.specifiers import Specifier

__all__ = [
    "CORE_DISTRIBUTION",
    "EXECUTORS",
    "KNOWN_PLUGINS",
    "STORES",
    "PluginInfo",
    "available",
    "clear_cache",
    "describe_plugins",
    "load",
]

logger = logging.getLogger(__name__)

EXECUTORS = "reflow.executors"
"""Entry-point group of the executor plugins."""

STORES = "reflow.stores"
"""Entry-point group of the store plugins."""

CORE_DISTRIBUTION = "reflow-core"
"""Name of the distribution whose version plugins are checked against."""

_GROUPS: dict[str, str] = {
    "executor": EXECUTORS,
    "executors": EXECUTORS,
    EXECUTORS: EXECUTORS,
    "store": STORES,
    "stores": STORES,
    STORES: STORES,
}

_NAMES_CORE = re.compile(r"\s*reflow[-_.]+core(?![A-Za-z0-9._-])", re.IGNORECASE)
"""Matches a requirement line about reflow-core, even one that does not parse."""

_SINGULAR: dict[str, str] = {EXECUTORS: "executor", STORES: "store"}
"""The word used for one plugin of each group, in messages and listings."""

_PACKAGE_PREFIX: dict[str, str] = {EXECUTORS: "reflow-executor-", STORES: "reflow-store-"}
"""How the distributions of each group are named, for the ``pip install`` hint."""

KNOWN_PLUGINS: dict[str, tuple[str, ...]] = {
    EXECUTORS: ("local", "slurm", "pbs", "lsf", "sge", "flux"),
    STORES: ("sqlite",),
}
"""The plugins the reflow project itself ships (``local`` inside reflow-core).

Only these get a ``pip install`` line when missing: a line built from any
typed name would send users to packages nobody publishes, or to a squatter's.
"""


@dataclass(frozen=True)
class PluginInfo:
    """What ``reflow plugins`` reports about one installed plugin.

    Attributes
    ----------
    kind : str
        ``"executor"`` or ``"store"``.
    name : str
        The entry-point name users select the plugin by.
    value : str
        The entry-point value, ``module:attribute``.
    distribution : str or None
        The distribution that registers the plugin, if known.
    version : str or None
        That distribution's version, if known.
    path : str or None
        The file of the plugin's module, if it can be located.
    core_requirement : str or None
        The distribution's requirement on reflow-core (``reflow-core<0.2,>=0.1``),
        or ``None`` when it declares none.
    compatible : bool
        Whether the installed reflow-core satisfies that requirement.
    error : str or None
        Why the plugin cannot be used (incompatible or failing to import), or
        ``None`` when it loads.
    """

    kind: str
    name: str
    value: str
    distribution: str | None
    version: str | None
    path: str | None
    core_requirement: str | None
    compatible: bool
    error: str | None

    @property
    def ok(self) -> bool:
        """Whether the plugin can be used."""
        return self.error is None


def _read_entry_points(group: str) -> Iterable[EntryPoint]:
    """Read one entry-point group from the installed distributions (uncached).

    Tests replace this function to isolate discovery from what is installed.
    """
    from importlib.metadata import entry_points

    return entry_points(group=group)


@functools.cache
def _discover(group: str) -> tuple[EntryPoint, ...]:
    """Return the group's entry points, one per name, sorted by name (cached)."""
    found: dict[str, EntryPoint] = {}
    for entry_point in _read_entry_points(group):
        first = found.get(entry_point.name)
        if first is None:
            found[entry_point.name] = entry_point
            continue
        if first.value != entry_point.value or _dist_name(first) != _dist_name(entry_point):
            logger.warning(
                "Two %s plugins are named %r: %s (from %s) and %s (from %s); using the first.",
                _SINGULAR[group],
                entry_point.name,
                first.value,
                _dist_name(first) or "an unknown distribution",
                entry_point.value,
                _dist_name(entry_point) or "an unknown distribution",
            )
    logger.debug("Found %d plugin(s) in entry-point group %s", len(found), group)
    return tuple(found[name] for name in sorted(found))


def clear_cache() -> None:
    """Forget the entry points read so far, so the next call reads them again.

    Meant for tests and for long-lived processes that install plugins at run
    time.  Modules already imported stay imported.
    """
    _discover.cache_clear()


def _group(kind: str) -> str:
    try:
        return _GROUPS[kind]
    except KeyError:
        raise ValueError(f"Unknown plugin kind {kind!r}; use 'executors' or 'stores'.") from None


def available(kind: str) -> dict[str, EntryPoint]:
    """Return the installed plugins of one kind, without importing any of them.

    Parameters
    ----------
    kind : str
        ``"executors"`` or ``"stores"`` (also accepted: the singular, and the
        group names :data:`EXECUTORS` and :data:`STORES`).

    Returns
    -------
    dict[str, importlib.metadata.EntryPoint]
        Plugin name to entry point, sorted by name.  The dict is a fresh copy.

    Raises
    ------
    ValueError
        If ``kind`` is not one of the above.
    """
    return {entry_point.name: entry_point for entry_point in _discover(_group(kind))}


def load(kind: str, name: str, base: type | None = None) -> type:
    """Import the plugin ``name`` of the given kind and return its class.

    Only the selected plugin's module is imported.  Before importing, the
    plugin's distribution is checked against the installed reflow-core.

    Parameters
    ----------
    kind : str
        ``"executors"`` or ``"stores"`` (see :func:`available`).
    name : str
        The plugin name, e.g. ``"slurm"``.
    base : type or None
        The class the plugin's class must subclass, published in the group's
        package (``reflow.executors.Executor``).  The caller
        passes it, so that this module needs none of the layers it loads for.

    Returns
    -------
    type
        The class the entry point names (a subclass of ``base`` when given).

    Raises
    ------
    PluginNotFoundError
        If no installed plugin has that name.  The message names the Python
        interpreter and lists the installed plugins; it gives the ``pip
        install`` line for a plugin the project ships (:data:`KNOWN_PLUGINS`),
        else the closest known name.
    PluginIncompatibleError
        If the plugin's distribution requires a reflow-core version other than
        the installed one.
    PluginLoadError
        If importing the plugin fails (the original exception is chained), or
        it does not name a suitable class.
    ValueError
        If ``kind`` is unknown.
    """
    group = _group(kind)
    installed = available(group)
    entry_point = _find(installed, name)
    if entry_point is None:
        raise PluginNotFoundError(_not_found_message(group, name, installed))
    problem = _incompatibility(group, entry_point)
    if problem is not None:
        raise PluginIncompatibleError(problem)
    return _import(group, entry_point, base)


def _find(installed: dict[str, EntryPoint], name: str) -> EntryPoint | None:
    if name in installed:
        return installed[name]
    folded = name.strip().casefold()
    for candidate, entry_point in installed.items():
        if candidate.casefold() == folded:
            return entry_point
    return None


def _not_found_message(group: str, name: str, installed: dict[str, EntryPoint]) -> str:
    names = ", ".join(installed) or "none"
    folded = name.strip().casefold()
    if folded in KNOWN_PLUGINS[group]:
        fix = f"Install it with: pip install {_PACKAGE_PREFIX[group]}{folded}"
    else:
        candidates = dict.fromkeys([*installed, *KNOWN_PLUGINS[group]])
        fix = did_you_mean(folded, candidates).strip() or (
            f"reflow's own {_SINGULAR[group]}s are {', '.join(KNOWN_PLUGINS[group])}; "
            "another must be installed into this interpreter from its own package."
        )
    return f"No {_SINGULAR[group]} named {name!r} for {sys.executable} (installed: {names}). {fix}"


def _describe_plugin(group: str, entry_point: EntryPoint) -> str:
    """``executor 'slurm' (reflow-executor-slurm 0.1.0)``, for messages."""
    dist = entry_point.dist
    origin = f"{dist.name} {dist.version}" if dist is not None else "unknown distribution"
    return f"{_SINGULAR[group]} {entry_point.name!r} ({origin})"


def _dist_name(entry_point: EntryPoint) -> str | None:
    dist = entry_point.dist
    return None if dist is None else dist.name


def _installed_core_version() -> str:
    """The version of the running reflow-core (tests replace this)."""
    return _core_version_string


def _core_requirement(dist: Distribution | None) -> tuple[Specifier, ...] | None:
    """The clauses the distribution puts on ``reflow-core``, or ``None`` if undeclared.

    The clauses of every applying requirement on reflow-core, in the order
    written; all of them must hold.
    """
    if dist is None:
        return None
    # packaging is imported here, not at the top: only this check needs it, and
    # ``import reflow`` must stay fast (benchmarks/bench_import.py).
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    combined: tuple[Specifier, ...] | None = None
    for line in dist.requires or ():
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            if _NAMES_CORE.match(line):
                logger.warning(
                    "Cannot check %s's requirement %r on reflow-core (%s); not enforcing it.",
                    dist.name,
                    line,
                    str(exc).splitlines()[0],
                )
            continue
        if canonicalize_name(requirement.name) != CORE_DISTRIBUTION:
            continue
        # No extra is selected when a plugin is loaded, so an extra's requirement never holds.
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        clauses = _written_clauses(line)
        combined = clauses if combined is None else combined + clauses
    return combined


def _written_clauses(line: str) -> tuple[Specifier, ...]:
    """The version clauses of a valid requirement line on reflow-core, in the order written.

    packaging keeps a requirement's clauses in a set and prints them sorted;
    messages and ``reflow plugins`` quote the range as the plugin's author
    wrote it.  The line has already been parsed by packaging, so only its
    shape is taken apart here: name, optional ``[extras]``, then either
    ``@ url`` (no version constraint) or clauses, optionally in parentheses,
    up to the ``;`` of a marker.
    """
    from packaging.specifiers import Specifier

    name = _NAMES_CORE.match(line)
    rest = line[name.end() :] if name is not None else ""
    rest = re.sub(r"^\s*\[[^\]]*\]", "", rest.split(";", 1)[0]).strip()
    if rest.startswith("@"):
        return ()
    rest = rest.removeprefix("(").removesuffix(")")
    return tuple(Specifier(part.strip()) for part in rest.split(",") if part.strip())


def _requirement_text(clauses: tuple[Specifier, ...] | None) -> str | None:
    if clauses is None:
        return None
    return CORE_DISTRIBUTION + ",".join(str(clause) for clause in clauses)


def _incompatibility(group: str, entry_point: EntryPoint) -> str | None:
    """Explain why the plugin cannot run with the installed core, or return ``None``."""
    dist = entry_point.dist
    clauses = _core_requirement(dist)
    if dist is None or clauses is None:
        return None
    from packaging.version import Version  # see _core_requirement on why here

    core = _installed_core_version()
    required = _requirement_text(clauses)
    try:
        core_version = Version(core)
    except ValueError as exc:
        logger.warning("Cannot compare reflow-core %s with %s: %s", core, required, exc)
        return None
    # Installed pre-releases are admitted: an installed 0.2.0rc1 was chosen on purpose.
    failed = [c for c in clauses if not c.contains(core_version, prereleases=True)]
    if not failed:
        return None
    core_too_old = any(
        clause.operator not in ("!=", "===")
        and core_version < Version(clause.version.removesuffix(".*"))
        for clause in failed
    )
    if core_too_old:
        fix = f'pip install --upgrade "{required}"'
    else:
        fix = f'pip install --upgrade {dist.name} "{CORE_DISTRIBUTION}=={core}"'
    return (
        f"The {_describe_plugin(group, entry_point)} requires {required}, "
        f"but {sys.executable} has {CORE_DISTRIBUTION} {core}. Fix it with: {fix}"
    )


def _import(group: str, entry_point: EntryPoint, base: type | None) -> type:
    try:
        loaded = entry_point.load()
    except Exception as exc:
        dist = entry_point.dist
        reinstall = ""
        if dist is not None:
            reinstall = f" Reinstall it with: pip install --force-reinstall {dist.name}"
        detail = f"{type(exc).__name__}: {exc}".rstrip(". ")
        raise PluginLoadError(
            f"The {_describe_plugin(group, entry_point)} could not be imported from "
            f"{entry_point.value}: {detail}.{reinstall}"
        ) from exc
    if not isinstance(loaded, type):
        raise PluginLoadError(
            f"The {_describe_plugin(group, entry_point)} names {entry_point.value}, "
            f"which is a {type(loaded).__name__}, not a class."
        )
    if base is not None and not issubclass(loaded, base):
        raise PluginLoadError(
            f"The {_describe_plugin(group, entry_point)} names {entry_point.value}, "
            f"which is not a subclass of {group}.{base.__qualname__}."
        )
    cls: type = loaded
    logger.debug("Loaded %s from %s", _describe_plugin(group, entry_point), entry_point.value)
    return cls


def _module_path(module: str) -> str | None:
    """The file of ``module``, without importing it if it is not imported yet."""
    loaded = sys.modules.get(module)
    if loaded is not None:
        file = getattr(loaded, "__file__", None)
        return file if isinstance(file, str) else None
    try:
        from importlib.util import find_spec

        spec = find_spec(module)
    except Exception:  # a parent package that fails to import, a bad name ...
        return None
    if spec is None or not spec.has_location:
        return None
    return spec.origin


def _inspect(group: str, entry_point: EntryPoint, base: type | None) -> PluginInfo:
    dist = entry_point.dist
    requirement: str | None = None
    compatible = True
    error: str | None = None
    try:
        requirement = _requirement_text(_core_requirement(dist))
        error = _incompatibility(group, entry_point)
        compatible = error is None
        if compatible:
            _import(group, entry_point, base)
    except Exception as exc:  # describe_plugins must report, never raise
        error = str(exc) or type(exc).__name__
    return PluginInfo(
        kind=_SINGULAR[group],
        name=entry_point.name,
        value=entry_point.value,
        distribution=None if dist is None else dist.name,
        version=None if dist is None else dist.version,
        path=_module_path(entry_point.module),
        core_requirement=requirement,
        compatible=compatible,
        error=error,
    )


def describe_plugins(bases: Mapping[str, type] | None = None) -> list[PluginInfo]:
    """Describe every installed executor and store plugin.

    Each compatible plugin is imported, so a plugin that fails to import is
    reported with its error; an incompatible one is reported without being
    imported.  This function never raises because of a plugin.

    Parameters
    ----------
    bases : Mapping[str, type] or None
        Per kind (``"executors"``, ``"stores"``), the class its plugins' classes
        must subclass (as for :func:`load`); a plugin whose class does not is
        reported with that error.

    Returns
    -------
    list[PluginInfo]
        Executors first, then stores, each sorted by name.
    """
    by_group = {_group(kind): base for kind, base in (bases or {}).items()}
    return [
        _inspect(group, entry_point, by_group.get(group))
        for group in (EXECUTORS, STORES)
        for entry_point in _discover(group)
    ]

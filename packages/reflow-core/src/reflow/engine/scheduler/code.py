"""The code a submitted run runs: its workflow script and the user's modules, frozen.

A job may wait in the queue for hours while the user edits the script; the
run's identities were computed from the code as it was at submit, so every
job of the run must import that code, not the file as it is when the job
starts.  At submit (and again at ``retry``) the code is copied into the run
directory, one *generation* per copy (:attr:`~reflow.runs.layout.RunLayout.code_dir`),
and the generation the run's jobs import now is recorded in
:attr:`~reflow.runs.layout.RunLayout.code_file`::

    <run_dir>/.reflow/<run>/code/<n>/   generation n (1 at submit, one more per retry)
    <run_dir>/.reflow/<run>/code.json   the generation the run's jobs import now

A generation mirrors the directory of the workflow script: the script and the
``.py`` files of the user's modules and packages imported from that
directory at submit are copies; every other entry (data files, modules not
imported yet, subdirectories) is a symbolic link to the original, so code
that reads files next to itself through ``__file__`` still finds them.  The
entry that holds the run directory itself is left out, so the links make no
loop.

Modules that do not lie under the script's directory (another directory on
``sys.path``, installed packages) are not frozen: the worker fingerprints the
function it actually loaded, and a result of code other than the planned one
is recorded under the identity of the code that ran (see
:mod:`reflow.engine.scheduler.results`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reflow.cache.fingerprint.userfiles import is_user_file
from reflow.errors import ReflowError
from reflow.manifest import ManifestCodec
from reflow.runs.files import read_json, write_json_atomic
from reflow.runs.layout import RunLayout

if TYPE_CHECKING:
    from reflow.runs.context import RunContext

__all__ = [
    "FrozenCode",
    "code_record",
    "freeze_code",
    "is_user_file",
    "user_module_files",
    "workflow_codec",
]

logger = logging.getLogger(__name__)

_SKIP = frozenset({"__pycache__"})


@dataclass(frozen=True)
class FrozenCode:
    """One generation of a run's frozen code, as recorded in ``code.json``.

    Attributes
    ----------
    generation : int
        1 at submit, one more per ``retry``.
    script : Path
        The frozen copy of the workflow script: what jobs import.
    origin : Path
        The directory the script was frozen from.
    fingerprints : dict[str, str]
        Task -> code fingerprint in this generation, for the tasks whose code
        differs from what the run's task specifications record (the code at
        submit): only a generation frozen by ``retry`` has any.
    """

    generation: int
    script: Path
    origin: Path
    fingerprints: Mapping[str, str] = field(default_factory=dict)


def code_record(run_dir: Path, run_id: str) -> FrozenCode | None:
    """The run's current frozen code (``None`` for a run submitted before freezing)."""
    try:
        data = read_json(RunLayout(run_dir, run_id).code_file)
    except FileNotFoundError:
        return None
    return FrozenCode(
        generation=int(data["generation"]),
        script=Path(data["script"]),
        origin=Path(data["origin"]),
        fingerprints=dict(data.get("fingerprints", {})),
    )


def job_script(context: RunContext, frozen: FrozenCode | None) -> Path:
    """The script a run's jobs load the workflow from.

    The run's current frozen copy (``frozen``, from :func:`code_record`), so a
    retry runs the code as fixed; a run submitted before code was frozen
    imports its script where it is.

    Raises
    ------
    ReflowError
        For a run that records no script (made by ``run_local``, not submitted).
    """
    script = context.script if frozen is None else frozen.script
    if script is None:
        raise ReflowError(
            f"Run {context.run_id} records no workflow script (it was not made by submit), "
            f"so no job can load its workflow; close it with: reflow cancel {context.run_id}"
        )
    return script


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def user_module_files(root: Path) -> set[Path]:
    """The ``.py`` files of the user's modules, imported now, that lie under ``root``.

    A package counts with every ``.py`` file in its tree, so a submodule it
    imports later comes from the same generation.
    """
    root = root.resolve()
    files: set[Path] = set()
    for module in list(sys.modules.values()):
        where = getattr(module, "__file__", None)
        if not isinstance(where, str) or not where.endswith(".py") or not is_user_file(where):
            continue
        path = Path(where).resolve()
        if not _under(path, root):
            continue
        if getattr(module, "__path__", None) is not None:  # a package: its whole tree
            files.update(
                p for p in path.parent.rglob("*.py") if not _SKIP & set(p.relative_to(root).parts)
            )
        else:
            files.add(path)
    return files


def workflow_codec() -> ManifestCodec:
    """The codec for the files jobs exchange: it rebuilds only the user's and reflow's classes.

    A result or inputs file is data written outside the dispatcher; a class it
    names is rebuilt only when its module is already imported and is reflow's
    or the user's own code (:func:`is_user_file`), never a class of the
    standard library or an installed package.
    """
    verdicts: dict[str, bool] = {}

    def trusted(name: str) -> bool:
        if name == "reflow" or name.startswith("reflow."):
            return True
        if name not in verdicts:
            module = sys.modules.get(name)
            if module is None:  # not imported (yet): nothing to rebuild it from
                return False
            where = getattr(module, "__file__", None)
            verdicts[name] = isinstance(where, str) and is_user_file(where)
        return verdicts[name]

    return ManifestCodec(class_filter=trusted)


def _mirror(root: Path, dest: Path, copies: set[Path]) -> None:
    """Copy ``copies`` (files under ``root``) to ``dest``; link everything else."""
    import shutil  # lazy: workers import this module and never freeze code (bz2, lzma: ~3 ms)

    dirs = {dest}
    for source in sorted(copies):
        target = dest / source.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        dirs.update(target.parents)
    for directory in sorted(d for d in dirs if _under(d, dest)):
        original = root / directory.relative_to(dest)
        for entry in original.iterdir():
            target = directory / entry.name
            if entry.name in _SKIP or target.exists() or target.is_symlink():
                continue
            if _under(dest, entry.resolve()):  # holds the run directory: no link loop
                continue
            try:
                target.symlink_to(entry)
            except OSError as exc:  # a file system without links: the code still runs
                logger.warning(
                    "cannot link %s into the run's frozen code (%s); code that reads files "
                    "next to the script through __file__ will not find them",
                    entry,
                    exc,
                )
                return


def freeze_code(
    script: Path, run_dir: Path, run_id: str, fingerprints: Mapping[str, str] | None = None
) -> FrozenCode:
    """Freeze ``script`` and the user's modules beside it as the run's next generation.

    Parameters
    ----------
    script : Path
        The workflow script.
    run_dir, run_id : Path, str
        The run.
    fingerprints : mapping, optional
        Task -> code fingerprint of the code being frozen, when it differs from
        what the run's task specifications record (``retry``).

    Returns
    -------
    FrozenCode
        The new generation, now the one the run's jobs import.
    """
    script = script.resolve()
    root = script.parent
    layout = RunLayout(run_dir, run_id)
    previous = code_record(run_dir, run_id)
    generation = 1 if previous is None else previous.generation + 1
    dest = layout.code_dir(generation)
    if dest.exists():  # a retry that died half-way: start the generation again
        import shutil  # lazy: as in _mirror

        shutil.rmtree(dest)
    _mirror(root, dest, user_module_files(root) | {script})
    frozen = FrozenCode(generation, dest / script.name, root, dict(fingerprints or {}))
    write_json_atomic(
        layout.code_file,
        {
            "generation": generation,
            "script": str(frozen.script),
            "origin": str(root),
            "fingerprints": dict(frozen.fingerprints),
        },
    )
    return frozen

"""Many cases in one project, so that dozens of cases cost three runs per command.

A case is written as if it had the script to itself: a task ``final``, the
helpers it reaches, maybe a package ``mypkg`` beside the script. A
:class:`Batch` gives every top-level name of each case (functions, classes,
constants, imported modules, its packages) a suffix of its own, so the cases
share one script without touching each other, and makes all their edits as one.
Each case is still its own test: it reads its own task from the shared runs.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .harness import Command, Project, Replace, Trial, pipeline, trial

__all__ = ["Batch", "Case"]

SCRIPT = "pipeline.py"


@dataclass(frozen=True)
class Case:
    """One user's edit, as if it were alone in the project.

    Attributes
    ----------
    id : str
        The test id.
    script : str
        The task ``final`` and what it reaches, as written in ``pipeline.py``;
        an edit of ``pipeline.py`` is made in this part of the shared script only.
    edits : Replace or tuple of Replace
        The edit (of one file, or of several).
    modules : mapping of str to str
        The user's own modules beside the script: relative path -> text.
    before, after : Any
        What ``final`` gives before and after the edit.
    fixed_by : str or None
        The issue 13 branch expected to make the case pass, if it fails today.
    """

    id: str
    script: str
    edits: Replace | tuple[Replace, ...]
    modules: Mapping[str, str] = field(default_factory=dict)
    before: Any = None
    after: Any = None
    fixed_by: str | None = None


class Batch:
    """Cases renamed apart and written into one project.

    Parameters
    ----------
    cases : sequence of Case
        The cases; their ids must differ.
    """

    def __init__(self, cases: Sequence[Case]) -> None:
        self._suffix = {case.id: f"_c{k}" for k, case in enumerate(cases)}
        self._cases = [_renamed(case, self._suffix[case.id]) for case in cases]
        self._trials: dict[Command, Trial | Exception] = {}

    def task(self, case: Case) -> str:
        """The name ``final`` of ``case`` has in the shared script."""
        return "final" + self._suffix[case.id]

    def files(self) -> dict[str, str]:
        """The shared project: one script, and every case's modules."""
        files = {SCRIPT: pipeline("\n\n".join(case.script for case in self._cases))}
        for case in self._cases:
            files.update(case.modules)
        return files

    def edit(self, project: Project) -> None:
        """Every case's edit; an edit of the script only within that case's own part of it."""
        for case in self._cases:
            assert isinstance(case.edits, tuple)  # made one by _renamed
            part = case.script
            for each in case.edits:
                if each.file != SCRIPT:
                    each(project)
                    continue
                text = project.read(SCRIPT)
                assert text.count(part) == 1, (
                    f"{case.id}: its part of the script is not there once"
                )
                edited = part
                for old, new in each.changes:
                    count = edited.count(old)
                    assert count == 1, f"{case.id}: {old!r} is {count} times in its part, not once"
                    edited = edited.replace(old, new)
                project.path(SCRIPT).write_text(text.replace(part, edited))
                part = edited

    def trial(self, command: Command, directory: Callable[[], Path]) -> Trial:
        """The oracle's runs under ``command``, made on the first call only.

        A failure is kept and raised again for each case, rather than paid for
        once per case.
        """
        if command not in self._trials:
            try:
                self._trials[command] = trial(
                    Project(directory(), self.files()), command, self.edit
                )
            except Exception as exc:
                self._trials[command] = exc
        done = self._trials[command]
        if isinstance(done, Exception):
            raise done
        return done


def _renamed(case: Case, suffix: str) -> Case:
    """``case`` with each of its top-level names, and its packages, suffixed."""
    names = _top_level_names(case.script)
    for path, text in case.modules.items():
        names |= _top_level_names(text)
        names.add(path.split("/")[0].removesuffix(".py"))
    pattern = re.compile(r"\b(" + "|".join(sorted(names, key=len, reverse=True)) + r")\b")

    def rename(text: str) -> str:
        return pattern.sub(lambda m: m.group(1) + suffix, text)

    edits = case.edits if isinstance(case.edits, tuple) else (case.edits,)
    return replace(
        case,
        script=rename(case.script),
        modules={rename(path): rename(text) for path, text in case.modules.items()},
        edits=tuple(
            Replace(rename(e.file), tuple((rename(a), rename(b)) for a, b in e.changes))
            for e in edits
        ),
    )


def _top_level_names(source: str) -> set[str]:
    """The names a module's top-level statements bind (``import a.b`` binds ``a``)."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names

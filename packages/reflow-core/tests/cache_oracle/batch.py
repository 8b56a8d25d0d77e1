"""Many cases in one project, so that dozens of cases cost three runs per command.

A case is written as if it had the project to itself: a task ``final``, the
helpers it reaches, maybe a package ``mypkg`` beside the script, data files,
its command line. A :class:`Batch` gives every top-level name of each case
(functions, classes, constants, imported modules, its packages) and every
parameter of its tasks a suffix of its own, puts its data files in a directory
of its own, so the cases share one script and one command line without
touching each other, and makes all their edits as one. Each case is still its
own test: it reads its own task from the shared runs.

The cases share the run directory too: a file a case's task writes there
must be named after one of the case's names (``run_dir / "map_reads.txt"``),
which the renaming then makes the case's own.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .harness import Command, Project, Replace, Rewrite, Trial, pipeline, trial

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
    edits : Replace, Rewrite, or tuple of them
        The edit (of one file, of several, or none).
    modules : mapping of str to str
        The user's own modules beside the script: relative path -> text.
    data : mapping of str to str
        Data files: relative path -> text.
    args : tuple of str
        Workflow parameters; ``{root}`` is the directory of the case's data.
    args_after : tuple of str or None
        Workflow parameters after the edit, if they change.
    force_tasks : tuple of str
        Tasks the cached run names in ``--force-tasks``.
    before, after : Any
        What ``final`` gives before and after the edit.
    fixed_by : str or None
        The issue 13 branch expected to make the case pass, if it fails today.
    """

    id: str
    script: str
    edits: Replace | Rewrite | tuple[Replace | Rewrite, ...]
    modules: Mapping[str, str] = field(default_factory=dict)
    before: Any = None
    after: Any = None
    fixed_by: str | None = None
    data: Mapping[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    args_after: tuple[str, ...] | None = None
    force_tasks: tuple[str, ...] = ()


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

    def task(self, case: Case) -> str:
        """The name ``final`` of ``case`` has in the shared script."""
        return "final" + self._suffix[case.id]

    def files(self) -> dict[str, str]:
        """The shared project: one script, and every case's modules."""
        files = {SCRIPT: pipeline("\n\n".join(case.script for case in self._cases))}
        for case in self._cases:
            files.update(case.modules)
            files.update(case.data)
        return files

    def edit(self, project: Project) -> None:
        """Every case's edit; an edit of the script only within that case's own part of it."""
        for case in self._cases:
            assert isinstance(case.edits, tuple)  # made one by _renamed
            part = case.script
            for each in case.edits:
                if isinstance(each, Rewrite) or each.file != SCRIPT:
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

    def trial(self, directory: Path, command: Command) -> Trial:
        """Write the project into ``directory`` and make the oracle's runs under ``command``.

        Every case's parameters go on one command line, and every case's
        ``force_tasks`` into one ``--force-tasks``.
        """
        project = Project(directory, self.files())
        root = str(project.root)
        before = [a.format(root=root) for case in self._cases for a in case.args]
        after = [
            a.format(root=root)
            for case in self._cases
            for a in (case.args if case.args_after is None else case.args_after)
        ]
        forced = [task for case in self._cases for task in case.force_tasks]
        return trial(
            project,
            command,
            self.edit,
            args=before,
            args_after=after,
            cached_args=["--force-tasks", *forced] if forced else [],
        )


def _renamed(case: Case, suffix: str) -> Case:
    """``case`` with its names and task parameters suffixed, its data in a directory of its own."""
    names = _names(case.script)
    for path, text in case.modules.items():
        names |= _names(text)
        names.add(path.split("/")[0].removesuffix(".py"))
    pattern = re.compile(r"\b(" + "|".join(sorted(names, key=len, reverse=True)) + r")\b")
    home = suffix.strip("_")

    def rename(text: str) -> str:
        return pattern.sub(lambda m: m.group(1) + suffix, text)

    def argument(arg: str) -> str:
        if arg.startswith("--"):  # a parameter's flag: --min-count is min_count
            return "--" + rename(arg[2:].replace("-", "_")).replace("_", "-")
        return arg.replace("{root}", "{root}/" + home)

    def edit(each: Replace | Rewrite) -> Replace | Rewrite:
        if isinstance(each, Rewrite):
            return Rewrite(f"{home}/{each.file}", each.text)
        return Replace(rename(each.file), tuple((rename(a), rename(b)) for a, b in each.changes))

    edits = case.edits if isinstance(case.edits, tuple) else (case.edits,)
    return replace(
        case,
        script=rename(case.script),
        modules={rename(path): rename(text) for path, text in case.modules.items()},
        edits=tuple(edit(each) for each in edits),
        data={f"{home}/{path}": text for path, text in case.data.items()},
        args=tuple(argument(a) for a in case.args),
        args_after=None if case.args_after is None else tuple(map(argument, case.args_after)),
        force_tasks=tuple(rename(t) for t in case.force_tasks),
    )


def _names(source: str) -> set[str]:
    """The names a module's top-level statements bind, and its tasks' parameters.

    ``import a.b`` binds ``a``. A task's parameters are flags of the shared
    command line, so each case needs its own.
    """
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
            if any(ast.unparse(d).startswith("wf.job(") for d in node.decorator_list):
                names.update(a.arg for a in (*node.args.args, *node.args.kwonlyargs))
        elif isinstance(node, ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names

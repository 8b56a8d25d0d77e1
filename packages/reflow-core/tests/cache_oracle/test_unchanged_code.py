"""Edits that change nothing a task computes: the task must stay a cache hit.

A cache that misses too often is not wrong, but it throws away hours of
cluster time for a comment. Each case edits the project without changing
what ``final`` computes, and the call log must show that ``final`` did not
run again (see :meth:`harness.Trial.check_hit`). The cases share one project
per command (:mod:`batch`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable

import pytest

from .batch import Batch, Case
from .harness import Command, Replace, Trial, case_params
from .harness import replace as edit_of

pytestmark = pytest.mark.slow  # each command runs the workflow three times

VALUE = [0, 10, 20]

FINAL = textwrap.dedent("""

    @wf.job()
    def final(n: int = 3) -> list[int]:
        ran("final")
        return [scale(x) for x in range(n)]
    """)

SCALE = "def scale(x):\n    return x * 10\n"

UNUSED = "def unused(x):\n    return x + 1\n"

HELPERS = {"mypkg/__init__.py": "", "mypkg/helpers.py": SCALE + "\n\n" + UNUSED}

CLASS = "class Scaler:\n    def apply(self, x):\n        return x * 10\n"

FROM_HELPERS = "from mypkg.helpers import scale\n"

OTHER = textwrap.dedent("""

    @wf.job()
    def other(n: int = 3) -> int:
        ran("other")
        return n + 1
    """)


def hit_case(
    id: str,
    script: str,
    edits: Replace,
    *,
    modules: dict[str, str] | None = None,
    fixed_by: str | None = None,
) -> Case:
    """A case whose ``final`` gives ``VALUE`` and must not run again after the edit."""
    return Case(id, script, edits, modules or {}, VALUE, VALUE, fixed_by)


CASES = [
    hit_case(
        "comment-in-task",
        SCALE + FINAL,
        edit_of("pipeline.py", '    ran("final")\n', '    # count the call\n    ran("final")\n'),
    ),
    hit_case(
        "formatting-of-task",
        SCALE + FINAL,
        edit_of(
            "pipeline.py",
            "return [scale(x) for x in range(n)]",
            "return [\n        scale(x)\n        for x in range(n)\n    ]",
        ),
    ),
    hit_case(
        "comment-and-blank-lines-in-helper",
        SCALE + FINAL,
        edit_of("pipeline.py", "    return x * 10\n", "\n    # ten times\n    return (x * 10)\n"),
    ),
    hit_case(
        "comment-in-user-module",
        FROM_HELPERS + FINAL,
        edit_of("mypkg/helpers.py", "    return x * 10\n", "    return x * 10  # ten times\n"),
        modules=HELPERS,
    ),
    hit_case(
        "another-function-of-the-user-module",
        FROM_HELPERS + FINAL,
        edit_of("mypkg/helpers.py", "x + 1", "x + 2"),
        modules=HELPERS,
    ),
    hit_case(
        "another-task-of-the-script",
        SCALE + FINAL + OTHER,
        edit_of("pipeline.py", "n + 1", "n + 2"),
    ),
    hit_case(
        "new-function-in-the-script",
        SCALE + FINAL,
        edit_of("pipeline.py", SCALE, SCALE + "\n\ndef added(x):\n    return -x\n"),
    ),
    hit_case(
        "comment-in-method-of-a-class",
        CLASS + FINAL.replace("scale(x)", "Scaler().apply(x)"),
        edit_of(
            "pipeline.py",
            "        return x * 10\n",
            "        # ten times\n        return x * 10\n",
        ),
    ),
    hit_case(
        "comment-in-lru-cache-helper",
        "@functools.lru_cache(maxsize=None)\n" + SCALE + FINAL,
        edit_of("pipeline.py", "    return x * 10\n", "    # ten times\n    return x * 10\n"),
    ),
    hit_case(
        "comment-in-helper-through-dotted-path",
        "import mypkg.helpers\n" + FINAL.replace("scale(x)", "mypkg.helpers.scale(x)"),
        edit_of("mypkg/helpers.py", "    return x * 10\n", "    # ten times\n    return x * 10\n"),
        modules=HELPERS,
    ),
    hit_case(
        "functions-reordered-in-user-module",
        FROM_HELPERS + FINAL,
        edit_of("mypkg/helpers.py", HELPERS["mypkg/helpers.py"], UNUSED + "\n\n" + SCALE),
        modules=HELPERS,
    ),
    hit_case(
        "new-import-in-the-script",
        SCALE + FINAL,
        edit_of("pipeline.py", SCALE, "import json\n\n\n" + SCALE),
    ),
    hit_case(
        "docstring-of-task",
        SCALE + FINAL,
        edit_of(
            "pipeline.py", '    ran("final")\n', '    """Ten times each."""\n    ran("final")\n'
        ),
    ),
    hit_case(
        "docstring-of-helper",
        FROM_HELPERS + FINAL,
        edit_of(
            "mypkg/helpers.py", "    return x * 10\n", '    """Ten times."""\n    return x * 10\n'
        ),
        modules=HELPERS,
    ),
]


BATCH = Batch(CASES)


@pytest.mark.parametrize(("case", "command"), case_params(CASES))
def test_an_edit_that_changes_nothing_computed_stays_a_hit(
    trials: Callable[[Command], Trial], case: Case, command: Command
) -> None:
    trials(command).check_hit(BATCH.task(case), value=VALUE)

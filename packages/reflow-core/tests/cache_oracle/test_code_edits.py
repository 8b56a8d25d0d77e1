"""Edits of the code a task reaches: the cached rerun must give what the forced rerun gives.

Each case is written as a project of its own (the script and the user's own
modules), one edit and the task's value before and after it; the cases share
one project per command (:mod:`batch`). Most tasks compute ``[x * 10 for x in
range(3)]`` through the construct under test, and the edit makes the 10 a
1000, so a stale hit shows as ``[0, 10, 20]`` where ``[0, 1000, 2000]`` is due.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from .batch import Batch, Case
from .harness import Command, Replace, Trial, case_params
from .harness import replace as edit_of

pytestmark = pytest.mark.slow  # each command runs the workflow three times

BEFORE = [0, 10, 20]
AFTER = [0, 1000, 2000]


def final(expression: str) -> str:
    """The task every case checks: ``expression`` for each ``x`` in ``range(3)``."""
    return textwrap.dedent(f"""

        @wf.job()
        def final(n: int = 3) -> list[int]:
            ran("final")
            return [{expression} for x in range(n)]
        """)


def edit_case(
    id: str,
    script: str,
    edits: Replace | tuple[Replace, ...],
    *,
    modules: dict[str, str] | None = None,
    before: Any = BEFORE,
    after: Any = AFTER,
    fixed_by: str | None = None,
) -> Case:
    """A case whose value is ``BEFORE`` before the edit and ``AFTER`` after, unless told."""
    return Case(id, script, edits, modules or {}, before, after, fixed_by)


# An array task over `items`, each element computing {call}.
ARRAY = """

@wf.job()
def items(n: int = 3) -> list[int]:
    return list(range(n))


@wf.job(array=True)
def final(x: Annotated[int, Result(step="items")]) -> int:
    ran("final")
    return {call}
"""

PACKAGE = {"mypkg/__init__.py": ""}
SCALE = "def scale(x):\n    return x * 10\n"
TEN = ("x * 10", "x * 1000")

CASES = [
    # -- controls: what the fingerprint has always covered -------------------------
    edit_case(
        "task-body",
        final("x * 10"),
        edit_of("pipeline.py", *TEN),
    ),
    edit_case(
        "helper-in-script",
        SCALE + final("scale(x)"),
        edit_of("pipeline.py", *TEN),
    ),
    edit_case(
        "scalar-constant",
        "FACTOR = 10\n" + final("x * FACTOR"),
        edit_of("pipeline.py", "FACTOR = 10", "FACTOR = 1000"),
    ),
    edit_case(
        "version-bump-with-helper-edit",
        "import mypkg.helpers\n"
        + final("mypkg.helpers.scale(x)").replace("job()", 'job(version="1")'),
        # What docs/cache.md advises for an edit the fingerprint does not see.
        (edit_of("mypkg/helpers.py", *TEN), edit_of("pipeline.py", '"1"', '"2"')),
        modules={**PACKAGE, "mypkg/helpers.py": SCALE},
    ),
    edit_case(
        "module-alias",
        "from mypkg import helpers as h\n" + final("h.scale(x)"),
        edit_of("mypkg/helpers.py", *TEN),
        modules={**PACKAGE, "mypkg/helpers.py": SCALE},
    ),
    edit_case(
        "from-import-two-modules-deep",
        "from mypkg.stages import step\n" + final("step(x)"),
        edit_of("mypkg/maths.py", *TEN),
        modules={
            **PACKAGE,
            "mypkg/stages.py": "from mypkg.maths import scale\n\n\ndef step(x):\n"
            "    return scale(x)\n",
            "mypkg/maths.py": SCALE,
        },
    ),
    edit_case(
        "closure-value",
        "def make(factor):\n    return lambda x: x * factor\n\n\nscale = make(10)\n"
        + final("scale(x)"),
        edit_of("pipeline.py", "make(10)", "make(1000)"),
    ),
    edit_case(
        "tuple-constant",
        "FACTORS = (10, 1)\n" + final("x * FACTORS[0]"),
        edit_of("pipeline.py", "(10, 1)", "(1000, 1)"),
    ),
    edit_case(
        "module-attribute-two-modules-deep",
        "from mypkg.stages import step\n" + final("step(x)"),
        edit_of("mypkg/maths.py", *TEN),
        modules={
            **PACKAGE,
            "mypkg/stages.py": "from mypkg import maths\n\n\ndef step(x):\n"
            "    return maths.scale(x)\n",
            "mypkg/maths.py": SCALE,
        },
    ),
    edit_case(
        "module-constant-by-attribute",
        "from mypkg import settings\n" + final("x * settings.FACTOR"),
        edit_of("mypkg/settings.py", "FACTOR = 10", "FACTOR = 1000"),
        modules={**PACKAGE, "mypkg/settings.py": "FACTOR = 10\n"},
    ),
    edit_case(
        "helper-default-argument",
        "def scale(x, factor=10):\n    return x * factor\n" + final("scale(x)"),
        edit_of("pipeline.py", "factor=10", "factor=1000"),
    ),
    edit_case(
        "recursive-helpers",
        "def factor(k):\n    return 10 if k == 0 else other(k - 1)\n\n\n"
        "def other(k):\n    return factor(k)\n" + final("x * factor(x)"),
        edit_of("pipeline.py", "10 if", "1000 if"),
    ),
    edit_case(
        "lambda-helper",
        "scale = lambda x: x * 10  # noqa: E731\n" + final("scale(x)"),
        edit_of("pipeline.py", *TEN),
    ),
    edit_case(
        "array-task-body",
        ARRAY.format(call="x * 10"),
        edit_of("pipeline.py", *TEN),
    ),
    edit_case(
        "functools-wraps-decorator",
        "def logged(fn):\n    @functools.wraps(fn)\n    def wrapper(*args):\n"
        "        return fn(*args)\n\n    return wrapper\n\n\n@logged\n"
        + SCALE
        + final("scale(x)"),
        edit_of("pipeline.py", *TEN),
    ),
    edit_case(
        "constant-imported-from-user-module",
        "from mypkg.settings import FACTOR\n" + final("x * FACTOR"),
        edit_of("mypkg/settings.py", "FACTOR = 10", "FACTOR = 1000"),
        modules={**PACKAGE, "mypkg/settings.py": "FACTOR = 10\n"},
    ),
    edit_case(
        "constant-computed-at-import",
        "def compute():\n    return 10\n\n\nFACTOR = compute()\n" + final("x * FACTOR"),
        edit_of("pipeline.py", "return 10", "return 1000"),
    ),
    edit_case(
        "frozenset-constant",
        "ALLOWED = frozenset({1, 2})\n" + final("x if x in ALLOWED else -1"),
        edit_of("pipeline.py", "{1, 2}", "{0, 1}"),
        before=[-1, 1, 2],
        after=[0, 1, -1],
    ),
    edit_case(
        "nested-function-in-task",
        final("scale(x)").replace(
            '    ran("final")\n',
            '    ran("final")\n\n    def scale(x):\n        return x * 10\n\n',
        ),
        edit_of("pipeline.py", *TEN),
    ),
    edit_case(
        "task-parameter-default",
        final("x * 10"),
        edit_of("pipeline.py", "n: int = 3", "n: int = 4"),
        after=[0, 10, 20, 30],
    ),
    # -- issue 13: what the fingerprint does not reach today --------------------------
    edit_case(
        "dotted-module-path",
        "import mypkg.helpers\n" + final("mypkg.helpers.scale(x)"),
        edit_of("mypkg/helpers.py", *TEN),
        modules={**PACKAGE, "mypkg/helpers.py": SCALE},
    ),
    edit_case(
        "lru-cache",
        "@functools.lru_cache(maxsize=None)\n" + SCALE + final("scale(x)"),
        edit_of("pipeline.py", *TEN),
    ),
    edit_case(
        "functools-cache",
        "@functools.cache\n" + SCALE + final("scale(x)"),
        edit_of("pipeline.py", *TEN),
    ),
    edit_case(
        "class-instance-decorator",
        "class traced:\n    def __init__(self, fn):\n        self.fn = fn\n\n"
        "    def __call__(self, *args):\n        return self.fn(*args)\n\n\n"
        "@traced\n" + SCALE + final("scale(x)"),
        edit_of("pipeline.py", *TEN),
    ),
    edit_case(
        "partial-function-edited",
        "def mul(x, factor):\n    return x * factor\n\n\n"
        "scale = functools.partial(mul, factor=10)\n" + final("scale(x)"),
        edit_of("pipeline.py", "return x * factor", "return x * factor * 100"),
    ),
    edit_case(
        "partial-arguments-edited",
        "def mul(x, factor):\n    return x * factor\n\n\n"
        "scale = functools.partial(mul, factor=10)\n" + final("scale(x)"),
        edit_of("pipeline.py", "factor=10", "factor=1000"),
    ),
    edit_case(
        "builtin-alias",
        "AGG = max\n" + final("AGG([x, 10, 1])"),
        edit_of("pipeline.py", "AGG = max", "AGG = sum"),
        before=[10, 10, 10],
        after=[11, 12, 13],
    ),
    edit_case(
        "stdlib-alias",
        "COMBINE = operator.add\n" + final("COMBINE(x, 10)"),
        edit_of("pipeline.py", "operator.add", "operator.mul"),
        before=[10, 11, 12],
        after=[0, 10, 20],
    ),
    edit_case(
        "dict-constant",
        'TABLE = {"k": 10}\n' + final('x * TABLE["k"]'),
        edit_of("pipeline.py", '{"k": 10}', '{"k": 1000}'),
    ),
    edit_case(
        "list-constant",
        "FACTORS = [10, 1]\n" + final("x * FACTORS[0]"),
        edit_of("pipeline.py", "[10, 1]", "[1000, 1]"),
    ),
    edit_case(
        "set-constant",
        "ALLOWED = {1, 2}\n" + final("x if x in ALLOWED else -1"),
        edit_of("pipeline.py", "{1, 2}", "{0, 1}"),
        before=[-1, 1, 2],
        after=[0, 1, -1],
    ),
    edit_case(
        "nested-constant",
        'TABLE = {"scale": [(10, "x")]}\n' + final('x * TABLE["scale"][0][0]'),
        edit_of("pipeline.py", '[(10, "x")]', '[(1000, "x")]'),
    ),
    edit_case(
        "class-method",
        "class Scaler:\n    def apply(self, x):\n        return x * 10\n\n\n"
        + final("Scaler().apply(x)"),
        edit_of("pipeline.py", *TEN),
    ),
    edit_case(
        "base-class-method",
        "class Base:\n    def factor(self):\n        return 10\n\n\n"
        "class Scaler(Base):\n    def apply(self, x):\n        return x * self.factor()\n\n\n"
        + final("Scaler().apply(x)"),
        edit_of("pipeline.py", "return 10", "return 1000"),
    ),
    edit_case(
        "class-attribute",
        "class Scaler:\n    FACTOR = 10\n\n    def apply(self, x):\n"
        "        return x * self.FACTOR\n\n\n" + final("Scaler().apply(x)"),
        edit_of("pipeline.py", "FACTOR = 10", "FACTOR = 1000"),
    ),
    edit_case(
        "class-in-user-module",
        "from mypkg.scaling import Scaler\n" + final("Scaler().apply(x)"),
        edit_of("mypkg/scaling.py", *TEN),
        modules={
            **PACKAGE,
            "mypkg/scaling.py": "class Scaler:\n    def apply(self, x):\n        return x * 10\n",
        },
    ),
    edit_case(
        "staticmethod",
        "class Maths:\n    @staticmethod\n    def scale(x):\n        return x * 10\n\n\n"
        + final("Maths.scale(x)"),
        edit_of("pipeline.py", *TEN),
    ),
    edit_case(
        "enum-member-value",
        "class Level(enum.Enum):\n    LOW = 10\n\n\n" + final("x * Level.LOW.value"),
        edit_of("pipeline.py", "LOW = 10", "LOW = 1000"),
    ),
    edit_case(
        "dataclass-default",
        "@dataclasses.dataclass\nclass Settings:\n    factor: int = 10\n\n\n"
        + final("x * Settings().factor"),
        edit_of("pipeline.py", "factor: int = 10", "factor: int = 1000"),
    ),
    edit_case(
        "function-in-dict",
        SCALE + '\n\nOPS = {"scale": scale}\n' + final('OPS["scale"](x)'),
        edit_of("pipeline.py", *TEN),
    ),
    edit_case(
        "array-task-through-dotted-module-path",
        "import mypkg.helpers\n" + ARRAY.format(call="mypkg.helpers.scale(x)"),
        edit_of("mypkg/helpers.py", *TEN),
        modules={**PACKAGE, "mypkg/helpers.py": SCALE},
    ),
    edit_case(
        "callable-instance",
        "class Scaler:\n    def __init__(self, factor):\n        self.factor = factor\n\n"
        "    def __call__(self, x):\n        return x * self.factor\n\n\n"
        "scale = Scaler(10)\n" + final("scale(x)"),
        edit_of("pipeline.py", "Scaler(10)", "Scaler(1000)"),
    ),
    edit_case(
        "stdlib-function-imported-under-an-alias",
        "from math import floor as rounder\n" + final("rounder(x / 2)"),
        edit_of("pipeline.py", "from math import floor", "from math import ceil"),
        before=[0, 0, 1],
        after=[0, 1, 1],
    ),
    edit_case(
        "constructor-default",
        "class Scaler:\n    def __init__(self, factor=10):\n        self.factor = factor\n\n"
        "    def apply(self, x):\n        return x * self.factor\n\n\n"
        + final("Scaler().apply(x)"),
        edit_of("pipeline.py", "factor=10", "factor=1000"),
    ),
    edit_case(
        "property",
        "class Scaler:\n    @property\n    def factor(self):\n        return 10\n\n"
        "    def apply(self, x):\n        return x * self.factor\n\n\n"
        + final("Scaler().apply(x)"),
        edit_of("pipeline.py", "return 10", "return 1000"),
    ),
    edit_case(
        "dict-constant-of-user-module",
        "from mypkg import settings\n" + final('x * settings.TABLE["k"]'),
        edit_of("mypkg/settings.py", '{"k": 10}', '{"k": 1000}'),
        modules={**PACKAGE, "mypkg/settings.py": 'TABLE = {"k": 10}\n'},
    ),
]


BATCH = Batch(CASES)


@pytest.mark.parametrize(("case", "command"), case_params(CASES))
def test_cached_rerun_after_a_code_edit_equals_the_forced_rerun(
    trials: Callable[[Command], Trial], case: Case, command: Command
) -> None:
    trials(command).check_edit(BATCH.task(case), before=case.before, after=case.after)

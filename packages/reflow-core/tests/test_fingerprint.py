"""The code fingerprint: every edit to what a task reaches changes it, cosmetic edits do not.

Each case writes the user's files into a fresh folder (a package ``PKG`` gets
a new name per version, as a new process would import it afresh), imports
them, and fingerprints the task function: as written, with a real edit, and
with a cosmetic edit (comments, docstrings, blank lines, layout).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import itertools
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from reflow.cache.fingerprint import code_fingerprint, fingerprint_code
from reflow.testing.scripts import load_script

_COUNT = itertools.count()
PKG = "fp_userpkg"  # the user's package, written anew for each version


def _forget_package() -> None:
    for name in [m for m in sys.modules if m == PKG or m.startswith(PKG + ".")]:
        del sys.modules[name]


@pytest.fixture(autouse=True)
def _fresh_package() -> Iterator[None]:
    yield
    _forget_package()


def load_version(tmp_path: Path, files: Mapping[str, str]) -> ModuleType:
    """Write ``files`` (``main.py`` and any others) to a fresh folder and import main.

    The package is imported afresh each time, as by a new process.
    """
    n = next(_COUNT)
    root = tmp_path / f"v{n}"
    root.mkdir()
    for name, text in files.items():
        if name == "main.py":
            continue
        path = root / name.replace("PKG", PKG)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    _forget_package()
    importlib.invalidate_caches()
    sys.path.insert(0, str(root))
    try:
        return load_script(root, f"main{n}", files["main.py"].replace("PKG", PKG))
    finally:
        sys.path.remove(str(root))


@dataclass(frozen=True)
class Case:
    """User files, one real edit and one cosmetic edit, each as (file, old, new)."""

    files: dict[str, str]
    edit: tuple[str, str, str]
    cosmetic: tuple[str, str, str]

    def variant(self, change: tuple[str, str, str]) -> dict[str, str]:
        name, old, new = change
        text = textwrap.dedent(self.files[name])
        assert old in text, (name, old)
        return {**self.files, name: text.replace(old, new)}


HELPER = "def scale(x):\n    return x * 2\n"
HELPER_COSMETIC = (
    '# scaling\n\ndef scale(x):\n    """Scale x."""\n\n    return (x *  # doubled\n        2)\n'
)

CASES = {
    "helper through a dotted module path": Case(
        {
            "PKG/__init__.py": "",
            "PKG/helpers.py": HELPER,
            "main.py": "import PKG.helpers\n\ndef task(x):\n    return PKG.helpers.scale(x)\n",
        },
        ("PKG/helpers.py", "x * 2", "x * 3"),
        ("PKG/helpers.py", HELPER, HELPER_COSMETIC),
    ),
    "helper four attributes deep": Case(
        {
            "PKG/__init__.py": "",
            "PKG/a/__init__.py": "",
            "PKG/a/b/__init__.py": "",
            "PKG/a/b/c.py": "def d():\n    return 1\n",
            "main.py": "import PKG.a.b.c\n\ndef task():\n    return PKG.a.b.c.d()\n",
        },
        ("PKG/a/b/c.py", "return 1", "return 2"),
        ("PKG/a/b/c.py", "def d():", "# d\ndef d():\n    '''One.'''\n"),
    ),
    "helper under lru_cache": Case(
        {
            "main.py": """
                import functools

                @functools.lru_cache(maxsize=None)
                def helper(x):
                    return x + 1

                def task(x):
                    return helper(x)
                """
        },
        ("main.py", "x + 1", "x + 2"),
        ("main.py", "return x + 1", "return (x\n            + 1)  # one more"),
    ),
    "helper under functools.cache in another module": Case(
        {
            "PKG/__init__.py": "",
            "PKG/tools.py": "import functools\n\n@functools.cache\ndef f(x):\n    return x + 1\n",
            "main.py": "from PKG import tools\n\ndef task(x):\n    return tools.f(x)\n",
        },
        ("PKG/tools.py", "x + 1", "x - 1"),
        ("PKG/tools.py", "def f(x):", "def f(x):  # cached"),
    ),
    "helper under a class-based decorator": Case(
        {
            "main.py": """
                class traced:
                    def __init__(self, func):
                        self.func = func

                    def __call__(self, *args):
                        return self.func(*args)

                @traced
                def helper(x):
                    return x + 1

                def task(x):
                    return helper(x)
                """
        },
        ("main.py", "x + 1", "x + 2"),
        ("main.py", "@traced\n", "\n@traced  # logs calls\n"),
    ),
    "helper under a functools.wraps decorator with an argument": Case(
        {
            "main.py": """
                import functools

                def times(k):
                    def deco(f):
                        @functools.wraps(f)
                        def wrapper(*args):
                            return f(*args) * k
                        return wrapper
                    return deco

                @times(2)
                def helper(x):
                    return x + 1

                def task(x):
                    return helper(x)
                """
        },
        ("main.py", "@times(2)", "@times(3)"),
        ("main.py", "@times(2)", "@times(\n    2,\n)"),
    ),
    "module-level partial of a user function": Case(
        {
            "main.py": """
                import functools

                def scale(k, x):
                    return k * x

                DOUBLE = functools.partial(scale, 2, x=1)

                def task():
                    return DOUBLE()
                """
        },
        ("main.py", "k * x", "k + x"),
        ("main.py", "partial(scale, 2, x=1)", "partial(scale, 2, x=1)  # two"),
    ),
    "arguments of a module-level partial": Case(
        {
            "main.py": """
                import functools

                def scale(k, x):
                    return k * x

                DOUBLE = functools.partial(scale, 2, x=1)

                def task():
                    return DOUBLE()
                """
        },
        ("main.py", "x=1)", "x=5)"),
        ("main.py", "def scale(k, x):", "def scale(k, x):\n    '''k times x.'''"),
    ),
    "alias to a builtin": Case(
        {"main.py": "AGG = max\n\ndef task(xs):\n    return AGG(xs)\n"},
        ("main.py", "AGG = max", "AGG = sum"),
        ("main.py", "AGG = max", "AGG = max  # or sum"),
    ),
    "alias to a standard library function": Case(
        {"main.py": "from statistics import mean as AVG\n\ndef task(xs):\n    return AVG(xs)\n"},
        ("main.py", "mean as AVG", "median as AVG"),
        ("main.py", "def task", "\n\ndef task"),
    ),
    "nested container constant": Case(
        {
            "main.py": """
                TABLE = {"k": [1, (2, 3), {4, 5}, frozenset({6, 7})], "n": None}

                def task(key):
                    return TABLE[key]
                """
        },
        ("main.py", "{4, 5}", "{4, 50}"),
        ("main.py", "{4, 5}, frozenset({6, 7})", "{5, 4},\n    frozenset({7, 6})"),
    ),
    "constant read through a module": Case(
        {
            "PKG/__init__.py": "",
            "PKG/settings.py": "LIMITS = [1, 2, 3]\n",
            "main.py": "import PKG.settings\n\ndef task():\n    return PKG.settings.LIMITS\n",
        },
        ("PKG/settings.py", "[1, 2, 3]", "[1, 2, 4]"),
        ("PKG/settings.py", "[1, 2, 3]", "[\n    1,\n    2,\n    3,\n]  # limits"),
    ),
    "default value from a constant": Case(
        {
            "main.py": """
                TABLE = {"k": [1, 2]}

                def task(x, table=TABLE):
                    return table["k"][0] + x
                """
        },
        ("main.py", "[1, 2]", "[9, 2]"),
        ("main.py", "def task(x, table=TABLE):", "def task(x,\n         table=TABLE):"),
    ),
    "closure value": Case(
        {
            "main.py": """
                def make():
                    table = {"k": [1, 2]}

                    def task():
                        return table["k"]

                    return task

                task = make()
                """
        },
        ("main.py", "[1, 2]", "[1, 3]"),
        ("main.py", 'return table["k"]', 'return table["k"]  # the list'),
    ),
    "method of a class used by the task": Case(
        {
            "main.py": """
                class Scaler:
                    def apply(self, x):
                        return x * 2

                def task(x):
                    return Scaler().apply(x)
                """
        },
        ("main.py", "x * 2", "x * 5"),
        ("main.py", "def apply(self, x):", "def apply(self, x):\n        '''Scale.'''\n"),
    ),
    "class attribute": Case(
        {
            "main.py": """
                class Scaler:
                    FACTOR = (2, 3)

                    def apply(self, x):
                        return x * self.FACTOR[0]

                def task(x):
                    return Scaler().apply(x)
                """
        },
        ("main.py", "(2, 3)", "(4, 3)"),
        ("main.py", "class Scaler:", 'class Scaler:\n    """Scales."""\n'),
    ),
    "staticmethod, classmethod and property": Case(
        {
            "main.py": """
                class Scaler:
                    @staticmethod
                    def base():
                        return 2

                    @classmethod
                    def make(cls):
                        return cls()

                    @property
                    def factor(self):
                        return self.base() + 1

                def task(x):
                    return Scaler.make().factor * x
                """
        },
        ("main.py", "self.base() + 1", "self.base() + 10"),
        ("main.py", "return 2", "return (\n            2\n        )"),
    ),
    "staticmethod body": Case(
        {
            "main.py": """
                class Scaler:
                    @staticmethod
                    def base():
                        return 2

                def task(x):
                    return Scaler.base() * x
                """
        },
        ("main.py", "return 2", "return 3"),
        ("main.py", "def base():", "def base():  # fixed"),
    ),
    "method inherited within the user's code": Case(
        {
            "PKG/__init__.py": "",
            "PKG/base.py": "class Base:\n    def apply(self, x):\n        return x + 1\n",
            "main.py": """
                from PKG.base import Base

                class Scaler(Base):
                    pass

                def task(x):
                    return Scaler().apply(x)
                """,
        },
        ("PKG/base.py", "x + 1", "x + 2"),
        ("PKG/base.py", "class Base:", "class Base:\n    '''The base.'''"),
    ),
    "dataclass field default": Case(
        {
            "main.py": """
                from dataclasses import dataclass, field

                @dataclass
                class Config:
                    k: int = 2
                    names: list = field(default_factory=list)

                def task():
                    return Config().k
                """
        },
        ("main.py", "k: int = 2", "k: int = 3"),
        ("main.py", "class Config:", "class Config:\n    '''Settings.'''\n"),
    ),
    "dataclass field default factory": Case(
        {
            "main.py": """
                from dataclasses import dataclass, field

                @dataclass
                class Config:
                    names: list = field(default_factory=list)

                def task():
                    return Config().names
                """
        },
        ("main.py", "default_factory=list", "default_factory=dict"),
        ("main.py", "class Config:", "class Config:  # settings"),
    ),
    "enum member value": Case(
        {
            "main.py": """
                import enum

                class Mode(enum.Enum):
                    FAST = 1
                    SLOW = 2

                def task():
                    return Mode.FAST.value
                """
        },
        ("main.py", "FAST = 1", "FAST = 3"),
        ("main.py", "class Mode(enum.Enum):", "class Mode(enum.Enum):  # speeds"),
    ),
    "NamedTuple field default": Case(
        {
            "main.py": """
                from typing import NamedTuple

                class Point(NamedTuple):
                    x: int
                    y: int = 2

                def task():
                    return Point(1).y
                """
        },
        ("main.py", "y: int = 2", "y: int = 5"),
        ("main.py", "class Point(NamedTuple):", "class Point(NamedTuple):\n    # a point\n"),
    ),
    "attribute of a SimpleNamespace settings object": Case(
        {
            "main.py": """
                from types import SimpleNamespace

                SETTINGS = SimpleNamespace(scale=2, names=["a"])

                def task(x):
                    return x * SETTINGS.scale
                """
        },
        ("main.py", "scale=2", "scale=3"),
        ("main.py", "SETTINGS = ", "# settings\nSETTINGS = "),
    ),
    "instance at module level": Case(
        {
            "main.py": """
                class Model:
                    def __init__(self, k):
                        self.k = k

                    def predict(self, x):
                        return x * self.k

                MODEL = Model(3)

                def task(x):
                    return MODEL.predict(x)
                """
        },
        ("main.py", "Model(3)", "Model(4)"),
        ("main.py", "MODEL = Model(3)", "MODEL = Model(\n    3\n)"),
    ),
    "class of a parameter's annotation": Case(
        {
            "main.py": """
                class Config:
                    def scale(self):
                        return 2

                def task(cfg: Config):
                    return cfg.scale()
                """
        },
        ("main.py", "return 2", "return 4"),
        ("main.py", "def task(cfg: Config):", "def task(\n    cfg: Config,\n):"),
    ),
    "mutually recursive helpers": Case(
        {
            "main.py": """
                def even(n):
                    return True if n == 0 else odd(n - 1)

                def odd(n):
                    return False if n == 0 else even(n - 1)

                def task(n):
                    return even(n)
                """
        },
        ("main.py", "return False if n == 0", "return True if n == 0"),
        ("main.py", "def odd(n):", "def odd(n):\n    '''Odd.'''\n"),
    ),
    "task body": Case(
        {"main.py": "def task(x):\n    return x + 1\n"},
        ("main.py", "x + 1", "x + 1.0"),
        ("main.py", "def task(x):", '# the task\ndef task(x):\n    """Add one."""\n'),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_an_edit_changes_the_fingerprint_and_a_cosmetic_edit_does_not(
    tmp_path: Path, name: str
) -> None:
    case = CASES[name]
    base = fingerprint_code(load_version(tmp_path, case.files).task)
    edited = code_fingerprint(load_version(tmp_path, case.variant(case.edit)).task)
    cosmetic = fingerprint_code(load_version(tmp_path, case.variant(case.cosmetic)).task)
    assert base.components["source"] == "ast"
    assert edited != base.digest
    assert cosmetic.digest == base.digest


def test_an_unrelated_edit_in_the_same_module_keeps_the_fingerprint(tmp_path: Path) -> None:
    files = {
        "main.py": """
            BIG = list(range(100_000))
            OTHER = {"a": 1}

            def unrelated():
                return OTHER

            def task(x):
                return x + 1
            """
    }
    edited = {"main.py": files["main.py"].replace('"a": 1', '"a": 2').replace("100_000", "9")}
    assert code_fingerprint(load_version(tmp_path, files).task) == code_fingerprint(
        load_version(tmp_path, edited).task
    )


def test_explain_names_what_changed(tmp_path: Path) -> None:
    case = CASES["helper through a dotted module path"]
    first = fingerprint_code(load_version(tmp_path, case.files).task).components
    second = fingerprint_code(load_version(tmp_path, case.variant(case.edit)).task).components
    from reflow.cache.fingerprint import describe_code_changes

    assert describe_code_changes(first, second) == [f"helper {PKG}.helpers.scale changed"]
    alias = {"main.py": "AGG = max\n\ndef task(xs):\n    return AGG(xs)\n"}
    old = fingerprint_code(load_version(tmp_path, alias).task).components
    alias["main.py"] = alias["main.py"].replace("max", "sum")
    new = fingerprint_code(load_version(tmp_path, alias).task).components
    assert describe_code_changes(old, new) == [
        "global AGG changed from builtins.max to builtins.sum"
    ]


def test_recursion_and_cycles_terminate(tmp_path: Path) -> None:
    module = load_version(
        tmp_path,
        {
            "main.py": """
                LOOP = []
                LOOP.append(LOOP)

                class Node:
                    def clone(self):
                        return Node()

                def fact(n):
                    return 1 if n <= 1 else n * fact(n - 1)

                def task(n):
                    def inner(k):
                        return inner(k - 1) if k else Node().clone()
                    return fact(n), inner(n), LOOP
                """
        },
    )
    parts = fingerprint_code(module.task).components
    assert {"helper fact", "class Node", "method Node.clone", "constant LOOP"} <= set(parts)


def test_rebinding_a_global_in_the_same_process_is_seen(tmp_path: Path) -> None:
    module = load_version(
        tmp_path, {"main.py": "SCALE = 2\n\ndef task(x):\n    return x * SCALE\n"}
    )
    before = code_fingerprint(module.task)
    vars(module)["SCALE"] = 3  # a notebook cell run again with another value
    assert code_fingerprint(module.task) != before
    vars(module)["SCALE"] = 2
    assert code_fingerprint(module.task) == before


def test_the_fingerprint_is_the_same_in_another_process(tmp_path: Path) -> None:
    source = """
        NAMES = {"alpha", "beta", "gamma", "delta"}

        def task(x):
            return x in NAMES or x in {"eta", "theta", "iota"}
        """
    path = tmp_path / "seeded.py"
    path.write_text(textwrap.dedent(source))
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import seeded;"
        "from reflow.cache.fingerprint import code_fingerprint;"
        "print(code_fingerprint(seeded.task))"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code, str(tmp_path)],
            check=True,
            capture_output=True,
            text=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert len(digests) == 1


def test_code_without_source_falls_back_to_bytecode_and_says_so() -> None:
    namespace: dict[str, Any] = {}
    exec("def made(x):\n    return x * 3\n", namespace)
    parts = fingerprint_code(namespace["made"]).components
    assert parts["source"] == "bytecode: no source for made"


def test_a_file_edited_after_import_falls_back_to_bytecode(tmp_path: Path) -> None:
    module = load_script(tmp_path, "edited_later", "def task(x):\n    return x + 1\n")
    (tmp_path / "edited_later.py").write_text("def task(x):\n    return x + 100\n")
    parts = fingerprint_code(module.task).components
    assert parts["source"].startswith("bytecode: ")
    assert "edited_later.py was edited after task was loaded" in parts["source"]
    fresh = load_script(tmp_path, "edited_later_2", "def task(x):\n    return x + 100\n")
    assert code_fingerprint(fresh.task) != code_fingerprint(module.task)


def test_two_lambdas_on_one_line_are_told_apart_from_source(tmp_path: Path) -> None:
    module = load_script(
        tmp_path, "lambdas", "OPS = {'inc': lambda x: x + 1, 'dbl': lambda x: x * 2}\n"
    )
    inc, dbl = (fingerprint_code(module.OPS[k]) for k in ("inc", "dbl"))
    if sys.version_info >= (3, 11):  # columns of instructions tell them apart
        assert inc.components["source"] == dbl.components["source"] == "ast"
    assert inc.digest != dbl.digest


def test_installed_packages_are_named_and_editable_sources_are_followed(tmp_path: Path) -> None:
    from reflow.cache.fingerprint.userfiles import is_user_file

    # An editable install imports from the user's source tree: that is the user's code.
    assert is_user_file(str(tmp_path / "src" / "mypkg" / "helpers.py"))
    # Any site-packages folder, this environment's or another's, is installed code.
    assert not is_user_file("/opt/other-env/lib/python3.11/site-packages/mypkg/helpers.py")
    assert not is_user_file(functools.__file__)


def test_library_functions_and_values_are_named_as_the_code_names_them(tmp_path: Path) -> None:
    main = """
        import functools
        import os.path
        import pathlib

        JOIN = os.path.join
        REDUCE = functools.reduce

        def task():
            return JOIN, REDUCE
        """
    parts = fingerprint_code(load_version(tmp_path, {"main.py": main}).task).components
    # os.path is a frozen module of the interpreter, not the user's code; reduce is
    # implemented in _functools but reached through functools.
    assert parts["global JOIN"] == "posixpath.join"
    assert parts["global REDUCE"] == "functools.reduce"


def test_a_helper_in_site_packages_is_named_not_followed(tmp_path: Path) -> None:
    # What docs/cache.md tells users to cover with version=: an installed package's code.
    main = "import PKG.helpers\n\ndef task(x):\n    return PKG.helpers.scale(x)\n"
    site = tmp_path / "site-packages"
    (site / PKG).mkdir(parents=True)
    (site / PKG / "__init__.py").write_text("")
    digests = set()
    for n, body in enumerate(("x * 2", "x * 3")):
        (site / PKG / "helpers.py").write_text(f"def scale(x):\n    return {body}\n")
        _forget_package()
        importlib.invalidate_caches()
        sys.path.insert(0, str(site))
        try:
            module = load_script(tmp_path, f"site_main_{n}", main.replace("PKG", PKG))
        finally:
            sys.path.remove(str(site))
        parts = fingerprint_code(module.task).components
        assert parts[f"global {PKG}"] == PKG  # the package by name, its code unseen
        digests.add(code_fingerprint(module.task))
    assert len(digests) == 1


def test_the_script_as_main_and_as_a_job_module_has_one_fingerprint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `python pipeline.py run` imports the script as __main__, a job under another name.
    source = """
        from dataclasses import dataclass, field

        class Unit:
            factor = 2

        @dataclass
        class Config:
            unit: Unit = field(default_factory=Unit)
            names: "list[Unit]" = field(default_factory=list)

        TABLE = {"k": (1, 2)}

        def helper(x):
            return x * Unit.factor

        def task(x):
            return helper(x) + Config().unit.factor + TABLE["k"][0]

        task.__annotations__ = {"x": list[Unit]}
        """
    path = tmp_path / "pipeline.py"
    path.write_text(textwrap.dedent(source))
    digests = set()
    for name in ("pipeline_as_main", "__reflow_job__"):
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, name, module)  # dataclasses look their module up
        spec.loader.exec_module(module)
        digests.add(code_fingerprint(module.task))
    assert len(digests) == 1


def test_a_helper_defined_after_the_first_fingerprint_is_seen(tmp_path: Path) -> None:
    # A notebook: the task cell runs first, the helper's cell later, then again edited.
    module = load_version(tmp_path, {"main.py": "def task(x):\n    return helper(x)\n"})
    without = code_fingerprint(module.task)
    first = load_version(tmp_path, {"main.py": "def helper(x):\n    return x + 1\n"}).helper
    second = load_version(tmp_path, {"main.py": "def helper(x):\n    return x + 2\n"}).helper
    vars(module)["helper"] = first
    with_first = code_fingerprint(module.task)
    vars(module)["helper"] = second
    assert len({without, with_first, code_fingerprint(module.task)}) == 3


def test_a_value_nested_too_deeply_is_refused_in_one_line(tmp_path: Path) -> None:
    from reflow.errors import ReflowError

    module = load_version(tmp_path, {"main.py": "DEEP = []\n\ndef task():\n    return DEEP\n"})
    for _ in range(300):
        vars(module)["DEEP"] = [module.DEEP]
    with pytest.raises(ReflowError, match=r"nested more than 100 levels deep \(builtins.list\)"):
        code_fingerprint(module.task)


# The fingerprint of GOLDEN, as every supported Python computes it. If this
# changes, every user's cache is lost on upgrade: change it only on purpose.
GOLDEN = {
    "PKG/__init__.py": "",
    "PKG/helpers.py": "def scale(x):\n    return x * 2\n",
    "main.py": """
        import datetime
        import enum
        import functools
        import os.path
        import pathlib
        import re
        from dataclasses import dataclass, field
        from typing import NamedTuple

        import PKG.helpers

        AGG = max
        JOIN = os.path.join
        REDUCE = functools.reduce
        WHERE = (pathlib.Path("/data"), re.compile("a+"), datetime.date(2024, 1, 2))
        TABLE = {"k": [1, (2, 3), {4, 5}], "f": frozenset({6})}


        class Base:
            FACTOR = 2

            def base(self, x):
                return x * self.FACTOR


        @dataclass
        class Scaler(Base):
            offset: int = 1
            names: list = field(default_factory=list)

            @staticmethod
            def one():
                return 1

            @property
            def shift(self):
                return self.offset + self.one()

            def apply(self, x):
                return self.base(x) + self.shift


        @functools.lru_cache(maxsize=None)
        def cached(x):
            return x + 1


        DOUBLE = functools.partial(cached, 2)


        def fact(n):
            return 1 if n <= 1 else n * fact(n - 1)


        class Mode(enum.IntFlag):
            A = 1
            B = 2


        class Point(NamedTuple):
            x: int
            y: int = 2

            def norm(self):
                return self.x + self.y


        def task(x: int, k: int = 3) -> int:
            \"\"\"Everything at once.\"\"\"
            total = PKG.helpers.scale(x) + AGG([k, TABLE["k"][0]])
            total += Scaler().apply(x) + DOUBLE() + fact(3) + len([lambda y: y])
            total += len(JOIN("a", "b")) + REDUCE(AGG, [1, 2]) + len(WHERE)
            return total + (Mode.A | Mode.B) + Point(1).norm()
        """,
}
GOLDEN_DIGEST = "6321d8ef4315029c66c91aac1a9fb59c96fbeaa4c5d7c6e071cc5163433920be"


def test_unchanged_code_keeps_its_fingerprint_on_every_python(tmp_path: Path) -> None:
    fingerprint = fingerprint_code(load_version(tmp_path, GOLDEN).task)
    assert fingerprint.components["source"] == "ast"
    assert fingerprint.digest == GOLDEN_DIGEST


# Syntax whose tree some Python versions write differently (f-strings under 3.12).
GOLDEN_SYNTAX = {
    "main.py": r'''
        import asyncio

        def task(x, *args, y=1, **kw):
            """Doc."""
            a = f"{x!r:>10} and {y:{x}} {x=}"
            b = [i * 2 for i in range(x) if i % 2]
            c = {k: v for k, v in kw.items()}
            d = (n := len(args))
            e = x if x else y
            match x:
                case [1, *rest]:
                    e = rest
                case {"k": v}:
                    e = v
                case int() | float() if x > 0:
                    e = 1
                case _:
                    pass
            try:
                pass
            except (ValueError, TypeError) as err:
                raise RuntimeError("x") from err
            finally:
                pass
            with open("f") as fh, open("g") as gh:
                pass
            s = x[1:2, ::3]
            g = lambda q=1, *r, **t: q
            async def inner():
                async with asyncio.Lock():
                    await asyncio.sleep(0)
                async for _ in aiter():
                    pass
            global Z
            del a
            assert x, "msg"
            z = b"\x00" + rb"\d" + 1j + 0x10 + 1_000 + 1e3 + ...
            return z + (not x) + (-x) + (x ** 2) + (x @ y)
        '''
}
GOLDEN_SYNTAX_DIGEST = "317b9c92cc140287eddebf247525870389be033f6f3ebc9783394503dec33a3a"


def test_every_kind_of_syntax_keeps_its_fingerprint_on_every_python(tmp_path: Path) -> None:
    fingerprint = fingerprint_code(load_version(tmp_path, GOLDEN_SYNTAX).task)
    assert fingerprint.components["source"] == "ast"
    assert fingerprint.digest == GOLDEN_SYNTAX_DIGEST


def test_explain_words_a_move_to_bytecode_and_a_python_upgrade() -> None:
    from reflow.cache.fingerprint import describe_code_changes

    source = {"function task": "a", "source": "ast", "python": "3.11"}
    edited = "bytecode: /w/pipeline.py was edited after task was loaded"
    moved = {"function task": "b", "source": edited, "python": "3.11"}
    assert describe_code_changes(source, moved) == [
        "fingerprinted from bytecode now (/w/pipeline.py was edited after task was loaded), "
        "not from source",
        "function task changed",
    ]
    upgraded = {**moved, "function task": "c", "python": "3.12"}
    assert describe_code_changes(moved, upgraded) == [
        "Python changed from 3.11 to 3.12, and code fingerprinted from bytecode changes with it",
        "function task changed",
    ]
    assert describe_code_changes(moved, source) == [
        "fingerprinted from source now, no longer from bytecode",
        "function task changed",
    ]


def test_a_new_function_at_a_freed_address_gets_its_own_fingerprint() -> None:
    # Functions made and dropped one after another often reuse one address (id);
    # the process-wide memo must not hand the next one its predecessor's fingerprint.
    digests = []
    for n in range(20):
        namespace: dict[str, Any] = {}
        exec(f"def made(x):\n    return x + {n}\n", namespace)
        digests.append(code_fingerprint(namespace.pop("made")))
    assert len(set(digests)) == 20

"""Cache identities: what changes them and what does not."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path
from types import ModuleType

from reflow.cache.fingerprint import code_fingerprint
from reflow.cache.identity import IdentityParts, combine_hashes, value_hash


def load(tmp_path: Path, name: str, source: str) -> ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_formatting_and_comments_keep_the_fingerprint(tmp_path: Path) -> None:
    a = load(tmp_path, "fa", "def f(x):\n    return x + 1\n")
    reformatted = "# a comment\n\n\ndef f(x):\n\n    return (x +\n        1)  # why\n"
    b = load(tmp_path, "fb", reformatted)
    assert code_fingerprint(a.f) == code_fingerprint(b.f)


def test_an_edited_body_changes_the_fingerprint(tmp_path: Path) -> None:
    a = load(tmp_path, "ga", "def f(x):\n    return x + 1\n")
    b = load(tmp_path, "gb", "def f(x):\n    return x + 2\n")
    assert code_fingerprint(a.f) != code_fingerprint(b.f)


def test_functions_without_source_fall_back_to_bytecode() -> None:
    ns1: dict[str, object] = {}
    ns2: dict[str, object] = {}
    exec("def f(x):\n    return x * 3\n", ns1)
    exec("def f(x):\n    return x * 4\n", ns2)
    assert code_fingerprint(ns1["f"]) != code_fingerprint(ns2["f"])  # type: ignore[arg-type]


def test_value_hash_is_stable_across_processes() -> None:
    value = {"b": [1, 2.5, "x"], "a": (Path("/d"), datetime(2025, 1, 2, 3, 4, 5))}
    code = (
        "from pathlib import Path; from datetime import datetime;"
        "from reflow.cache.identity import value_hash;"
        "print(value_hash({'a': (Path('/d'), datetime(2025, 1, 2, 3, 4, 5)),"
        " 'b': [1, 2.5, 'x']}))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    ).stdout.strip()
    assert other == value_hash(value)
    assert value_hash([1, 2]) != value_hash((1, 2))
    assert value_hash(1) != value_hash("1")


def test_identity_covers_every_part_and_explains_changes() -> None:
    base = IdentityParts("t", "1", "c0", {"n": value_hash(1)}, {"x": "h1"})
    assert base.identity() == IdentityParts.from_dict(base.to_dict()).identity()
    variants = {
        "version": IdentityParts("t", "2", "c0", {"n": value_hash(1)}, {"x": "h1"}),
        "code": IdentityParts("t", "1", "c1", {"n": value_hash(1)}, {"x": "h1"}),
        "param": IdentityParts("t", "1", "c0", {"n": value_hash(2)}, {"x": "h1"}),
        "input": IdentityParts("t", "1", "c0", {"n": value_hash(1)}, {"x": "h2"}),
        "task": IdentityParts("u", "1", "c0", {"n": value_hash(1)}, {"x": "h1"}),
    }
    identities = {v.identity() for v in variants.values()}
    assert len(identities) == len(variants) and base.identity() not in identities
    assert variants["param"].differences(base) == ["parameter 'n' changed (value differs)"]
    assert variants["input"].differences(base) == ["input 'x' changed (upstream output differs)"]
    assert variants["code"].differences(base) == ["the task function's code changed"]
    assert variants["version"].differences(base) == ["version changed from '1' to '2'"]
    assert base.differences(base) == []


def test_combined_hashes_depend_on_order() -> None:
    assert combine_hashes(["a", "b"]) != combine_hashes(["b", "a"])
    assert combine_hashes([]) != combine_hashes([""])


def test_closure_values_and_module_constants_enter_the_fingerprint(tmp_path: Path) -> None:
    source = """
SCALE = {scale}

def helper(x):
    return x * SCALE

def make(offset):
    def task(x):
        return helper(x) + offset
    return task
"""
    one = load(tmp_path, "c1", source.format(scale=2))
    two = load(tmp_path, "c2", source.format(scale=3))
    assert code_fingerprint(one.make(1)) == code_fingerprint(one.make(1))
    assert code_fingerprint(one.make(1)) != code_fingerprint(one.make(2))  # closure value
    assert code_fingerprint(one.helper) != code_fingerprint(two.helper)  # module constant
    assert code_fingerprint(one.make(1)) != code_fingerprint(two.make(1))  # through the helper


def test_an_edited_helper_changes_the_callers_fingerprint(tmp_path: Path) -> None:
    a = load(
        tmp_path, "h1", "def helper(x):\n    return x + 1\n\ndef task(x):\n    return helper(x)\n"
    )
    b = load(
        tmp_path, "h2", "def helper(x):\n    return x + 2\n\ndef task(x):\n    return helper(x)\n"
    )
    assert code_fingerprint(a.task) != code_fingerprint(b.task)


def test_mutable_closure_state_does_not_change_the_fingerprint() -> None:
    calls: list[int] = []

    def task() -> int:
        calls.append(1)
        return 1

    before = code_fingerprint(task)
    calls.extend([1, 2, 3])
    assert code_fingerprint(task) == before

"""Tests of ManifestCodec: round trips, canonical text, safe loading, errors."""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from reflow._types import TaskState
from reflow.manifest import CODEC, ManifestCodec


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass(frozen=True)
class Sample:
    name: str
    source: Path
    colors: tuple[Color, ...]


@dataclasses.dataclass
class Batch:
    samples: list[Sample]
    created: datetime
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    count: int = dataclasses.field(init=False, default=0)

    def __post_init__(self) -> None:
        self.count = len(self.samples)


class Outer:
    @dataclasses.dataclass
    class Inner:
        value: int


def roundtrip(value: Any, codec: ManifestCodec = CODEC) -> Any:
    return codec.loads(codec.dumps(value))


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -7,
        3.25,
        "text",
        "",
        [],
        {},
        [1, "a", None, [2.5, [False]]],
        {"a": {"b": {"c": [1, 2]}}},
    ],
)
def test_json_values_round_trip_unchanged(value: Any) -> None:
    assert roundtrip(value) == value
    assert CODEC.dump_value(value) == value


@pytest.mark.parametrize(
    "value",
    [
        Path("/scratch/run 1/out.h5"),
        Path("relative/file.txt"),
        datetime(2024, 5, 17, 13, 45, 9, 123456),
        datetime(2024, 5, 17, 13, 45, tzinfo=timezone(timedelta(hours=2))),
        date(2024, 2, 29),
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        (),
        (1, "two", (3.0, None)),
        Color.BLUE,
        Level.HIGH,
        TaskState.RUNNING,
    ],
)
def test_tagged_values_round_trip_with_their_type(value: Any) -> None:
    loaded = roundtrip(value)
    assert loaded == value
    assert type(loaded) is type(value)


def test_date_and_datetime_stay_distinct() -> None:
    loaded = roundtrip({"day": date(2024, 1, 2), "at": datetime(2024, 1, 2, 3, 4)})
    assert type(loaded["day"]) is date
    assert type(loaded["at"]) is datetime


def test_str_and_int_enums_are_not_flattened_to_scalars() -> None:
    encoded = CODEC.dump_value([TaskState.SUCCESS, Level.LOW])
    assert all(isinstance(item, dict) for item in encoded)
    assert roundtrip([TaskState.SUCCESS, Level.LOW]) == [TaskState.SUCCESS, Level.LOW]


def test_nested_dataclasses_round_trip() -> None:
    batch = Batch(
        samples=[
            Sample("a", Path("/data/a.fq"), (Color.RED, Color.BLUE)),
            Sample("b", Path("/data/b.fq"), ()),
        ],
        created=datetime(2024, 1, 1, 12, 0),
        meta={"ids": (uuid.UUID(int=1),), "nested": Outer.Inner(5)},
    )
    loaded = roundtrip(batch)
    assert loaded == batch
    assert isinstance(loaded.samples[0], Sample)
    assert loaded.samples[0].colors == (Color.RED, Color.BLUE)
    assert isinstance(loaded.samples[0].source, Path)
    assert isinstance(loaded.meta["nested"], Outer.Inner)
    assert loaded.count == 2


def test_field_excluded_from_init_keeps_its_stored_value() -> None:
    batch = Batch(samples=[], created=datetime(2024, 1, 1))
    batch.count = 41
    assert roundtrip(batch).count == 41


def test_enum_and_dataclass_are_stored_by_module_and_qualname() -> None:
    encoded = CODEC.dump_value([Color.RED, Outer.Inner(1)])
    assert encoded[0]["class"] == f"{__name__}:Color"
    assert encoded[1]["class"] == f"{__name__}:Outer.Inner"


def test_dict_holding_the_marker_key_round_trips() -> None:
    value = {"__reflow__": True, "type": "path", "value": "/not/a/path"}
    assert roundtrip(value) == value


def test_dict_with_non_true_marker_loads_as_plain_dict() -> None:
    payload = '{"__reflow__": 1, "type": "path", "value": "/x"}'
    assert CODEC.loads(payload) == {"__reflow__": 1, "type": "path", "value": "/x"}
    assert CODEC.loads('{"__reflow__": false}') == {"__reflow__": False}


def test_custom_marker_key() -> None:
    codec = ManifestCodec(marker_key="@t")
    encoded = codec.dump_value(Path("/x"))
    assert encoded["@t"] is True
    assert roundtrip(Path("/x"), codec) == Path("/x")
    # The default marker means nothing to this codec.
    assert codec.load_value(CODEC.dump_value(Path("/x"))) == CODEC.dump_value(Path("/x"))


def test_loads_accepts_bytes_and_bytearray() -> None:
    text = CODEC.dumps({"p": Path("/x"), "t": (1, 2)})
    expected = {"p": Path("/x"), "t": (1, 2)}
    assert CODEC.loads(text.encode()) == expected
    assert CODEC.loads(bytearray(text.encode())) == expected


def test_pretty_output_is_indented_and_loads_back() -> None:
    text = CODEC.dumps({"b": [1], "a": Path("/x")}, pretty=True)
    assert "\n  " in text
    assert CODEC.loads(text) == {"b": [1], "a": Path("/x")}


# -- canonical form -----------------------------------------------------------------


def test_canonical_text_is_independent_of_dict_insertion_order() -> None:
    first = {"b": 1, "a": {"y": [Path("/p")], "x": (1,)}}
    second = {"a": {"x": (1,), "y": [Path("/p")]}, "b": 1}
    assert CODEC.canonical_dumps(first) == CODEC.canonical_dumps(second)


def test_canonical_text_is_compact_with_sorted_keys() -> None:
    assert CODEC.canonical_dumps({"b": [1, 2], "a": None}) == '{"a":null,"b":[1,2]}'


def test_canonical_text_is_the_same_in_another_process() -> None:
    value = {"z": 1, "a": (Color.RED, Path("/d")), "m": {"k": date(2024, 1, 1)}}
    script = textwrap.dedent(
        """
        import sys
        from datetime import date
        from pathlib import Path
        from reflow.manifest import CODEC
        import enum
        class Color(enum.Enum):
            RED = "red"
        Color.__module__ = sys.argv[1]
        value = {"m": {"k": date(2024, 1, 1)}, "a": (Color.RED, Path("/d")), "z": 1}
        sys.stdout.write(CODEC.canonical_dumps(value))
        """
    )
    environment = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", script, __name__],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
    )
    assert result.stdout == CODEC.canonical_dumps(value)


# -- errors -------------------------------------------------------------------------


def test_non_string_dict_key_is_refused_naming_key_and_type() -> None:
    with pytest.raises(TypeError, match=r"key 3 of type builtins\.int"):
        CODEC.dumps({"ok": {3: "x"}})


def test_unsupported_type_is_refused_naming_module_and_qualname() -> None:
    with pytest.raises(TypeError, match=r"builtins\.set"):
        CODEC.dumps({"s": {1, 2}})

    class Opaque:
        pass

    with pytest.raises(TypeError, match=r"test_unsupported_type.*\.<locals>\.Opaque"):
        CODEC.dumps([Opaque()])


def test_unknown_tag_is_refused() -> None:
    with pytest.raises(TypeError, match="Unknown manifest value type 'frobnicate'"):
        CODEC.loads('{"__reflow__": true, "type": "frobnicate", "value": 1}')


def test_malformed_tagged_value_names_the_key() -> None:
    with pytest.raises(TypeError, match="key 'value' must be a str"):
        CODEC.loads('{"__reflow__": true, "type": "path", "value": 5}')


def test_enum_value_no_longer_a_member_is_an_error() -> None:
    payload = {"__reflow__": True, "type": "enum", "class": f"{__name__}:Color", "value": "mauve"}
    with pytest.raises(ValueError, match=r"'mauve' is not a member of enum .*:Color"):
        CODEC.load_value(payload)


def test_dataclass_whose_fields_changed_is_an_error() -> None:
    payload = {
        "__reflow__": True,
        "type": "dataclass",
        "class": f"{__name__}:Outer.Inner",
        "fields": {"value": 1, "removed": 2},
    }
    with pytest.raises(TypeError, match=r"Outer\.Inner.*\['removed'\]"):
        CODEC.load_value(payload)


def test_unresolvable_classes_load_as_raw_values() -> None:
    enum_payload = {"__reflow__": True, "type": "enum", "class": "no_such_mod:E", "value": 3}
    dc_payload = {
        "__reflow__": True,
        "type": "dataclass",
        "class": "no_such_mod:D",
        "fields": {"p": {"__reflow__": True, "type": "path", "value": "/x"}},
    }
    assert CODEC.load_value(enum_payload) == 3
    assert CODEC.load_value(dc_payload) == {"p": Path("/x")}
    assert "no_such_mod" not in sys.modules


def test_allowed_modules_must_not_be_a_bare_string() -> None:
    with pytest.raises(TypeError, match="allowed_modules"):
        ManifestCodec(allowed_modules="mymod")  # type: ignore[arg-type]


def test_default_codec_settings() -> None:
    assert ManifestCodec() == CODEC
    assert CODEC.marker_key == "__reflow__"
    assert CODEC.schema_version == 1
    assert CODEC.allowed_modules == frozenset()


# -- loading never imports modules named by the data -----------------------------------


@pytest.fixture
def unimported_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module on sys.path, not yet imported, that records being imported."""
    name = f"reflow_manifest_probe_{uuid.uuid4().hex}"
    marker = tmp_path / "imported"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            f"""
            import dataclasses
            import enum
            from pathlib import Path

            Path({str(marker)!r}).touch()

            class Mode(enum.Enum):
                FAST = "fast"

            @dataclasses.dataclass
            class Point:
                x: int
                y: int
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def _payloads(module: str) -> tuple[dict[str, Any], dict[str, Any]]:
    enum_payload = {"__reflow__": True, "type": "enum", "class": f"{module}:Mode", "value": "fast"}
    dc_payload = {
        "__reflow__": True,
        "type": "dataclass",
        "class": f"{module}:Point",
        "fields": {"x": 1, "y": 2},
    }
    return enum_payload, dc_payload


def test_loading_does_not_import_a_module_named_in_the_data(
    unimported_module: str, tmp_path: Path
) -> None:
    enum_payload, dc_payload = _payloads(unimported_module)
    text = json.dumps([enum_payload, dc_payload])
    assert CODEC.loads(text) == ["fast", {"x": 1, "y": 2}]
    assert unimported_module not in sys.modules
    assert not (tmp_path / "imported").exists()


def test_allowed_module_is_imported_and_classes_rebuilt(
    unimported_module: str, tmp_path: Path
) -> None:
    codec = ManifestCodec(allowed_modules=frozenset({unimported_module}))
    enum_payload, dc_payload = _payloads(unimported_module)
    mode, point = codec.loads(json.dumps([enum_payload, dc_payload]))
    module = sys.modules[unimported_module]
    assert mode is module.Mode.FAST
    assert point == module.Point(1, 2)
    assert (tmp_path / "imported").exists()


def test_already_imported_module_is_used_without_allow_list(unimported_module: str) -> None:
    import importlib

    module = importlib.import_module(unimported_module)
    enum_payload, dc_payload = _payloads(unimported_module)
    assert CODEC.load_value(enum_payload) is module.Mode.FAST
    assert CODEC.load_value(dc_payload) == module.Point(1, 2)


def test_submodule_of_imported_package_is_not_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = f"reflow_manifest_pkg_{uuid.uuid4().hex}"
    (tmp_path / package).mkdir()
    # A lazy module __getattr__ would import the submodule if asked by attribute.
    (tmp_path / package / "__init__.py").write_text(
        "import importlib\n"
        "def __getattr__(name):\n"
        "    return importlib.import_module(f'{__name__}.{name}')\n",
        encoding="utf-8",
    )
    (tmp_path / package / "sub.py").write_text(
        "import enum\nclass Mode(enum.Enum):\n    FAST = 'fast'\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    importlib.import_module(package)
    try:
        for class_name in (f"{package}.sub:Mode", f"{package}:sub.Mode"):
            payload = {"__reflow__": True, "type": "enum", "class": class_name, "value": "fast"}
            assert CODEC.load_value(payload) == "fast"
        assert f"{package}.sub" not in sys.modules
    finally:
        for name in [name for name in sys.modules if name.startswith(package)]:
            del sys.modules[name]


def test_a_list_of_plain_scalars_loads_as_a_new_equal_list() -> None:
    from reflow.manifest import CODEC

    raw = [1, "a", None, True, 2.5]
    loaded = CODEC.load_value(raw)
    assert loaded == raw and loaded is not raw
    assert CODEC.loads(CODEC.dumps([1, (2, 3), "x"])) == [1, (2, 3), "x"]  # tags still rebuilt

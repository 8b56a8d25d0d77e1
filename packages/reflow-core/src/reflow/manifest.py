"""JSON encoding of the values reflow stores in its manifest.

Parameters, task outputs and cache keys are stored as JSON.  Plain JSON has no
paths, timestamps, enums or tuples, so :class:`ManifestCodec` writes those as
small *tagged* objects and turns them back into Python values on load::

    {"__reflow__": true, "type": "path", "value": "/scratch/run1/out.h5"}

:meth:`ManifestCodec.canonical_dumps` gives one fixed text for a value (keys
sorted, no whitespace); the cache hashes that text, so it is the same in every
process and on every host.

Loading never imports a module named in stored data: an enum or dataclass is
rebuilt only if its module is already imported, or is listed in
:attr:`ManifestCodec.allowed_modules`.  A codec with a
:attr:`~ManifestCodec.class_filter` (the one that reads the files jobs
exchange) goes further: it refuses a class its filter does not accept.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

__all__ = [
    "CODEC",
    "SCHEMA_VERSION",
    "ManifestCodec",
    "NestingError",
    "UntrustedClassError",
    "unstorable_output_message",
]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
"""Version of the tagged format written by :class:`ManifestCodec`."""

_MARKER = "__reflow__"
_TYPE = "type"
_VALUE = "value"
_CLASS = "class"
_FIELDS = "fields"

_JSON_SCALARS = (str, int, float, bool, type(None))
_SCALAR_TYPES = frozenset(_JSON_SCALARS)


_JSON: list[Any] = []
"""The compact JSON encoder, the string encoder and the encoding function, made
once (``json`` is imported only when first needed; ``json.dumps`` with options
makes an encoder per call)."""


def _compact_encoder() -> Any:
    if not _JSON:
        import json
        from json.encoder import encode_basestring_ascii

        encoder = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
        _JSON.extend((encoder, encode_basestring_ascii, _encode_function(encoder)))
    return _JSON[0]


def _encode_function(encoder: Any) -> Callable[[Any], str]:
    """``encoder.encode`` without the C encoder it makes on every call (most of its cost).

    The C encoder is made once, without the check for circular values: the
    values given are plain trees (:func:`_is_plain` bounds their depth, and
    :meth:`ManifestCodec.dump_value` builds a new tree).  Its text is
    ``encoder.encode``'s.
    """
    from json import encoder as module

    make = getattr(module, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has it
        return encoder.encode  # type: ignore[no-any-return]
    one = make(
        None,
        encoder.default,
        module.encode_basestring_ascii,
        None,
        encoder.key_separator,
        encoder.item_separator,
        True,
        False,
        True,
    )

    def encode(value: Any) -> str:
        if type(value) is str:
            text: str = module.encode_basestring_ascii(value)
            return text
        return "".join(one(value, 0))

    return encode


_PLAIN_SCALARS = frozenset({str, int, float, bool, type(None)})
_PLAIN_DEPTH = 32
"""Deeper values take the checked walk, which reports nesting errors itself."""


def _is_plain(value: Any, marker: str, depth: int = 0) -> bool:
    """Whether ``value`` is already its own JSON form (no tag needed anywhere in it).

    Exact types only: a ``str`` enum member or a ``dict`` subclass is not plain,
    and a dict holding the marker key is tagged by the checked walk.  Checking
    is a fraction of :meth:`ManifestCodec.dump_value`, which builds a copy.
    """
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return True
    if depth >= _PLAIN_DEPTH:
        return False
    if kind is dict:
        if marker in value:
            return False
        for key, item in value.items():
            if type(key) is not str:
                return False
            # Scalars are checked here: a call per hash string would cost more.
            if type(item) not in _PLAIN_SCALARS and not _is_plain(item, marker, depth + 1):
                return False
        return True
    if kind is list:
        for item in value:
            if type(item) not in _PLAIN_SCALARS and not _is_plain(item, marker, depth + 1):
                return False
        return True
    return False


def _encode_str(text: str) -> str:
    encode = _JSON[1] if _JSON else (_compact_encoder(), _JSON[1])[1]
    result: str = encode(text)
    return result


class NestingError(ValueError):
    """A value is nested too deeply for the codec to encode, or stored data to decode.

    Python's recursion limit bounds the depth (about a thousand levels of
    lists, dicts, tuples and dataclasses).  Raised in place of the
    :class:`RecursionError`, whose traceback runs to a thousand lines and
    which callers that handle bad values (``ValueError``) would not catch.
    """


def _too_deep(what: str) -> NestingError:
    return NestingError(
        f"{what} is nested too deeply for the manifest (Python's recursion limit is "
        f"{sys.getrecursionlimit()} levels); store it flatter, e.g. as a list of rows, "
        "or write it to a file and store the file's Path."
    )


def unstorable_output_message(label: str, exc: Exception) -> str:
    """The one-line failure of task instance ``label`` whose output the codec refused."""
    return (
        f"Task {label} returned a value reflow cannot store ({exc}). Return JSON-like "
        "data (str, numbers, lists, dicts with str keys), Path, datetime, date, UUID, "
        "tuple, Enum or a dataclass of these."
    )


class UntrustedClassError(TypeError):
    """Stored data names a class its codec's ``class_filter`` does not accept."""


def _loaded_class(module: str, name: str) -> type | None:
    """Return ``module.name`` if ``module`` is imported, else ``None``.

    A value of a class can only exist once the class's module is imported, so
    an ``isinstance`` check against a module nobody imported is always false;
    this keeps ``uuid``, ``datetime`` and ``pathlib`` out of reflow's import.
    """
    loaded = sys.modules.get(module)
    if loaded is None:
        return None
    cls = getattr(loaded, name, None)
    return cls if isinstance(cls, type) else None


def _is_instance(value: Any, module: str, name: str) -> bool:
    cls = _loaded_class(module, name)
    return cls is not None and isinstance(value, cls)


def _qualified_name(cls: type) -> str:
    if "<locals>" in cls.__qualname__:
        # Such a class cannot be found again by name: loading would give a plain
        # dict (or the raw value) where the writer had an instance.
        raise TypeError(
            f"Cannot store an instance of {cls.__module__}.{cls.__qualname__}: the class is "
            "defined inside a function, so it cannot be rebuilt when the value is loaded. "
            "Define the class at module level."
        )
    return f"{cls.__module__}:{cls.__qualname__}"


@dataclass(frozen=True)
class ManifestCodec:
    """Encode Python values as JSON for the manifest, and decode them again.

    Supported values, nested to any depth:

    * JSON scalars (``None``, ``bool``, ``int``, ``float``, ``str``), as is;
    * lists, and dicts with ``str`` keys, item by item;
    * tagged: :class:`~pathlib.Path`, :class:`~datetime.datetime`,
      :class:`~datetime.date`, :class:`~uuid.UUID`, ``tuple``,
      :class:`~enum.Enum` members and dataclass instances (field by field).

    Enum members and dataclasses are stored with their class as
    ``"module:Qualname"``.

    Parameters
    ----------
    marker_key : str
        Key that marks a dict as a tagged value.
    schema_version : int
        Version of the tagged format; stores record it next to encoded data.
    allowed_modules : frozenset[str]
        Modules that :meth:`load_value` may import to find an enum or
        dataclass class.  Any other module is used only if it is already in
        :data:`sys.modules`; stored data can never make reflow import code.
        Names are matched exactly (``"pkg"`` does not allow ``"pkg.sub"``).
    class_filter : callable or None
        When set, an enum or dataclass is rebuilt only if
        ``class_filter(module_name)`` is true; any other class named by the
        data raises :class:`UntrustedClassError` instead of being looked up.
        The files jobs exchange are read with a filter that accepts the
        workflow's own modules and reflow's.

    Notes
    -----
    When an enum or dataclass class cannot be found, loading does not fail: an
    enum gives its raw value and a dataclass the dict of its fields.  When the
    class is found but the stored data no longer fits it (a member or field
    was removed), loading raises, because silently returning something else
    would hide the mismatch.

    A dict whose marker key holds ``true`` would be read back as a tagged
    value, so :meth:`dump_value` stores such a dict under a ``"dict"`` tag;
    it round-trips unchanged.

    Examples
    --------
    >>> from pathlib import Path
    >>> codec = ManifestCodec()
    >>> codec.loads(codec.dumps({"out": Path("/tmp/x"), "shape": (3, 4)}))
    {'out': PosixPath('/tmp/x'), 'shape': (3, 4)}
    >>> codec.canonical_dumps({"b": 1, "a": [True, None]})
    '{"a":[true,null],"b":1}'
    """

    marker_key: str = _MARKER
    schema_version: int = SCHEMA_VERSION
    allowed_modules: frozenset[str] = field(default_factory=frozenset)
    class_filter: Callable[[str], bool] | None = None

    def __post_init__(self) -> None:
        allowed: Any = self.allowed_modules
        # A bare string would make ``in`` a substring test: refuse it.
        if isinstance(allowed, str):
            raise TypeError(
                f"allowed_modules must be a collection of module names, not the string "
                f"{allowed!r}; write allowed_modules=frozenset({{{allowed!r}}})."
            )
        object.__setattr__(self, "allowed_modules", frozenset(allowed))

    # -- encoding ---------------------------------------------------------------

    def dump_value(self, value: Any) -> Any:
        """Convert a Python value into a JSON-safe structure.

        Parameters
        ----------
        value : Any
            A value of one of the supported types (see the class docstring).

        Returns
        -------
        Any
            Scalars, lists and str-keyed dicts only, ready for :func:`json.dumps`.

        Raises
        ------
        TypeError
            If the value, or anything inside it, has an unsupported type, or a
            dict has a key that is not a string.
        NestingError
            If the value is nested too deeply.
        """
        try:
            return self._dump(value)
        except RecursionError:
            raise _too_deep("The value") from None

    def _dump(self, value: Any) -> Any:
        # Enum first: members of ``str``/``int`` enums are also JSON scalars.
        if isinstance(value, Enum):
            return {
                self.marker_key: True,
                _TYPE: "enum",
                _CLASS: _qualified_name(type(value)),
                _VALUE: self._dump(value.value),
            }
        if isinstance(value, _JSON_SCALARS):
            return value
        if isinstance(value, list):
            return [self._dump(item) for item in value]
        if isinstance(value, dict):
            return self._dump_dict(value)
        if isinstance(value, tuple):
            return self._tag("tuple", [self._dump(item) for item in value])
        if _is_instance(value, "pathlib", "Path"):
            return self._tag("path", str(value))
        # datetime before date: datetime is a subclass of date.
        if _is_instance(value, "datetime", "datetime"):
            return self._tag("datetime", value.isoformat())
        if _is_instance(value, "datetime", "date"):
            return self._tag("date", value.isoformat())
        if _is_instance(value, "uuid", "UUID"):
            return self._tag("uuid", str(value))
        if hasattr(type(value), "__dataclass_fields__"):
            from dataclasses import fields

            return {
                self.marker_key: True,
                _TYPE: "dataclass",
                _CLASS: _qualified_name(type(value)),
                _FIELDS: {f.name: self._dump(getattr(value, f.name)) for f in fields(value)},
            }
        cls = type(value)
        raise TypeError(
            f"Cannot store a value of type {cls.__module__}.{cls.__qualname__} in the manifest. "
            "Supported: None, bool, int, float, str, list, tuple, dict with str keys, "
            "Path, datetime, date, UUID, Enum members and dataclass instances; "
            "convert the value to one of these first."
        )

    def _dump_dict(self, value: dict[Any, Any]) -> dict[str, Any]:
        for key in value:
            if not isinstance(key, str):
                raise TypeError(
                    f"Manifest dictionaries must have str keys; got key {key!r} of type "
                    f"{type(key).__module__}.{type(key).__qualname__}. Convert the keys to "
                    "strings first."
                )
        encoded = {key: self._dump(item) for key, item in value.items()}
        if encoded.get(self.marker_key) is True:
            return self._tag("dict", encoded)
        return encoded

    def _tag(self, type_name: str, payload: Any) -> dict[str, Any]:
        return {self.marker_key: True, _TYPE: type_name, _VALUE: payload}

    # -- decoding ---------------------------------------------------------------

    def load_value(self, value: Any) -> Any:
        """Rebuild a Python value from the output of :meth:`dump_value`.

        Parameters
        ----------
        value : Any
            A structure as returned by :func:`json.loads`.

        Returns
        -------
        Any
            The Python value.  An enum or dataclass whose class cannot be
            found comes back as its raw value or dict of fields.

        Raises
        ------
        TypeError
            If the structure holds a non-JSON type, an unknown tag, or a tagged
            value with a missing or mistyped part.
        ValueError
            If a stored enum value is no longer a member of its class.
        NestingError
            If the data is nested too deeply.
        """
        try:
            return self._load(value)
        except RecursionError:
            raise _too_deep("The stored data") from None

    def _load(self, value: Any) -> Any:
        if isinstance(value, _JSON_SCALARS):
            return value
        if isinstance(value, list):
            if _SCALAR_TYPES.issuperset(map(type, value)):  # nothing to rebuild (most lists)
                return list(value)
            return [self._load(item) for item in value]
        if not isinstance(value, dict):
            raise TypeError(
                f"Cannot load manifest data of type {type(value).__qualname__}; expected the "
                "output of json.loads (None, bool, int, float, str, list or dict)."
            )
        if value.get(self.marker_key) is not True:
            return {key: self._load(item) for key, item in value.items()}
        return self._load_tagged(value)

    def _load_tagged(self, value: dict[str, Any]) -> Any:
        type_name = value.get(_TYPE)
        if type_name == "path":
            from pathlib import Path

            return Path(self._require(value, _VALUE, str))
        if type_name == "datetime":
            from datetime import datetime

            return datetime.fromisoformat(self._require(value, _VALUE, str))
        if type_name == "date":
            from datetime import date

            return date.fromisoformat(self._require(value, _VALUE, str))
        if type_name == "uuid":
            from uuid import UUID

            return UUID(self._require(value, _VALUE, str))
        if type_name == "tuple":
            return tuple(self._load(item) for item in self._require(value, _VALUE, list))
        if type_name == "dict":
            items = self._require(value, _VALUE, dict)
            return {key: self._load(item) for key, item in items.items()}
        if type_name == "enum":
            return self._load_enum(value)
        if type_name == "dataclass":
            return self._load_dataclass(value)
        raise TypeError(
            f"Unknown manifest value type {type_name!r} in {value!r}. It may have been "
            "written by a newer reflow; upgrade reflow-core to read it."
        )

    def _load_enum(self, value: dict[str, Any]) -> Any:
        class_name = self._require(value, _CLASS, str)
        raw = self._load(value.get(_VALUE))
        cls = self._resolve_class(class_name)
        if cls is None or not issubclass(cls, Enum):
            return raw
        try:
            return cls(raw)
        except ValueError as exc:
            raise ValueError(
                f"Stored value {raw!r} is not a member of enum {class_name}; the enum has "
                "changed since the value was stored."
            ) from exc

    def _load_dataclass(self, value: dict[str, Any]) -> Any:
        class_name = self._require(value, _CLASS, str)
        stored = {
            key: self._load(item) for key, item in self._require(value, _FIELDS, dict).items()
        }
        cls = self._resolve_class(class_name)
        if cls is None or not hasattr(cls, "__dataclass_fields__"):
            return stored
        from dataclasses import fields

        init_names = {f.name for f in fields(cls) if f.init}
        other_names = {f.name for f in fields(cls) if not f.init}
        unknown = sorted(set(stored) - init_names - other_names)
        if unknown:
            raise TypeError(
                f"Cannot rebuild dataclass {class_name}: stored fields {unknown} are not "
                "fields of the class any more. The class has changed since the value was stored."
            )
        try:
            instance = cls(**{k: v for k, v in stored.items() if k in init_names})
        except TypeError as exc:
            raise TypeError(
                f"Cannot rebuild dataclass {class_name} from stored fields "
                f"{sorted(stored)}: {exc}. The class has changed since the value was stored."
            ) from exc
        # Fields excluded from __init__ get back the value they had when stored.
        for key in other_names & set(stored):
            object.__setattr__(instance, key, stored[key])
        return instance

    def _resolve_class(self, qualified: str) -> type | None:
        """Find ``module:Qualname`` without importing modules named by data."""
        module_name, sep, qualname = qualified.partition(":")
        if not sep or not module_name or not qualname:
            logger.debug("Malformed manifest class name %r; loading the raw value", qualified)
            return None
        if self.class_filter is not None and not self.class_filter(module_name):
            raise UntrustedClassError(
                f"the data names the class {qualified}, which is neither reflow's nor "
                "defined in the workflow's own code as the job imported it, so it is not "
                "rebuilt. Return plain data, or dataclasses and enums defined in your "
                "workflow script or a module it imports."
            )
        module = sys.modules.get(module_name)
        if module is None and module_name in self.allowed_modules:
            from importlib import import_module

            try:
                module = import_module(module_name)
            except ImportError:
                logger.debug("Allowed module %r could not be imported", module_name, exc_info=True)
                return None
        if module is None:
            logger.debug(
                "Not importing %r to load %s: it is neither imported nor in allowed_modules",
                module_name,
                qualified,
            )
            return None
        # Look in the namespaces themselves, not with getattr: a module-level
        # __getattr__ (PEP 562) may import submodules named by the data.
        obj: Any = module
        for part in qualname.split("."):
            namespace = getattr(obj, "__dict__", None)
            obj = namespace.get(part) if namespace is not None else None
            if obj is None:
                return None
        return obj if isinstance(obj, type) else None

    def _require(self, value: dict[str, Any], key: str, expected: type) -> Any:
        item = value.get(key)
        if not isinstance(item, expected):
            raise TypeError(
                f"Malformed manifest value {value!r}: key {key!r} must be a "
                f"{expected.__name__}, got {type(item).__name__}. The stored data is damaged "
                "or was not written by reflow."
            )
        return item

    # -- text -------------------------------------------------------------------

    def dumps(self, value: Any, *, pretty: bool = False) -> str:
        """Serialise a value to JSON text, with sorted keys.

        Parameters
        ----------
        value : Any
            A value of one of the supported types.
        pretty : bool
            Indent by two spaces for people to read; otherwise compact.

        Returns
        -------
        str
            The JSON text.
        """
        if not pretty:
            # The values of most array elements: their JSON text without the
            # walk through dump_value (the same text json.dumps gives).
            kind = type(value)
            if kind is int:
                return int.__repr__(value)
            if kind is str:
                return _encode_str(value)
            if _is_plain(value, self.marker_key):
                # Plain JSON already (cache_info, lists of numbers...): one C
                # encoding, no copy through dump_value; the same text.
                plain: str = (_JSON[2] if _JSON else (_compact_encoder(), _JSON[2])[1])(value)
                return plain
        import json

        payload = self.dump_value(value)
        if pretty:
            return json.dumps(payload, sort_keys=True, indent=2)
        _compact_encoder()
        text: str = _JSON[2](payload)
        return text

    def loads(self, payload: str | bytes | bytearray) -> Any:
        """Load a value written by :meth:`dumps`.

        Parameters
        ----------
        payload : str, bytes or bytearray
            JSON text; bytes are decoded as UTF-8.

        Returns
        -------
        Any
            The Python value (see :meth:`load_value`).
        """
        import json

        if isinstance(payload, (bytes, bytearray)):
            payload = bytes(payload).decode("utf-8")
        try:
            data = json.loads(payload)
        except RecursionError:
            raise _too_deep("The stored data") from None
        return self.load_value(data)

    def canonical_dumps(self, value: Any) -> str:
        """Return the one canonical JSON text of a value, for hashing.

        Keys are sorted and there is no whitespace, so equal values give equal
        text whatever the order their dicts were built in, in any process.

        Parameters
        ----------
        value : Any
            A value of one of the supported types.

        Returns
        -------
        str
            Compact JSON with sorted keys.
        """
        return self.dumps(value, pretty=False)


CODEC = ManifestCodec()
"""The codec with default settings, shared by reflow's own modules."""

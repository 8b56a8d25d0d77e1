"""A small PEP 440 version and specifier evaluator, and a PEP 508 requirement reader.

reflow-core checks that a plugin was built for the installed core (see
:mod:`reflow.plugins`) without depending on ``packaging``.  This module does
only what that check needs: parse a version, parse a specifier set such as
``>=0.1,<0.2``, tell whether a version satisfies it, and pull the name and
specifier out of a ``Requires-Dist`` line.

What is supported
-----------------
Versions
    ``[N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]``, case-insensitive, with
    the usual alternative spellings (``alpha``, ``beta``, ``c``, ``pre``,
    ``preview``, ``rev``, ``r``, ``1.0-1`` for a post-release, separators
    ``.``, ``-`` or ``_``, a leading ``v``).  Release segments are compared
    numerically and trailing zeros do not matter (``0.1 == 0.1.0``).  The
    ordering within one release is PEP 440's: ``1.0.dev1 < 1.0a1 < 1.0rc1 <
    1.0 < 1.0.post1``.  A local label (``+abc``) sorts after the same public
    version and is otherwise only compared as text.
Operators
    ``==``, ``!=``, ``>=``, ``<=``, ``>``, ``<``, ``~=``, ``===`` and the
    prefix forms ``==X.*`` / ``!=X.*``.  As in PEP 440, ``<V`` does not admit a
    pre-release of ``V`` itself and ``>V`` does not admit a post-release of
    ``V`` (unless ``V`` is itself a pre- or post-release), and a local label on
    the candidate is ignored unless the specifier gives one.

The simplification
------------------
PEP 440 excludes pre-releases from every specifier unless asked for.  This
module never excludes them: it judges versions that are *already installed*,
and an installed pre-release of reflow-core was chosen on purpose.  A prefix
(``.*``) may only follow a plain release (``==1.2.*``, not ``==1.2rc1.*``).
Anything else that cannot be parsed raises :class:`ValueError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "Requirement",
    "Specifier",
    "SpecifierSet",
    "Version",
    "canonicalize_name",
    "parse_requirement",
]

_VERSION_RE = re.compile(
    r"""
    ^\s*v?
    (?:(?P<epoch>\d+)!)?
    (?P<release>\d+(?:\.\d+)*)
    (?:[-_.]?(?P<pre_label>alpha|beta|preview|pre|rc|a|b|c)[-_.]?(?P<pre_n>\d+)?)?
    (?:-(?P<post_implicit>\d+)|[-_.]?(?:post|rev|r)[-_.]?(?P<post_n>\d+)?(?P<post_mark>))?
    (?:[-_.]?(?P<dev_mark>dev)[-_.]?(?P<dev_n>\d+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
    \s*$
    """,
    re.VERBOSE | re.IGNORECASE,
)

_PRE_PHASES = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "rc": 2, "c": 2, "pre": 2, "preview": 2}
_PRE_NAMES = ("a", "b", "rc")

_CLAUSE_RE = re.compile(r"^\s*(?P<op>~=|===|==|!=|<=|>=|<|>)\s*(?P<version>[^\s,;]+)\s*$")

_NAME_RE = re.compile(
    r"""
    ^\s*(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)
    \s*(?:\[(?P<extras>[^\]]*)\])?
    \s*(?P<rest>.*)$
    """,
    re.VERBOSE | re.DOTALL,
)


def canonicalize_name(name: str) -> str:
    """Return the normalised form of a distribution name (PEP 503).

    Parameters
    ----------
    name : str
        A distribution name as written, e.g. ``Reflow_Core``.

    Returns
    -------
    str
        Lower case, with every run of ``-``, ``_`` and ``.`` replaced by one
        ``-`` (``reflow-core``).
    """
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True, eq=False)
class Version:
    """A parsed PEP 440 version; instances compare in PEP 440 order.

    Attributes
    ----------
    text : str
        The version as written.
    epoch : int
        The epoch (``0`` when not written).
    release : tuple[int, ...]
        The release segments, as written (trailing zeros kept).
    pre : tuple[str, int] or None
        ``("a" | "b" | "rc", number)`` for a pre-release.
    post : int or None
        The post-release number.
    dev : int or None
        The development-release number.
    local : str or None
        The local label, lower case, without the ``+``.
    """

    text: str
    epoch: int
    release: tuple[int, ...]
    pre: tuple[str, int] | None = None
    post: int | None = None
    dev: int | None = None
    local: str | None = None
    _key: tuple[object, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_key", self._sort_key(with_local=True))

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse a version string.

        Parameters
        ----------
        text : str
            A PEP 440 version such as ``0.1.0``, ``1.0rc2`` or ``2.1.post1``.

        Returns
        -------
        Version
            The parsed version.

        Raises
        ------
        ValueError
            If ``text`` is not a version this module understands.
        """
        match = _VERSION_RE.match(text)
        if match is None:
            raise ValueError(f"{text!r} is not a valid PEP 440 version")
        groups = match.groupdict()
        pre: tuple[str, int] | None = None
        if groups["pre_label"]:
            phase = _PRE_PHASES[groups["pre_label"].lower()]
            pre = (_PRE_NAMES[phase], int(groups["pre_n"] or 0))
        post: int | None = None
        if groups["post_implicit"] is not None:
            post = int(groups["post_implicit"])
        elif groups["post_mark"] is not None:
            post = int(groups["post_n"] or 0)
        dev = int(groups["dev_n"] or 0) if groups["dev_mark"] else None
        local = (
            groups["local"].lower().replace("-", ".").replace("_", ".")
            if groups["local"]
            else None
        )
        return cls(
            text=text.strip(),
            epoch=int(groups["epoch"] or 0),
            release=tuple(int(part) for part in groups["release"].split(".")),
            pre=pre,
            post=post,
            dev=dev,
            local=local,
        )

    @property
    def is_prerelease(self) -> bool:
        """Whether this is a pre-release or a development release."""
        return self.pre is not None or self.dev is not None

    @property
    def is_postrelease(self) -> bool:
        """Whether this is a post-release."""
        return self.post is not None

    @property
    def public(self) -> Version:
        """This version without its local label."""
        if self.local is None:
            return self
        return Version(
            self.text.split("+", 1)[0], self.epoch, self.release, self.pre, self.post, self.dev
        )

    @property
    def base(self) -> tuple[int, tuple[int, ...]]:
        """The epoch and the release with trailing zeros removed."""
        release = list(self.release)
        while len(release) > 1 and release[-1] == 0:
            release.pop()
        return (self.epoch, tuple(release))

    def _sort_key(self, *, with_local: bool) -> tuple[object, ...]:
        # Within one release: dev-only < pre-releases < the release < post-releases;
        # a dev suffix sorts before the same version without one.
        if self.pre is not None:
            pre_key: tuple[int, int] = (_PRE_NAMES.index(self.pre[0]), self.pre[1])
        elif self.dev is not None and self.post is None:
            pre_key = (-1, 0)
        else:
            pre_key = (3, 0)
        post_key = -1 if self.post is None else self.post
        dev_key = (1, 0) if self.dev is None else (0, self.dev)
        local_key: tuple[object, ...] = ()
        if with_local:
            local_key = (0, "") if self.local is None else (1, self.local)
        return (*self.base, pre_key, post_key, dev_key, *local_key)

    def __lt__(self, other: Version) -> bool:
        return self._key < other._key

    def __le__(self, other: Version) -> bool:
        return self._key <= other._key

    def __gt__(self, other: Version) -> bool:
        return self._key > other._key

    def __ge__(self, other: Version) -> bool:
        return self._key >= other._key

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Specifier:
    """One clause of a specifier set, such as ``>=0.1`` or ``==1.2.*``.

    Attributes
    ----------
    operator : str
        One of ``==``, ``!=``, ``>=``, ``<=``, ``>``, ``<``, ``~=``, ``===``.
    version : str
        The version after the operator, without a ``.*`` suffix.
    prefix : bool
        Whether the clause ends in ``.*`` (only with ``==`` and ``!=``).
    """

    operator: str
    version: str
    prefix: bool = False

    @classmethod
    def parse(cls, text: str) -> Specifier:
        """Parse one clause.

        Parameters
        ----------
        text : str
            For example ``>=0.1``, ``~=1.4.2`` or ``!=1.3.*``.

        Returns
        -------
        Specifier
            The parsed clause.

        Raises
        ------
        ValueError
            If the clause is malformed or uses ``.*`` or ``~=`` where PEP 440
            does not allow them.
        """
        match = _CLAUSE_RE.match(text)
        if match is None:
            raise ValueError(f"{text.strip()!r} is not a valid version specifier")
        operator, version = match.group("op"), match.group("version")
        if operator == "===":
            return cls(operator, version)
        prefix = version.endswith(".*")
        if prefix:
            if operator not in ("==", "!="):
                raise ValueError(f"{text.strip()!r}: '.*' is only allowed with '==' and '!='")
            version = version[:-2]
            if not re.fullmatch(r"(?:\d+!)?\d+(?:\.\d+)*", version):
                raise ValueError(f"{text.strip()!r}: '.*' may only follow a plain release")
        parsed = Version.parse(version)
        if operator == "~=" and len(parsed.release) < 2:
            raise ValueError(f"{text.strip()!r}: '~=' needs at least two release segments")
        return cls(operator, version, prefix)

    @property
    def parsed_version(self) -> Version:
        """The clause's version, parsed."""
        return Version.parse(self.version)

    def contains(self, candidate: str | Version) -> bool:
        """Tell whether ``candidate`` satisfies this clause.

        Parameters
        ----------
        candidate : str or Version
            The version to test, e.g. the installed reflow-core version.

        Returns
        -------
        bool
            ``True`` if the clause admits the version.

        Raises
        ------
        ValueError
            If ``candidate`` is a string that is not a valid version.
        """
        if self.operator == "===":
            return str(candidate).strip().lower() == self.version.lower()
        have = candidate if isinstance(candidate, Version) else Version.parse(candidate)
        want = self.parsed_version
        if self.operator in ("==", "!="):
            if self.prefix:
                equal = _prefix_match(have, want)
            elif want.local is None:
                equal = have.public == want
            else:
                equal = have == want
            return equal if self.operator == "==" else not equal
        public = have.public
        if self.operator == ">=":
            return public >= want
        if self.operator == "<=":
            return public <= want
        if self.operator == "<":
            if public >= want:
                return False
            # "<1.0" must not admit 1.0rc1 unless the bound is itself a pre-release.
            return not (
                public.is_prerelease and not want.is_prerelease and public.base == want.base
            )
        if self.operator == ">":
            if public <= want:
                return False
            # ">1.0" must not admit 1.0.post1 unless the bound is itself a post-release.
            return not (
                public.is_postrelease and not want.is_postrelease and public.base == want.base
            )
        # "~=X.Y.Z" means ">=X.Y.Z, ==X.Y.*".
        stem = Version(self.version, want.epoch, want.release[:-1])
        return public >= want and _prefix_match(public, stem)

    def __str__(self) -> str:
        return f"{self.operator}{self.version}{'.*' if self.prefix else ''}"


def _prefix_match(have: Version, prefix: Version) -> bool:
    """Whether ``have``'s release starts with ``prefix``'s release (zero-padded)."""
    if have.epoch != prefix.epoch:
        return False
    width = len(prefix.release)
    padded = have.release + (0,) * max(0, width - len(have.release))
    return padded[:width] == prefix.release


@dataclass(frozen=True)
class SpecifierSet:
    """A comma-separated list of clauses, all of which must hold.

    An empty set admits every version.

    Attributes
    ----------
    clauses : tuple[Specifier, ...]
        The clauses, in the order written.
    """

    clauses: tuple[Specifier, ...] = ()

    @classmethod
    def parse(cls, text: str) -> SpecifierSet:
        """Parse a specifier set such as ``>=0.1,<0.2``.

        Parameters
        ----------
        text : str
            Clauses separated by commas; may be empty.

        Returns
        -------
        SpecifierSet
            The parsed set.

        Raises
        ------
        ValueError
            If any clause is malformed.
        """
        parts = text.split(",")
        if len(parts) == 1 and not parts[0].strip():
            return cls()
        return cls(tuple(Specifier.parse(part) for part in parts))

    def contains(self, candidate: str | Version) -> bool:
        """Tell whether ``candidate`` satisfies every clause.

        Parameters
        ----------
        candidate : str or Version
            The version to test.

        Returns
        -------
        bool
            ``True`` if every clause admits the version.

        Raises
        ------
        ValueError
            If ``candidate`` is a string that is not a valid version.
        """
        have = candidate if isinstance(candidate, Version) else Version.parse(candidate)
        return all(clause.contains(have) for clause in self.clauses)

    def __contains__(self, candidate: object) -> bool:
        if not isinstance(candidate, (str, Version)):
            return False
        return self.contains(candidate)

    def __and__(self, other: SpecifierSet) -> SpecifierSet:
        return SpecifierSet(self.clauses + other.clauses)

    def __str__(self) -> str:
        return ",".join(str(clause) for clause in self.clauses)


@dataclass(frozen=True)
class Requirement:
    """The parts of a PEP 508 requirement that reflow looks at.

    Attributes
    ----------
    name : str
        The distribution name as written.
    extras : tuple[str, ...]
        The extras in brackets, if any.
    specifier : SpecifierSet
        The version constraints (empty for a bare name or a URL requirement).
    marker : str or None
        The environment marker after ``;``, unevaluated.
    """

    name: str
    extras: tuple[str, ...] = ()
    specifier: SpecifierSet = field(default_factory=SpecifierSet)
    marker: str | None = None

    @property
    def key(self) -> str:
        """The canonical (PEP 503) form of :attr:`name`."""
        return canonicalize_name(self.name)

    @property
    def only_for_extra(self) -> bool:
        """Whether the marker limits this requirement to an optional extra."""
        return self.marker is not None and re.search(r"\bextra\b", self.marker) is not None

    def __str__(self) -> str:
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        return f"{self.name}{extras}{self.specifier}"


def parse_requirement(text: str) -> Requirement:
    """Read a requirement line such as a ``Requires-Dist`` value.

    Handles ``name``, ``name[extra]``, ``name>=1,<2``, the older
    ``name (>=1,<2)`` form, ``name @ url`` and a trailing ``; marker``.
    Markers are kept as text, not evaluated.

    Parameters
    ----------
    text : str
        For example ``reflow-core<0.2,>=0.1`` or
        ``tomli>=1.1; python_version < "3.11"``.

    Returns
    -------
    Requirement
        The name, extras, specifier and marker.

    Raises
    ------
    ValueError
        If the line does not start with a valid name or its specifier is
        malformed.
    """
    match = _NAME_RE.match(text)
    if match is None:
        raise ValueError(f"{text.strip()!r} is not a valid requirement")
    rest = match.group("rest")
    marker: str | None = None
    if ";" in rest:
        rest, marker_text = rest.split(";", 1)
        marker = marker_text.strip() or None
    rest = rest.strip()
    specifier = SpecifierSet()
    if rest.startswith("@"):
        pass  # a direct URL reference carries no version constraint
    elif rest:
        if rest.startswith("(") and rest.endswith(")"):
            rest = rest[1:-1]
        specifier = SpecifierSet.parse(rest)
    extras_text = match.group("extras") or ""
    extras = tuple(part.strip() for part in extras_text.split(",") if part.strip())
    return Requirement(match.group("name"), extras, specifier, marker)

"""Automatic retries by reason: ``@wf.job(retries=N, retry_on=...)`` and :class:`Retry`.

A failed attempt is retried when its reason is one the task lists and
attempts are left.  The next attempt asks for what was missing
(:func:`escalate`): more memory after ``OUT_OF_MEMORY``, more walltime after
``TIMEOUT`` (a factor, 2 by default, or a callable of the attempt number and
the failure), never above the task's, the site's or the partition's limit,
and another node after ``NODE_FAIL``.  ``PREEMPTED`` never counts: the
scheduler requeues the job as it was.

This module checks what the user wrote (one line naming the option and the
fix) and computes the next attempt's resources; the engines decide when.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reflow.define.resources import format_walltime, parse_memory, parse_walltime

__all__ = [
    "DEFAULT_RETRY_ON",
    "REASONS",
    "Attempted",
    "Retry",
    "escalate",
    "format_memory",
    "retry_policy",
]

REASONS = ("TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "FAILED", "CANCELLED")
"""Reasons a scheduler gives for an attempt that ended without a result."""

DEFAULT_RETRY_ON = ("TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL")
"""What is retried unless ``retry_on=`` says otherwise: the failures more resources cure."""

Factor = float | Callable[[int, "Attempted"], Any]
"""A growth factor, or ``f(attempt, failure)`` returning the next request itself."""


@dataclass(frozen=True)
class Attempted:
    """One attempt that failed, as an escalation callable sees it.

    Attributes
    ----------
    number : int
        The attempt that failed, 1 for the first.
    reason : str
        ``TIMEOUT``, ``OUT_OF_MEMORY``, ``NODE_FAIL``, ``FAILED``, ``CANCELLED``
        or an exception's class name.
    mem : str
        The memory that attempt asked for.
    time : str
        The walltime that attempt asked for.
    host : str
        Where it ran (``""`` when unknown).
    """

    number: int
    reason: str
    mem: str
    time: str
    host: str = ""


@dataclass(frozen=True)
class Retry:
    """How a task is retried; ``retries=Retry(...)`` in ``@wf.job``.

    Parameters
    ----------
    retries : int
        Attempts after the first (0: none).
    on : iterable of str or exception types
        Reasons that count; default :data:`DEFAULT_RETRY_ON`.  An exception
        the task raises counts only when its type (or a base) is listed.
    backoff : str
        Wait before the second attempt (``"30s"``, ``"2m"``), doubled after
        each further one; ``"0s"`` (the default) retries at once.
    mem : float or callable
        After ``OUT_OF_MEMORY``: the factor for the memory request, or
        ``f(attempt, failure)`` returning the next request (``"8G"``).
    time : float or callable
        After ``TIMEOUT``: the same for the walltime (``"2h"``).
    max_mem, max_time : str or None
        The most any attempt asks for; the site's ``[retries]`` limits and
        the partition's maximum (where the scheduler tells) apply as well.
    """

    retries: int = 0
    on: tuple[str | type[BaseException], ...] = DEFAULT_RETRY_ON
    backoff: str = "0s"
    mem: Factor = 2.0
    time: Factor = 2.0
    max_mem: str | None = None
    max_time: str | None = None
    exceptions: tuple[type[BaseException], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "exceptions", tuple(r for r in self.on if isinstance(r, type)))

    @property
    def reasons(self) -> frozenset[str]:
        """The scheduler reasons that count (exception types left out)."""
        return frozenset(r for r in self.on if isinstance(r, str))

    def counts(self, reason: str) -> bool:
        """Whether a failure with this scheduler ``reason`` may be retried."""
        return reason in self.reasons

    def counts_exception(self, exc: BaseException) -> bool:
        """Whether the task's exception ``exc`` may be retried."""
        return isinstance(exc, self.exceptions) if self.exceptions else False

    def counts_exception_name(self, names: Iterable[str]) -> bool:
        """Whether an exception whose class and bases are ``names`` may be retried."""
        wanted = {t.__name__ for t in self.exceptions}
        return bool(wanted & set(names))

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (after ``attempt`` failed)."""
        base = _seconds(self.backoff)
        return float(base * 2 ** max(0, attempt - 1)) if base else 0.0

    def to_record(self) -> dict[str, Any]:
        """The policy as plain values, as the run records it (functions by name)."""

        def name(value: object) -> Any:
            if isinstance(value, type) or callable(value):
                return getattr(value, "__qualname__", repr(value))
            return value

        return {
            "retries": self.retries,
            "on": [name(r) for r in self.on],
            "backoff": self.backoff,
            "mem": name(self.mem),
            "time": name(self.time),
            "max_mem": self.max_mem,
            "max_time": self.max_time,
        }

    def check(self, where: str) -> None:
        """Raise ``ValueError`` with one line naming the option and its fix."""
        n = self.retries
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"{where}: retries={n!r} is not valid; give a whole number >= 0")
        for reason in self.on:
            if isinstance(reason, type) and issubclass(reason, BaseException):
                continue
            if reason not in REASONS:
                raise ValueError(
                    f"{where}: retry_on={reason!r} is not a reason; use "
                    f"{', '.join(REASONS)} or an exception class such as ValueError"
                )
        try:
            _seconds(self.backoff)
        except ValueError as exc:
            raise ValueError(f"{where}: backoff={self.backoff!r}: {exc}") from None
        for label, factor in (("mem", self.mem), ("time", self.time)):
            if callable(factor):
                continue
            if isinstance(factor, bool) or not isinstance(factor, int | float) or factor < 1:
                raise ValueError(
                    f"{where}: {label}={factor!r} is not a growth factor; give a number "
                    "of at least 1 (2 doubles it) or a function f(attempt, failure)"
                )
        for label, parse, value in (
            ("max_mem", parse_memory, self.max_mem),
            ("max_time", parse_walltime, self.max_time),
        ):
            if value is not None:
                try:
                    parse(value)
                except ValueError as exc:
                    raise ValueError(f"{where}: {label}={value!r}: {exc}") from None


def _seconds(text: str) -> int:
    if text in ("0", "0s", "", None):
        return 0
    return parse_walltime(text)


def retry_policy(
    retries: int | Retry | None,
    retry_on: Iterable[str | type[BaseException]] | None,
    where: str,
) -> Retry | None:
    """The task's policy from ``retries=`` and ``retry_on=``; ``None`` when not given.

    Raises
    ------
    ValueError
        One line naming the option and the fix.
    """
    if retries is None and retry_on is None:
        return None
    if isinstance(retries, Retry):
        policy = retries
        if retry_on is not None:
            policy = _replace_on(policy, retry_on, where)
    else:
        policy = Retry(retries if retries is not None else 0)
        if retry_on is not None:
            policy = _replace_on(policy, retry_on, where)
    policy.check(where)
    return policy


def _replace_on(policy: Retry, retry_on: object, where: str) -> Retry:
    if isinstance(retry_on, str | type) or not isinstance(retry_on, Iterable):
        retry_on = [retry_on]
    on = tuple(r.upper() if isinstance(r, str) else r for r in retry_on)
    return Retry(
        policy.retries,
        on,  # type: ignore[arg-type]  # checked by Retry.check
        policy.backoff,
        policy.mem,
        policy.time,
        policy.max_mem,
        policy.max_time,
    )


def format_memory(size: int) -> str:
    """``size`` bytes as a whole number of megabytes (``"300M"``), as every scheduler reads."""
    return f"{-(-size // 1024**2)}M"


def _grow(factor: Factor, attempt: Attempted, current: int, parse: Callable[[Any], int]) -> int:
    if callable(factor):
        return parse(factor(attempt.number, attempt))
    return int(current * float(factor))


def escalate(
    policy: Retry,
    failed: Attempted,
    resources: Mapping[str, Any],
    limits: Mapping[str, int | None] | None = None,
) -> tuple[dict[str, Any] | None, str]:
    """The next attempt's resources after ``failed``, or ``None`` with why not.

    ``resources`` holds ``mem``, ``time`` and ``exclude`` (a list of hosts),
    and whatever else the attempt asked for (kept as it was);
    ``limits`` the site's or partition's ``mem`` (bytes) and ``time``
    (seconds), the smaller of them and the task's own ``max_*`` applying.
    A request already at its limit is not retried: the same request would
    fail the same way.
    """
    nxt: dict[str, Any] = {**resources, "exclude": list(resources.get("exclude", ()))}
    limits = dict(limits or {})
    if failed.reason == "OUT_OF_MEMORY":
        cap = _smallest(limits.get("mem"), policy.max_mem, parse_memory)
        now = parse_memory(resources["mem"])
        want = _grow(policy.mem, failed, now, parse_memory)
        if cap is not None:
            want = min(want, cap)
        if want <= now:
            return None, f"memory already at its limit ({resources['mem']})"
        nxt["mem"] = format_memory(want)
    elif failed.reason == "TIMEOUT":
        cap = _smallest(limits.get("time"), policy.max_time, parse_walltime)
        now = parse_walltime(resources["time"])
        want = _grow(policy.time, failed, now, parse_walltime)
        if cap is not None:
            want = min(want, cap)
        if want <= now:
            return None, f"walltime already at its limit ({resources['time']})"
        nxt["time"] = format_walltime(want)
    elif failed.reason == "NODE_FAIL" and failed.host and failed.host not in nxt["exclude"]:
        nxt["exclude"].append(failed.host)
    return nxt, ""


def _smallest(site: int | None, own: str | None, parse: Callable[[Any], int]) -> int | None:
    values = [v for v in (site, parse(own) if own is not None else None) if v is not None]
    return min(values) if values else None

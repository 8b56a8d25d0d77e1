"""The filters of :meth:`Store.list_runs <reflow.stores.Store.list_runs>`: state, time, count.

Applied to the run records a store lists, so every store gets them, whatever
its storage.  Values are checked once, when the filter is built, so a typo
fails in one line naming it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from reflow._types import RunState
from reflow.errors import ReflowError
from reflow.stores.records import RunRecord
from reflow.timetext import parse_since

__all__ = ["RunFilter"]


def _state(value: RunState | str) -> RunState:
    try:
        return RunState(value if isinstance(value, RunState) else str(value).strip().upper())
    except ValueError:
        choices = ", ".join(state.value for state in RunState)
        raise ReflowError(
            f"list_runs(status={value!r}): not a run state; use one of {choices}."
        ) from None


def _moment(value: datetime | str, option: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return parse_since(str(value), option)


@dataclass(frozen=True)
class RunFilter:
    """Which runs :meth:`apply` keeps: the checked form of ``list_runs``' arguments."""

    limit: int | None = None
    states: frozenset[RunState] | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def build(
        cls,
        *,
        limit: int | None = None,
        status: RunState | str | Iterable[RunState | str] | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> RunFilter:
        """Check the arguments of ``list_runs`` and return the filter they describe.

        Raises
        ------
        ReflowError
            If a state is unknown, a time unreadable or the limit not a whole number >= 0.
        """
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
        ):
            raise ReflowError(f"list_runs(limit={limit!r}): give a whole number of at least 0.")
        states = None
        if status is not None:
            many = [status] if isinstance(status, str | RunState) else list(status)
            states = frozenset(_state(s) for s in many)
        return cls(
            limit=limit,
            states=states,
            since=None if since is None else _moment(since, "list_runs(since=...)"),
            until=None if until is None else _moment(until, "list_runs(until=...)"),
        )

    def apply(self, records: Sequence[RunRecord]) -> list[RunRecord]:
        """The records (newest first, as listed) this filter keeps."""
        kept = [
            r
            for r in records
            if (self.states is None or r.status in self.states)
            and (self.since is None or _aware(r.created_at) >= self.since)
            and (self.until is None or _aware(r.created_at) < self.until)
        ]
        return kept if self.limit is None else kept[: self.limit]


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)

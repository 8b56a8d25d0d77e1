"""``run_local``'s automatic retries: a listed exception, or a worker that died.

The local engine calls :meth:`LocalRetries.again` for each failed instance;
when the task's policy (:mod:`reflow.define.retrypolicy`) lists the
exception's type (or ``"FAILED"`` for a worker process that died without a
result) and attempts are left, the attempt is recorded
(:mod:`reflow.runs.attempts`) and the instance runs again.  Nothing escalates
here: ``run_local`` enforces no memory or walltime, so an attempt asks for
what the task asks, and it starts at once (a backoff applies to scheduler
jobs only).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from reflow.runs.attempts import Attempt, AttemptLog
from reflow.runs.layout import RunLayout

if TYPE_CHECKING:
    from pathlib import Path

    from reflow.define.retrypolicy import Retry
    from reflow.engine.local.outcome import Outcome
    from reflow.workflow import Workflow

__all__ = ["LocalRetries", "local_reason"]

logger = logging.getLogger(__name__)


def local_reason(exception: BaseException | None) -> str:
    """The reason of a failed local attempt: ``FAILED`` for a dead worker, else the class name."""
    if exception is None or isinstance(exception, ChildProcessError):
        return "FAILED"  # the worker process died: no exception of the task's own
    return type(exception).__name__


class LocalRetries:
    """The retry decisions of one ``run_local`` run.

    Parameters
    ----------
    wf : Workflow
        The workflow (task policies, the site's ``[retries]``).
    run_dir : Path
        The run directory.
    run_id : str
        The run.
    host : str
        This host, recorded with each attempt.
    """

    def __init__(self, wf: Workflow, run_dir: Path, run_id: str, host: str) -> None:
        self.wf = wf
        self.log = AttemptLog(RunLayout(run_dir, run_id))
        self.host = host

    def policy(self, task: str) -> Retry | None:
        """The task's policy, else the site's ``[retries]``, else ``None``."""
        return self.wf.tasks[task].config.retry or self.wf.config.retry_default

    def retryable(self, tasks: Iterable[str]) -> dict[str, tuple[type[BaseException], ...]]:
        """Task name -> the exception types its policy lists (tasks with none left out)."""
        found = {}
        for task in tasks:
            policy = self.policy(task)
            if policy is not None and policy.exceptions and policy.retries:
                found[task] = policy.exceptions
        return found

    def again(self, task: str, outcome: Outcome) -> bool:
        """Record the failed attempt; whether the instance runs again."""
        spec = self.wf.tasks[task]
        policy = self.policy(task)
        if policy is None:
            return False
        reason = local_reason(outcome.exception)
        exc = outcome.exception
        if reason == "FAILED":
            listed = policy.counts(reason)
        else:
            listed = exc is not None and policy.counts_exception(exc)
        if not listed:
            return False
        index = outcome.index
        number = self.log.number(task, index)
        retry = number <= policy.retries
        cfg = spec.config
        resources = {"cpus": cfg.cpus, "mem": cfg.mem, "time": cfg.time, "exclude": []}
        detail = outcome.error.strip().splitlines()[-1] if outcome.error.strip() else ""
        attempt = Attempt(
            number,
            reason,
            True,
            resources,
            "",
            self.host,
            detail,
            next=resources if retry else None,
        )
        self.log.add(task, index, attempt)
        self.log.save()
        if retry:
            logger.warning("%s: attempt %d failed (%s); running it again", task, number, reason)
        return retry

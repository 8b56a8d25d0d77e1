"""The report's attempts table: every retried or requeued instance, one row per attempt.

Read from the run's ``attempts.json`` (:mod:`reflow.runs.attempts`); a run
whose instances all ran once has no such section.
"""

from __future__ import annotations

from html import escape

from reflow.report.data import ReportData
from reflow.runs.attempts import AttemptLog
from reflow.runs.layout import RunLayout

__all__ = ["MAX_ROWS", "attempts_html"]

MAX_ROWS = 200
"""Attempts listed; more are counted (a run with thousands of retries is read with status)."""


def attempts_html(data: ReportData) -> str:
    """The table, or ``""`` when no attempt of the run was retried or requeued."""
    if data.run_dir is None:
        return ""
    log = AttemptLog(RunLayout(data.run_dir, data.run.run_id))
    rows = []
    for key, items in log.entries.items():
        for attempt in items:
            res = attempt.resources
            nxt = attempt.next or {}
            asked_next = ", ".join(
                f"{k}={nxt[k]}" for k in ("mem", "time") if nxt.get(k) and nxt[k] != res.get(k)
            )
            if nxt.get("exclude") and nxt["exclude"] != res.get("exclude"):
                asked_next += (", " if asked_next else "") + "exclude " + ",".join(nxt["exclude"])
            then = asked_next or ("same request" if attempt.next else "not retried")
            rows.append(
                f"<tr><td>{escape(key)}</td><td class='num'>{attempt.number}</td>"
                f"<td><code>{escape(attempt.reason)}</code>"
                f"{'' if attempt.counted else ' (not counted)'}</td>"
                f"<td>{escape(str(res.get('mem', '')))}</td>"
                f"<td>{escape(str(res.get('time', '')))}</td>"
                f"<td>{escape(attempt.job_id)}</td><td>{escape(attempt.host)}</td>"
                f"<td>{escape(then)}</td></tr>"
            )
    if not rows:
        return ""
    more = (
        f"<p class='note'>{len(rows) - MAX_ROWS} more attempts: see reflow status.</p>"
        if len(rows) > MAX_ROWS
        else ""
    )
    return (
        "<p class='note'>Instances that ran more than once: each ended attempt, what it asked "
        "for and what the next one asked instead (see \u201cWhen jobs fail\u201d).</p>"
        "<table class='attempts'><thead><tr><th>instance</th><th>#</th><th>reason</th>"
        "<th>mem</th><th>time</th><th>job</th><th>host</th><th>then</th></tr></thead>"
        f"<tbody>{''.join(rows[:MAX_ROWS])}</tbody></table>{more}"
    )

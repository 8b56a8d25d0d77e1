"""The failures section: tracebacks of failed instances, and why others did not run."""

from __future__ import annotations

from html import escape

from reflow.report.data import InstanceInfo

__all__ = ["MAX_TRACEBACKS", "failures_html"]

MAX_TRACEBACKS = 50
"""Failed instances shown with their whole error text; the rest are counted by last line."""


_OPEN = 3
"""Tracebacks shown unfolded; the others unfold on a click."""


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no error recorded)"


def _grouped(infos: list[InstanceInfo], what: str) -> str:
    groups: dict[str, list[str]] = {}
    for info in infos:
        groups.setdefault(_last_line(info.error), []).append(info.label)
    rows = []
    for reason, labels in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        shown = ", ".join(labels[:8]) + (
            f", \u2026 ({len(labels) - 8} more)" if len(labels) > 8 else ""
        )
        rows.append(
            f"<tr><td class='num'>{len(labels)}</td><td><code>{escape(reason)}</code></td>"
            f"<td>{escape(shown)}</td></tr>"
        )
    return (
        f"<table class='grouped'><thead><tr><th>{escape(what)}</th><th>reason</th>"
        f"<th>instances</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def failures_html(instances: list[InstanceInfo]) -> str:
    """The section's body: each failure's traceback (up to a cap), then the rest grouped."""
    failed = [i for i in instances if i.state == "FAILED"]
    stopped = [i for i in instances if i.state in ("CANCELLED", "SKIPPED")]
    if not failed and not stopped:
        return "<p class='ok'>No instance failed.</p>"
    out: list[str] = []
    if failed:
        out.append(f"<p>{len(failed)} instance(s) failed.</p>")
    for shown, info in enumerate(failed[:MAX_TRACEBACKS]):
        where = ", ".join(
            part
            for part in (
                f"job {info.job_id}" if info.job_id else "",
                f"on {info.host}" if info.host else "",
            )
            if part
        )
        out.append(
            f"<details class='failure'{' open' if shown < _OPEN else ''}>"
            f"<summary><strong>{escape(info.label)}</strong>"
            f"{escape(f' ({where})' if where else '')}: <code>{escape(_last_line(info.error))}"
            f"</code></summary><pre>{escape(info.error or '(no error recorded)')}</pre></details>"
        )
    if len(failed) > MAX_TRACEBACKS:
        rest = failed[MAX_TRACEBACKS:]
        out.append(
            f"<p class='note'>{len(rest)} more failed instance(s) are not shown in full "
            f"(the report shows {MAX_TRACEBACKS}); by the last line of their error:</p>"
        )
        out.append(_grouped(rest, "failed"))
    if stopped:
        out.append(f"<h3>Cancelled or skipped ({len(stopped)})</h3>")
        out.append(_grouped(stopped, "count"))
    return "".join(out)

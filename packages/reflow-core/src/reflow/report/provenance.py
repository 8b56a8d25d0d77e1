"""The provenance section: what exactly ran, with which versions, where and by whom."""

from __future__ import annotations

from html import escape
from typing import Any

from reflow.report.data import ReportData
from reflow.report.values import show_value

__all__ = ["provenance_html"]


def _code(text: str) -> str:
    return f"<code>{escape(text)}</code>"


def _git(git: Any) -> str:
    if not isinstance(git, dict) or not git.get("commit"):
        return "not in a git repository (or git was not found)"
    state = (
        "<span class='warn'>dirty: uncommitted changes to tracked files</span>"
        if git.get("dirty")
        else "<span class='ok'>clean</span>"
    )
    return f"{_code(str(git['commit']))} {state}"


def provenance_html(data: ReportData) -> str:
    """The provenance table, or a note saying the run recorded none."""
    prov = data.provenance
    context = data.run.context
    if not prov:
        return (
            "<p class='note'>This run recorded no provenance (it was made by an older "
            "reflow, and its <code>run.json</code> is not readable here).</p>"
        )
    script = prov.get("script") if isinstance(prov.get("script"), dict) else None
    found = prov.get("packages")
    packages: dict[str, Any] = found if isinstance(found, dict) else {}
    options = dict(context.executor_options) if context is not None else {}
    rows = [
        ("command line", _code(str(prov.get("command") or "-"))),
        (
            "script",
            (
                f"{_code(str(script.get('path')))}<br><small>sha256 "
                f"{escape(str(script.get('sha256') or 'unreadable'))}</small>"
            )
            if script
            else "-",
        ),
        ("git", _git(prov.get("git"))),
        ("reflow", escape(str(prov.get("reflow") or "-"))),
        (
            "packages",
            ", ".join(f"{escape(n)}&nbsp;{escape(str(v))}" for n, v in packages.items()) or "-",
        ),
        (
            "python",
            f"{escape(str(prov.get('python') or '-'))} "
            f"<small>{escape(str(prov.get('python_executable') or ''))}</small>",
        ),
        ("user", escape(str(prov.get("user") or data.run.user_id))),
        ("host", escape(str(prov.get("host") or "-"))),
        (
            "executor",
            f"{escape(data.run.executor or '-')} "
            + (_code(show_value(options)) if options else ""),
        ),
        ("store", _code(context.store_url) if context is not None and context.store_url else "-"),
    ]
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table class='facts provenance'>{body}</table>"

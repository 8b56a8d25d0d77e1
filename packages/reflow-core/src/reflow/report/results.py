"""The results section: the outputs of ``report=True`` tasks, embedded in the page.

A ``Path`` output is embedded by its suffix, up to :data:`EMBED_LIMIT` bytes:

- ``.png``, ``.svg``: an ``<img>`` with a ``data:`` URI (an SVG drawn as an
  image runs no script and loads nothing);
- ``.csv``: a table of its first :data:`CSV_ROWS` rows;
- ``.html``, ``.htm``: the fragment in a sandboxed ``<iframe srcdoc>`` (no
  script runs; the page's Content-Security-Policy, which the frame inherits,
  refuses every request).

A larger file, or one of another kind, is linked (``file:`` URL), saying why;
a missing file says so.  Any other value is shown as text, cut at
:data:`VALUE_CHARS` characters.  Of an array task, the first
:data:`ELEMENT_CAP` elements are shown.
"""

from __future__ import annotations

import base64
import csv
import io
from html import escape
from pathlib import Path, PurePath
from typing import Any

from reflow.report.data import ReportData
from reflow.report.policy import CSP
from reflow.report.units import kib
from reflow.report.values import show_value

__all__ = ["CSV_ROWS", "ELEMENT_CAP", "EMBED_LIMIT", "VALUE_CHARS", "result_html", "results_html"]

EMBED_LIMIT = 2 * 1024 * 1024
"""Largest file embedded, in bytes; a larger one is linked."""

CSV_ROWS = 50
"""Rows of a CSV file shown."""

VALUE_CHARS = 2000
"""Characters of a value shown."""

ELEMENT_CAP = 20
"""Elements of an array task shown."""

_IMAGES = {".png": "image/png", ".svg": "image/svg+xml"}
_KINDS = (".png", ".svg", ".csv", ".html", ".htm")


def _link(path: Path, why: str) -> str:
    return (
        f"<p class='note'>{escape(why)}: <a href='{escape(path.resolve().as_uri())}'>"
        f"<code>{escape(str(path))}</code></a></p>"
    )


def _csv_table(text: str) -> str:
    rows = []
    for n, row in enumerate(csv.reader(io.StringIO(text))):
        if n > CSV_ROWS:
            rows.append(f"<tr><td colspan='{len(row) or 1}' class='note'>&hellip;</td></tr>")
            break
        tag = "th" if n == 0 else "td"
        rows.append("<tr>" + "".join(f"<{tag}>{escape(c)}</{tag}>" for c in row) + "</tr>")
    return f"<table class='csv'>{''.join(rows)}</table>"


def _file(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _KINDS:
        return _link(
            path, f"not embedded ({suffix or 'no suffix'} is not one of {', '.join(_KINDS)})"
        )
    try:
        size = path.stat().st_size
    except OSError:
        return f"<p class='note'>{escape(str(path))}: the file no longer exists.</p>"
    if size > EMBED_LIMIT:
        return _link(
            path,
            f"not embedded ({kib(size / 1024)}, over the {kib(EMBED_LIMIT / 1024)} limit)",
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return f"<p class='note'>{escape(str(path))}: cannot be read ({escape(str(exc))}).</p>"
    caption = f"<div class='note'><code>{escape(str(path))}</code></div>"
    if suffix in _IMAGES:
        uri = f"data:{_IMAGES[suffix]};base64,{base64.b64encode(raw).decode('ascii')}"
        return (
            f"<figure><img class='result' src='{uri}' alt='{escape(path.name)}'>{caption}</figure>"
        )
    text = raw.decode("utf-8", errors="replace")
    if suffix == ".csv":
        return _csv_table(text) + caption
    # The fragment's own policy first: no request from it, whichever frame policy applies.
    text = f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">{text}"
    return (
        f"<iframe class='result' sandbox srcdoc=\"{escape(text, quote=True)}\" "
        f"title='{escape(path.name)}'></iframe>{caption}"
    )


def result_html(value: Any) -> str:
    """One output as HTML (see the module docstring)."""
    if isinstance(value, PurePath):
        return _file(Path(value))
    text = show_value(value)
    cut = ""
    if len(text) > VALUE_CHARS:
        cut = f"<div class='note'>first {VALUE_CHARS} of {len(text)} characters</div>"
        text = text[:VALUE_CHARS]
    return f"<pre class='value'>{escape(text)}</pre>{cut}"


def results_html(data: ReportData) -> str:
    """Every ``report=True`` task's outputs, or a note on how to add some."""
    shown = [task for task in data.tasks if task.report]
    if not shown:
        return (
            "<p class='note'>No task marks its output for the report. Add "
            "<code>report=True</code> to a job whose output is a <code>Path</code> to a "
            "PNG, SVG, CSV or HTML file, or a small value.</p>"
        )
    parts = []
    for task in shown:
        outputs = data.outputs.get(task.name, [])
        parts.append(f"<h3 data-task='{escape(task.name)}'>{escape(task.name)}</h3>")
        if not outputs:
            parts.append("<p class='note'>No instance succeeded: nothing to show.</p>")
            continue
        for index, value in outputs[:ELEMENT_CAP]:
            label = "" if index is None else f"<div class='note'>[{index}]</div>"
            parts.append(f"<div class='result-item'>{label}{result_html(value)}</div>")
        if len(outputs) > ELEMENT_CAP:
            parts.append(
                f"<p class='note'>{len(outputs) - ELEMENT_CAP} more elements not shown.</p>"
            )
    return "".join(parts)

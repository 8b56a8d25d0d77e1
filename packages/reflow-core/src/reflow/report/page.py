"""The report as one self-contained HTML page.

Everything is inline: the style sheet, the SVG drawings, the tables and the
embedded results.  There is no script, no font and no link to anything
outside the file, so it opens offline; a Content-Security-Policy refuses
every request the page (or an embedded HTML result) could make, so nothing
leaves the browser.  Every string that comes from the user or the run (task
names, parameters, errors, host names) goes through :func:`html.escape`.

The page is a list of sections, :data:`SECTIONS`: each is a
:class:`Section` whose body comes from its own module.  A new section is one
module and one entry there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from reflow._version import __version__
from reflow.report.advice_section import advice_html
from reflow.report.attempts import attempts_html
from reflow.report.dag import dag_svg
from reflow.report.data import ReportData
from reflow.report.distributions import distributions_html
from reflow.report.failures import failures_html
from reflow.report.policy import CSP
from reflow.report.provenance import provenance_html
from reflow.report.resources import resources_html
from reflow.report.results import results_html
from reflow.report.states import CACHED, STATE_COLOURS, WAIT
from reflow.report.timeline import TASK_CAP, TOTAL_CAP, timeline_rows, timeline_svg
from reflow.report.units import duration, timestamp
from reflow.report.values import show_value

__all__ = ["CSP", "SECTIONS", "Section", "render_page"]


_STYLE = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial,
  sans-serif; margin: 0; color: #1d232b; background: #f6f7f9; }
header { background: #1f2d3d; color: #fff; padding: 18px 28px; }
header h1 { margin: 0; font-size: 20px; font-weight: 600; }
header .sub { opacity: .8; margin-top: 2px; }
main { padding: 8px 28px 40px; max-width: 1400px; }
section { background: #fff; border: 1px solid #dde2e8; border-radius: 8px; padding: 12px 18px;
  margin: 16px 0; overflow-x: auto; }
h2 { font-size: 17px; margin: 4px 0 10px; }
h3 { font-size: 15px; margin: 14px 0 6px; }
table { border-collapse: collapse; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eceff3; text-align: left;
  vertical-align: top; }
th { background: #f1f3f6; font-weight: 600; }
td.num, th.num { text-align: right; white-space: nowrap; }
td.warn { color: #a33c00; font-weight: 600; }
.facts th { background: none; font-weight: 600; padding-left: 0; white-space: nowrap; }
.gauge { display: inline-block; width: 44px; height: 6px; background: #e6e9ee;
  margin-left: 6px; vertical-align: middle; border-radius: 3px; overflow: hidden; }
.gauge span { display: block; height: 6px; background: #5b7fa6; }
td.warn .gauge span { background: #d9822b; }
.note { color: #55606c; font-size: 13px; }
.ok { color: #2e7d4f; }
.state { display: inline-block; padding: 0 7px; border-radius: 9px; color: #fff;
  font-size: 12px; font-weight: 600; }
.legend span { display: inline-block; margin-right: 14px; font-size: 12px; }
.legend i { display: inline-block; width: 11px; height: 11px; border-radius: 2px;
  margin-right: 4px; vertical-align: -1px; }
pre { background: #f7f7f9; border: 1px solid #e4e6ea; padding: 8px 10px; overflow-x: auto;
  font-size: 12.5px; max-height: 420px; }
code { font-size: 12.5px; }
details.failure { margin: 6px 0; }
details.failure summary { cursor: pointer; }
#dag .node-name { font-size: 13px; font-weight: 600; text-anchor: middle; fill: #1d232b; }
#dag .node-counts { font-size: 11px; text-anchor: middle; fill: #55606c; }
#dag .edge path { fill: none; stroke: #8590a0; stroke-width: 1.6; }
#dag .edge.after path { stroke-dasharray: 5 4; }
#dag .edge-label { font-size: 11px; text-anchor: middle; fill: #3a4756; paint-order: stroke;
  stroke: #fff; stroke-width: 4px; stroke-linejoin: round; }
#timeline .tick { font-size: 10.5px; text-anchor: middle; fill: #55606c; }
#timeline .grid { stroke: #eceff3; stroke-width: 1; }
#timeline .row-label { font-size: 11px; text-anchor: end; fill: #1d232b; }
#timeline .row:hover .row-label { font-weight: 700; }
#timeline .bar.open { opacity: .6; }
svg.dist .axis { stroke: #c9ced6; stroke-width: 1; }
svg.dist .whisker { stroke: #8590a0; stroke-width: 1; }
svg.dist .box { fill: #dce6f2; stroke: #5b7fa6; stroke-width: 1; }
svg.dist .pts circle { fill: #2f5d8a; fill-opacity: .45; }
svg.dist .median { stroke: #1d232b; stroke-width: 2; }
table.distributions td { vertical-align: middle; }
span.warn { color: #a33c00; font-weight: 600; }
img.result { max-width: 100%; max-height: 480px; border: 1px solid #e4e6ea; }
iframe.result { width: 100%; height: 320px; border: 1px solid #e4e6ea; }
table.csv td, table.csv th { font-size: 12.5px; padding: 2px 8px; }
"""


def _badge(state: str) -> str:
    colour = STATE_COLOURS.get(state, "#777777")
    return f"<span class='state' style='background:{colour}'>{escape(state)}</span>"


def _legend(extra: list[tuple[str, str]]) -> str:
    items = [(state.lower(), colour) for state, colour in STATE_COLOURS.items()] + extra
    return (
        "<div class='legend'>"
        + "".join(f"<span><i style='background:{c}'></i>{escape(n)}</span>" for n, c in items)
        + "</div>"
    )


def _facts(data: ReportData) -> str:
    run = data.run
    created = run.created_at.timestamp()
    ends = [i.end or i.updated for i in data.instances]
    last = max(ends) if ends else None
    counts: dict[str, int] = {}
    for info in data.instances:
        counts[info.state] = counts.get(info.state, 0) + 1
    cached = sum(1 for i in data.instances if i.cached)
    states = " ".join(f"{_badge(s)} {n}" for s, n in sorted(counts.items())) or "none"
    params = {k: v for k, v in run.parameters.items() if not k.startswith("__") and k != "run_dir"}
    rows = [
        ("workflow", escape(run.graph_name)),
        ("status", _badge(run.status.value)),
        ("executor", escape(run.executor or "-")),
        ("user", escape(run.user_id)),
        ("created", timestamp(created)),
        ("last activity", timestamp(last)),
        ("span", duration(None if last is None else last - created)),
        ("instances", f"{len(data.instances)} &mdash; {states}; {cached} from the cache"),
        ("run directory", f"<code>{escape(str(data.run_dir or '-'))}</code>"),
        (
            "parameters",
            ", ".join(
                f"<code>{escape(k)}={escape(show_value(v, 200))}</code>"
                for k, v in sorted(params.items())
            )
            or "none",
        ),
    ]
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table class='facts'>{body}</table>"


@dataclass(frozen=True)
class Section:
    """One section of the page.

    Attributes
    ----------
    id : str
        Its HTML id (``#resources``), which links and tests use.
    title : str
        Its heading.
    body : Callable[[ReportData], str]
        Renders its HTML (everything below the heading).
    """

    id: str
    title: str
    body: Callable[[ReportData], str]
    optional: bool = False
    """Left out of the page when its body is empty (a run without retries has no attempts)."""

    def render(self, data: ReportData) -> str:
        """The ``<section>`` element, or ``""`` for an optional section with nothing to say."""
        body = self.body(data)
        if self.optional and not body:
            return ""
        return f"<section id='{self.id}'><h2>{escape(self.title)}</h2>{body}</section>"


def _summary(data: ReportData) -> str:
    _, aggregated = timeline_rows(data)
    notes = list(data.notes)
    if aggregated:
        notes.append(
            f"{len(data.instances)} instances: to keep this file usable, "
            f"{len(aggregated)} task(s) ({', '.join(aggregated)}) are drawn on the timeline as "
            f"one row each (a task is aggregated beyond {TASK_CAP} instances, every task beyond "
            f"{TOTAL_CAP} rows). Hover a row for its count and median figures."
        )
    notes_html = "".join(f"<p class='note'>{escape(n)}</p>" for n in notes)
    return f"{_facts(data)}{notes_html}"


def _graph(data: ReportData) -> str:
    return (
        "<p class='note'>Each node is a task, outlined in the colour of its most telling state "
        "(any failure first); the stripe shows its instances by state. Edges carry the "
        "parameter and its wire mode; dashed edges are <code>after=</code> orderings.</p>"
        f"{_legend([])}{dag_svg(data.tasks, data.edges)}"
    )


def _timeline(data: ReportData) -> str:
    rows, _ = timeline_rows(data)
    timeline_legend = _legend([("queue wait", WAIT), ("cache hit", CACHED)])
    return (
        "<p class='note'>One row per task instance, from the start of the run: the light bar "
        "is the queue wait (created, ready to run, until its function started), the coloured "
        "bar the run time. Hover a row for its times, host, CPU time and memory.</p>"
        f"{timeline_legend}{timeline_svg(data, rows)}"
    )


SECTIONS: list[Section] = [
    Section("summary", "Run", _summary),
    Section("provenance", "Provenance: what exactly ran", provenance_html),
    Section("graph", "Task graph", _graph),
    Section("results", "Results", results_html),
    Section("timeline-section", "Timeline", _timeline),
    Section("resources", "Resources: asked for and used", resources_html),
    Section("distributions", "Distributions per task", distributions_html),
    Section("advice", "Next time: what to ask for", advice_html),
    Section("failures", "Failures", lambda data: failures_html(data.instances)),
    Section("attempts", "Attempts", attempts_html, optional=True),
]
"""The page's sections, in order."""


def render_page(data: ReportData) -> str:
    """Render the whole report.

    Parameters
    ----------
    data : ReportData
        What :func:`reflow.report.data.gather` collected.

    Returns
    -------
    str
        The HTML document.
    """
    run_id = escape(data.run.run_id)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<meta name='generator' content='reflow {escape(__version__)}'>"
        f"<title>reflow report: {run_id}</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>Run {run_id}</h1><div class='sub'>workflow "
        f"{escape(data.run.graph_name)} &middot; report made {timestamp(data.generated)} "
        f"by reflow {escape(__version__)}</div></header><main>"
        + "".join(section.render(data) for section in SECTIONS)
        + "</main></body></html>\n"
    )

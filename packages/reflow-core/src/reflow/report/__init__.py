"""``reflow report``: one self-contained HTML file describing a run.

The file holds the task graph (nodes coloured by state, edges labelled with
their wire modes), a timeline of every task instance (queue wait and run
time), the failures with their tracebacks, and per task the resources asked
for against those used (see :mod:`reflow.report.efficiency`).  It needs no
network to be viewed: everything is inline.

Modules: :mod:`~reflow.report.data` gathers the figures from the store and
the run directory; :mod:`~reflow.report.layout` and :mod:`~reflow.report.dag`
draw the graph; :mod:`~reflow.report.timeline` the timeline;
:mod:`~reflow.report.efficiency` and :mod:`~reflow.report.resources` the
resource figures; :mod:`~reflow.report.failures` the failures; and
:mod:`~reflow.report.page` puts the page together.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from reflow.errors import ReflowError
from reflow.report.data import ReportData, gather
from reflow.report.page import render_page

if TYPE_CHECKING:
    from reflow.stores import Store

__all__ = ["ReportData", "gather", "render_page", "write_report"]


def write_report(store: Store, run_id: str, path: str | Path) -> ReportData:
    """Write the HTML report of ``run_id`` to ``path``.

    The file is written to a temporary name next to ``path`` and renamed, so a
    browser never shows half a report.

    Parameters
    ----------
    store : Store
        The manifest store holding the run.
    run_id : str
        The run.
    path : str or Path
        Where to write the file.

    Returns
    -------
    ReportData
        What the report shows.

    Raises
    ------
    ReflowError
        If there is no such run, or the file cannot be written.
    """
    import os
    import tempfile

    data = gather(store, run_id)
    html = render_page(data)
    target = Path(path).expanduser()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(html)
            Path(tmp).chmod(0o644)
            Path(tmp).replace(target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ReflowError(
            f"Cannot write the report to {target}: {exc.strerror or exc}. "
            "Give a writable path with -o."
        ) from exc
    return data

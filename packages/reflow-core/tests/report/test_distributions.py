"""Per-task distributions: small inline box-and-strip plots, capped for large arrays."""

from __future__ import annotations

import re

from reflow.report.distributions import STRIP_CAP, quantile, strip_svg
from reflow.report.units import duration


def test_quantiles_interpolate_between_sorted_values() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert (quantile(values, 0), quantile(values, 0.5), quantile(values, 1)) == (1.0, 2.5, 4.0)
    assert quantile([7.0], 0.25) == 7.0


def test_a_plot_shows_the_spread_and_stays_small_for_ten_thousand_instances() -> None:
    values = [float(i % 100) for i in range(10_000)]
    svg = strip_svg(values, duration, "run time")
    assert svg.startswith('<svg class="dist"') and "<script" not in svg
    assert len(re.findall(r"<circle ", svg)) <= STRIP_CAP
    assert len(svg) < 30_000
    assert "min 0.00 s, median 49.5 s, max 1m 39s over 10000 instances" in svg
    # The box spans the quartiles: from a quarter to three quarters of the axis.
    box = re.search(r'class="box" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg)
    assert box is not None
    left, width = float(box.group(1)), float(box.group(2))
    assert 50 < left < 62 and 100 < width < 112

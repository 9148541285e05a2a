"""Server-rendered SVG charts for the PDF and for pages without JavaScript.

The page itself draws the same data with ECharts (static/vendor/echarts); these functions
give a printable, dependency-free equivalent.
"""

from __future__ import annotations

import math
from typing import TypedDict

from django.utils.html import escape

SERIES_COLOURS = ["#1f5fbf", "#9aa5b1", "#e07b00"]
# The PDF's font list (reports/templates/reports/team_pdf.html): WeasyPrint does not pass
# the page's fonts on to an inline SVG, whose text would otherwise take the system default.
FONT_FAMILY = "DejaVu Sans, Noto Sans CJK SC, sans-serif"


class ChartSeries(TypedDict):
    name: str
    values: list[float | None]  # one score per dimension, as shown; None: no score


class ChartLevel(TypedDict):
    name: str
    threshold: float  # 0-100


class RadarChart(TypedDict):
    """A radar chart's data (reports.selectors.TeamReport.chart_data), JSON-ready."""

    dimensions: list[str]  # names, one axis each
    series: list[ChartSeries]
    levels: list[ChartLevel]


def radar_svg(data: RadarChart, size: int = 420) -> str:
    """Return an SVG radar of ``data`` (TeamReport.chart_data()): one polygon per series,
    level bands as rings, dimension names around."""
    names = data["dimensions"]
    count = len(names)
    if count < 3:
        return ""
    width = size + 240  # room for dimension names left and right
    centre_x, centre, radius = width / 2, size / 2, size / 2 - 70

    def point(index: int, value: float) -> tuple[float, float]:
        angle = -math.pi / 2 + 2 * math.pi * index / count
        distance = radius * max(0.0, min(value, 100.0)) / 100
        return centre_x + distance * math.cos(angle), centre + distance * math.sin(angle)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {size}" '
        f'width="{width}" height="{size}" font-family="{FONT_FAMILY}" role="img" '
        'aria-label="Radar chart of dimension scores">'
    ]
    for level in data["levels"]:
        ring = [point(i, level["threshold"] or 0.5) for i in range(count)]
        parts.append(
            '<polygon fill="none" stroke="#d9dee5" stroke-width="1" points="'
            + " ".join(f"{x:.1f},{y:.1f}" for x, y in ring)
            + '"/>'
        )
    outer = [point(i, 100) for i in range(count)]
    parts.append(
        '<polygon fill="none" stroke="#9aa5b1" stroke-width="1" points="'
        + " ".join(f"{x:.1f},{y:.1f}" for x, y in outer)
        + '"/>'
    )
    for index, name in enumerate(names):
        x, y = point(index, 100)
        parts.append(
            f'<line x1="{centre}" y1="{centre}" x2="{x:.1f}" y2="{y:.1f}" stroke="#eef0f3"/>'
        )
        lx, ly = point(index, 118)
        anchor = "middle" if abs(lx - centre_x) < 10 else ("start" if lx > centre_x else "end")
        label = escape(name if len(name) <= 40 else name[:38] + "…")
        parts.append(
            f'<text x="{lx:.1f}" y="{ly:.1f}" font-size="10" text-anchor="{anchor}" '
            f'fill="#1b2430">{label}</text>'
        )
    for series_index, series in enumerate(data["series"]):
        values = series["values"]
        if all(value is None for value in values):
            continue
        colour = SERIES_COLOURS[series_index % len(SERIES_COLOURS)]
        dash = ' stroke-dasharray="4 3"' if series_index else ""
        if None not in values:
            shape = [point(i, value) for i, value in enumerate(values) if value is not None]
            fill = "0.18" if series_index == 0 else "0"
            parts.append(
                f'<polygon fill="{colour}" fill-opacity="{fill}" stroke="{colour}" '
                f'stroke-width="2"{dash} points="'
                + " ".join(f"{x:.1f},{y:.1f}" for x, y in shape)
                + '"/>'
            )
            continue
        # A dimension without a score (e.g. one the previous round's framework version did
        # not have) is a gap in the line, never a point at 0.
        for run in _defined_runs(values):
            shape = [point(i, values[i] or 0.0) for i in run]
            if len(shape) == 1:
                ((x, y),) = shape
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')
                continue
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="'
                + " ".join(f"{x:.1f},{y:.1f}" for x, y in shape)
                + '"/>'
            )
    legend_y = size - 14 * len(data["series"])
    for series_index, series in enumerate(data["series"]):
        colour = SERIES_COLOURS[series_index % len(SERIES_COLOURS)]
        y = legend_y + 14 * series_index
        parts.append(f'<rect x="8" y="{y - 9}" width="10" height="10" fill="{colour}"/>')
        parts.append(
            f'<text x="24" y="{y}" font-size="10" fill="#1b2430">{escape(series["name"])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _defined_runs(values: list[float | None]) -> list[list[int]]:
    """Return the indices of the defined values in runs that are adjacent on the radar
    (which wraps around): [1, None, 3, 4] -> [[2, 3, 0]]; [1, 2, None, None, 5] ->
    [[4, 0, 1]]."""
    count = len(values)
    start = next((i for i, value in enumerate(values) if value is None), None)
    if start is None:
        return [list(range(count))]
    runs: list[list[int]] = []
    current: list[int] = []
    for offset in range(1, count + 1):
        index = (start + offset) % count
        if values[index] is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append(index)
    if current:
        runs.append(current)
    return runs

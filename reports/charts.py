"""Server-rendered SVG charts for the PDF and for pages without JavaScript.

The page itself draws the same data with ECharts (static/vendor/echarts); these functions
give a printable, dependency-free equivalent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
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


LABEL_FONT_SIZE = 10  # px, the dimension names and the legend
LINE_HEIGHT = 12  # px
LABEL_CHARACTERS = 24  # a dimension name wraps at spaces onto lines of at most this many
MIDDLE_LABEL_CHARACTERS = 16
LEGEND_CHARACTERS = 70
# A generous average advance of DejaVu Sans (capitals and "m" are wider than 0.6 em), so
# that the estimated box of a name is never narrower than the drawn one.
CHARACTER_WIDTH = 0.64 * LABEL_FONT_SIZE
MARGIN = 6  # px around everything drawn


def wrap_label(text: str, width: int = LABEL_CHARACTERS) -> list[str]:
    """Return ``text`` broken at spaces into lines of at most ``width`` characters.

    A word longer than ``width`` keeps a line of its own, unbroken: names are never cut.
    """
    lines: list[str] = []
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line] if line else lines or [""]


class _Box:
    """The estimated extent of what the chart draws, in SVG user units (px)."""

    def __init__(self) -> None:
        self.left, self.top, self.right, self.bottom = math.inf, math.inf, -math.inf, -math.inf

    def add(self, left: float, top: float, right: float, bottom: float) -> None:
        self.left, self.top = min(self.left, left), min(self.top, top)
        self.right, self.bottom = max(self.right, right), max(self.bottom, bottom)


def _text_lines(lines: list[str], x: float, first_baseline: float, anchor: str, box: _Box) -> str:
    """Return one <text> with a <tspan> per line, and add its estimated extent to ``box``."""
    width = max(len(line) for line in lines) * CHARACTER_WIDTH
    left = {"start": x, "middle": x - width / 2, "end": x - width}[anchor]
    last_baseline = first_baseline + LINE_HEIGHT * (len(lines) - 1)
    box.add(
        left,
        first_baseline - LABEL_FONT_SIZE,
        left + width,
        last_baseline + 0.3 * LABEL_FONT_SIZE,
    )
    spans = "".join(
        f'<tspan x="{x:.1f}" y="{first_baseline + LINE_HEIGHT * index:.1f}">{escape(line)}</tspan>'
        for index, line in enumerate(lines)
    )
    return (
        f'<text font-size="{LABEL_FONT_SIZE}" text-anchor="{anchor}" fill="#1b2430">{spans}</text>'
    )


def radar_svg(data: RadarChart, size: int = 420) -> str:
    """Return an SVG radar of ``data`` (TeamReport.chart_data()): one polygon per series,
    level bands as rings, dimension names around, the legend below; "" under 3 dimensions.

    ``size`` is the square (px) the rings and the names' anchor points take; long names
    wrap onto more lines (``wrap_label``) instead of being cut, and the viewBox grows to
    the estimated extent of every name and legend line, so that nothing is clipped (on
    the page's print fallback and in the PDF).
    """
    names = data["dimensions"]
    count = len(names)
    if count < 3:
        return ""
    centre_x = centre = size / 2
    radius = size / 2 - 70

    def point(index: int, value: float) -> tuple[float, float]:
        angle = -math.pi / 2 + 2 * math.pi * index / count
        distance = radius * max(0.0, min(value, 100.0)) / 100
        return centre_x + distance * math.cos(angle), centre + distance * math.sin(angle)

    box = _Box()
    box.add(centre_x - radius, centre - radius, centre_x + radius, centre + radius)
    parts: list[str] = []
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
            f'<line x1="{centre_x}" y1="{centre}" x2="{x:.1f}" y2="{y:.1f}" stroke="#eef0f3"/>'
        )
        parts.append(_dimension_label(name, *point(index, 118), centre_x, centre, box))
    parts.extend(_series_shapes(data, point))
    legend_top = box.bottom + LINE_HEIGHT
    for series_index, series in enumerate(data["series"]):
        colour = SERIES_COLOURS[series_index % len(SERIES_COLOURS)]
        lines = wrap_label(series["name"], LEGEND_CHARACTERS)
        baseline = legend_top + LABEL_FONT_SIZE
        left = box.left + 2
        parts.append(
            f'<rect x="{left:.1f}" y="{baseline - 9:.1f}" width="10" height="10" fill="{colour}"/>'
        )
        parts.append(_text_lines(lines, left + 16, baseline, "start", box))
        legend_top = box.bottom + 4
    left, top = box.left - MARGIN, box.top - MARGIN
    width, height = box.right - box.left + 2 * MARGIN, box.bottom - box.top + 2 * MARGIN
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{left:.1f} {top:.1f} {width:.1f} '
        f'{height:.1f}" width="{width:.0f}" height="{height:.0f}" font-family="{FONT_FAMILY}" '
        'role="img" aria-label="Radar chart of dimension scores">'
    )
    return head + "".join(parts) + "</svg>"


def _dimension_label(
    name: str, x: float, y: float, centre_x: float, centre: float, box: _Box
) -> str:
    """Return a dimension's name placed at its axis end (x, y), wrapped, growing away from
    the rings: upwards at the top, downwards at the bottom, centred on the point at the
    sides, and in between in proportion (so that a low side label does not run into the
    ring above it)."""
    anchor = "middle" if abs(x - centre_x) < 10 else ("start" if x > centre_x else "end")
    # A name centred above or below the rings wraps narrower: its neighbours come close.
    lines = wrap_label(name, MIDDLE_LABEL_CHARACTERS if anchor == "middle" else LABEL_CHARACTERS)
    block = LINE_HEIGHT * (len(lines) - 1)
    # -1 at the top of the chart, 0 at the sides, 1 at the bottom.
    down = (y - centre) / max(1.0, math.hypot(x - centre_x, y - centre))
    first_baseline = y - block * (1 - down) / 2 + (0.35 + 0.65 * down) * LABEL_FONT_SIZE
    return _text_lines(lines, x, first_baseline, anchor, box)


def _series_shapes(
    data: RadarChart, point: Callable[[int, float], tuple[float, float]]
) -> list[str]:
    """Return the SVG shapes of every series: a polygon, or lines around missing values."""
    parts: list[str] = []
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
    return parts


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

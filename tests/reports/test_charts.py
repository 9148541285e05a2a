"""The server-rendered radar chart (reports.charts.radar_svg): what it draws for gaps."""

from __future__ import annotations

import re

from reports.charts import radar_svg

SIZE = 420
CENTRE = f"{SIZE / 2:.1f},{SIZE / 2:.1f}"


def chart(*series: list[float | None]):
    return {
        "dimensions": ["A", "B", "C", "D"],
        "series": [{"name": f"s{i}", "values": values} for i, values in enumerate(series)],
        "levels": [{"name": "Initial", "threshold": 0}, {"name": "Managed", "threshold": 60}],
    }


def test_a_complete_series_is_one_closed_polygon():
    svg = radar_svg(chart([50.0, 60.0, 70.0, 80.0]), size=SIZE)
    assert len(re.findall(r"<polygon[^>]*stroke-width=\"2\"", svg)) == 1


def test_a_dimension_without_a_score_is_a_gap_never_a_point_at_the_centre():
    """Break-it finding: the previous (v1) round was drawn at 0 on the three dimensions
    version 1 did not have, as if it had scored 0 there."""
    svg = radar_svg(chart([50.0, 60.0, 70.0, 80.0], [40.0, None, 55.0, 65.0]), size=SIZE)
    lines = re.findall(r'<polyline[^>]*points="([^"]+)"', svg)
    assert len(lines) == 1
    assert len(lines[0].split()) == 3  # C, D, A: around the missing B
    assert CENTRE not in lines[0]

"""The server-rendered radar chart (reports.charts.radar_svg): what it draws for gaps, and
long names wrapped whole inside its viewBox (the PDF cut them: "…rting, incident
management and resi…")."""

from __future__ import annotations

import re

from reports.charts import radar_svg, wrap_label

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


LONG_NAMES = [
    "Alerting, incident management and resilience",
    "Reproducible environments and infrastructure as code",
    "Supercalifragilisticexpialidocious-observability-platform",  # one long word
    "Data",
    "Responsible AI & <model> risk",
]


def test_wrap_label_breaks_at_spaces_and_never_cuts_a_word():
    assert wrap_label("Alerting, incident management and resilience", 24) == [
        "Alerting, incident",
        "management and",
        "resilience",
    ]
    word = LONG_NAMES[2]
    assert wrap_label(word, 24) == [word]
    assert all(len(line) <= 24 for line in wrap_label(LONG_NAMES[1], 24))


def test_radar_svg_draws_every_name_whole_and_its_viewbox_holds_the_labels():
    chart = {
        "dimensions": LONG_NAMES,
        "series": [
            {
                "name": "A round with a rather long title, as people write them, Q4 2026",
                "values": [50.0] * 5,
            },
            {"name": "Organisation median", "values": [40.0, None, 60.0, 70.0, 20.0]},
        ],
        "levels": [{"name": "Initial", "threshold": 0}, {"name": "Managed", "threshold": 60}],
    }
    svg = radar_svg(chart)
    assert "…" not in svg
    texts = [
        " ".join(re.findall(r"<tspan[^>]*>([^<]*)</tspan>", text))
        for text in re.findall(r"<text[^>]*>(.*?)</text>", svg)
    ]
    escaped = [
        name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for name in LONG_NAMES
    ]
    for name in escaped:
        assert name in texts, (name, texts)
    for series in chart["series"]:
        assert series["name"] in texts
    left, top, width, height = (float(v) for v in re.search(r'viewBox="([^"]+)"', svg)[1].split())
    for x, y in re.findall(r'<tspan x="([-\d.]+)" y="([-\d.]+)"', svg):
        assert left <= float(x) <= left + width and top <= float(y) <= top + height

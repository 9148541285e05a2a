"""The team report's PDF reads well on paper (issue 17, "Phones and print"): pages are
filled, radar names are whole, level badges stay on one line, and the answer-distribution
bars have a legend and their counts in print (not only in hover tooltips)."""

from __future__ import annotations

import re

import pytest

from reports import selectors
from tests.pdf import pdf_page_fill, pdf_text
from tests.reports.test_reports import rounds  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def pdf(client, rounds, team, manager):  # noqa: F811 - fixture
    _, survey = rounds
    client.force_login(manager)
    response = client.get(f"/reports/teams/{team.slug}/report.pdf?survey={survey.pk}")
    assert response.status_code == 200
    return response.content


def test_no_page_but_the_last_is_left_half_empty(pdf):
    """Every section had to fit on one page: the first page held the radar and nothing
    else. Sections now flow; only a heading is kept with what follows it."""
    fills = pdf_page_fill(pdf)
    assert len(fills) >= 2
    assert all(fill >= 0.8 for fill in fills[:-1]), fills


def test_radar_names_are_whole_in_the_pdf(pdf, rounds, team):  # noqa: F811 - fixture
    _, survey = rounds
    first_page = pdf_text(pdf).split("\f")[0]
    assert "…" not in first_page
    words = " ".join(first_page.split())
    for name in survey.framework.dimensions.values_list("name", flat=True):
        assert name in words, name


def test_level_badges_stay_on_one_line(pdf, rounds, team):  # noqa: F811 - fixture
    _, survey = rounds
    text = pdf_text(pdf)
    report = selectors.team_report(survey, team)
    for row in report.dimensions:
        badge = f"{row.level} · {row.level_name}"
        assert badge in text, (badge, "wrapped or missing")


def test_distribution_bars_have_a_legend_and_printed_counts(pdf, rounds, team):  # noqa: F811
    _, survey = rounds
    report = selectors.team_report(survey, team)
    assert report.contested
    laid_out = " ".join(pdf_text(pdf, layout=True).split())
    assert "Bars: answers per level, 0 1 2 3 4 (highest); after each bar, “level: answers”" in (
        laid_out
    )
    text = " ".join(pdf_text(pdf).split())
    for question in report.contested:
        counts = " · ".join(
            f"{choice['score']}: {choice['count']}"
            for choice in question.distribution
            if choice["count"]
        )
        assert re.search(
            re.escape(question.question.text) + r".{0,120}" + re.escape(counts), text
        ), (
            question.question.key,
            counts,
        )

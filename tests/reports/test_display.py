"""What a report shows is what the rules say: a displayed score never crosses a level
threshold the level rule did not cross (issue 13, section 7), on every page, chart and PDF.

The pure rule (reports.display.shown) is checked against the engine's own rules with
hypothesis; the pages, chart JSON and PDF are checked with a stored score of 79.96."""

from __future__ import annotations

import json
import math
import re
import unicodedata

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from maturity.scoring import (
    CONTESTED_STD,
    CONTESTED_TOLERANCE,
    FULL_SCORE_TOLERANCE,
    LEVEL_TOLERANCE,
    level_for,
)
from reports.display import shown, shown_text
from reports.models import DimensionScore, TeamScore
from tests.pdf import pdf_fonts, pdf_text
from tests.reports.test_reports import report_urls, rounds  # noqa: F401 - fixture

# --- the rule, without a database ------------------------------------------------------------


def test_a_score_just_below_a_threshold_is_truncated_not_rounded_up():
    assert shown(79.96) == 79.9
    assert shown_text(79.96) == "79.9"
    assert shown(79.99) == 79.9
    assert shown_text(80.0) == "80.0"
    assert shown(80.04) == 80.0


def test_float_noise_the_level_rule_absorbs_is_absorbed_in_the_display_too():
    # The level rule counts 79.99999999999 as 80 (1e-9 tolerance), so the page says 80.0.
    assert shown(79.99999999999) == 80.0
    assert shown(2.3) == 2.3  # 2.3 * 10 is 22.999999999999996 in binary
    assert shown(0.3, 1) == 0.3


def test_other_precisions_and_missing_values():
    assert shown(0.2496, 2) == 0.24
    assert shown_text(0.25, 2) == "0.25"
    assert shown(79.96, 0) == 79.0
    assert shown(None) is None and shown(math.nan) is None and shown(math.inf) is None
    assert shown_text(None) == ""


def test_every_threshold_rule_of_the_engine_uses_the_display_tolerance():
    assert LEVEL_TOLERANCE == CONTESTED_TOLERANCE == FULL_SCORE_TOLERANCE


# Thresholds a one-decimal display can show (the shipped ones are 0/20/40/60/80).
thresholds_on_the_grid = st.lists(
    st.integers(min_value=1, max_value=1000), min_size=1, max_size=6, unique=True
).map(lambda tenths: [0.0, *sorted(t / 10 for t in tenths)])


@st.composite
def thresholds_and_score(draw):
    thresholds = draw(thresholds_on_the_grid)
    near = draw(st.sampled_from(thresholds))
    score = draw(
        st.one_of(
            st.floats(min_value=0, max_value=100, allow_nan=False),
            # The hard cases: within float noise of a threshold, on either side.
            st.floats(min_value=-2e-9, max_value=2e-9).map(lambda d: max(0.0, near + d)),
            st.integers(-3, 3).map(lambda ulps: max(0.0, near + ulps * math.ulp(near or 1.0))),
        )
    )
    return thresholds, score


@given(thresholds_and_score())
def test_the_shown_score_stays_inside_the_level_the_rule_gives(case):
    thresholds, score = case
    levels = pd.DataFrame({"level": list(range(len(thresholds))), "threshold": thresholds})
    level = int(level_for(pd.Series([score]), levels).iloc[0])
    displayed = shown(score)
    assert displayed >= thresholds[level], (score, displayed, thresholds)
    if level + 1 < len(thresholds):
        assert displayed < thresholds[level + 1], (score, displayed, thresholds)
    # And the number the page prints is that same number.
    assert float(shown_text(score)) == displayed


@given(
    st.floats(min_value=0, max_value=1, allow_nan=False),
    st.integers(min_value=1, max_value=10),
)
def test_a_shown_team_mean_reaches_a_choice_exactly_when_the_current_choice_rule_does(
    mean, max_score
):
    on_scale = mean * max_score  # what the report shows, as in reports.selectors
    current_choice = math.floor(mean * max_score + FULL_SCORE_TOLERANCE)  # maturity.scoring
    assert math.floor(shown(on_scale)) == current_choice


@given(
    st.one_of(
        st.floats(min_value=0, max_value=0.5, allow_nan=False),
        st.floats(min_value=-3e-9, max_value=3e-9).map(lambda d: CONTESTED_STD + d),
    )
)
def test_a_shown_spread_reads_0_25_exactly_when_the_question_is_contested(std):
    contested = std >= CONTESTED_STD - CONTESTED_TOLERANCE  # maturity.scoring
    assert (shown(std, 2) >= CONTESTED_STD) == contested


# --- every place a report shows the score ----------------------------------------------------

BELOW_80 = 79.96


@pytest.fixture
def almost_managed(rounds, team):  # noqa: F811 - fixture
    """This round's report of ``team`` with an overall score and a first dimension of 79.96
    at level 3, and a second dimension of exactly 80.0 at level 4."""
    _, survey = rounds
    team_score = TeamScore.objects.get(survey=survey, team=team)
    first, second = team_score.dimensions.select_related("dimension").order_by("dimension__order")[
        :2
    ]
    DimensionScore.objects.filter(pk=first.pk).update(score=BELOW_80, level=3)
    DimensionScore.objects.filter(pk=second.pk).update(score=80.0, level=4)
    TeamScore.objects.filter(pk=team_score.pk).update(score=BELOW_80, level=3)
    return survey, first.dimension, second.dimension


def json_script(page: str, element_id: str) -> dict:
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', page)
    assert match, element_id
    return json.loads(match.group(1))


def dimension_rows(page: str) -> dict[str, tuple[str, str]]:
    """Return the Dimensions table as {name: (shown score, level number)}."""
    table = page[page.index('<table class="table dims">') :]
    table = table[: table.index("</table>")]
    rows = re.findall(
        r'<th scope="row">(?:<a [^>]*>)?([^<]+)(?:</a>)?</th>\s*<td class="num">([^<]*)</td>\s*'
        r'<td><span class="level l(\d)">',
        table,
    )
    return {name: (score, level) for name, score, level in rows}


@pytest.mark.django_db
def test_team_page_shows_79_9_for_79_96_and_80_0_only_at_level_4(
    client, almost_managed, team, manager
):
    survey, first, second = almost_managed
    client.force_login(manager)
    page = client.get(report_urls(survey, team)[0]).content.decode()
    assert '<span class="kpi-value" data-testid="overall-score">79.9</span>' in page
    rows = dimension_rows(page)
    assert rows[first.name] == ("79.9", "3") and rows[second.name] == ("80.0", "4")
    assert f"<strong>{first.name}</strong> — 79.9 " in page
    assert f"<strong>{second.name}</strong> — 80.0 " in page
    # Every dimension shows a score inside the level shown beside it.
    assert len(rows) == survey.framework.dimensions.count()
    thresholds = dict(survey.framework.levels.values_list("number", "threshold"))
    for name, (score, level) in rows.items():
        assert float(score) >= thresholds[int(level)], name
        assert int(level) + 1 not in thresholds or float(score) < thresholds[int(level) + 1], name
    radar = json_script(page, "radar-data")
    assert radar["series"][0]["values"][:2] == [79.9, 80.0]


@pytest.mark.django_db
def test_org_page_table_title_and_heatmap_show_79_9(client, almost_managed, team, admin_user):
    survey, first, _ = almost_managed
    client.force_login(admin_user)
    page = client.get(f"/reports/?survey={survey.pk}").content.decode()
    row = page[page.index(f'?survey={survey.pk}">{team.name}</a>') :]
    row = row[: row.index("</tr>")]
    assert '<td class="num"><strong>79.9</strong></td>' in row
    assert '<td class="cell l3" title="79.9 · Managed">79.9</td>' in row
    assert '<td class="cell l4" title="80.0 · Optimised">80.0</td>' in row
    heatmap = client.get(f"/reports/heatmap.json?survey={survey.pk}").json()
    y = heatmap["teams"].index(team.name)
    cells = {(x, row_y): (score, level) for x, row_y, score, level in heatmap["cells"]}
    assert cells[(0, y)] == (79.9, 3) and cells[(1, y)] == (80.0, 4)


@pytest.mark.django_db
def test_pdf_shows_79_9_for_79_96(client, almost_managed, team, manager):
    survey, first, second = almost_managed
    client.force_login(manager)
    # Table cells wrap inside the PDF: compare with runs of whitespace made one space.
    text = " ".join(pdf_text(client.get(report_urls(survey, team)[1]).content).split())
    # The overall score is the first number after the "scored <time>" line.
    assert re.search(r" scored [^.]*? (\d+\.\d) ", text).group(1) == "79.9", text[:300]
    assert re.search(rf"{re.escape(first.name)} 79\.9 3 ?· Managed", text), text
    assert re.search(rf"{re.escape(second.name)} 80\.0 4 ?· Optimised", text), text


# --- scripts the PDF must not drop -----------------------------------------------------------

# pdftotext marks a right-to-left run with U+202B ... U+202C (and gives its letters in
# logical order); strip those marks and compare the NFKC forms.
BIDI_MARKS = dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e"))
TEAM_NAME = "Équipe Zürich فريق 推荐团队"


def readable(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(BIDI_MARKS)


@pytest.mark.django_db
def test_pdf_keeps_latin_arabic_chinese_and_emoji_text(
    client,
    rounds,  # noqa: F811 - fixture
    team,
    manager,
):
    _, survey = rounds
    team.name = TEAM_NAME
    team.save()
    survey.title = "Q4 review 🚀"
    survey.save()
    client.force_login(manager)
    pdf = client.get(report_urls(survey, team)[1]).content
    text = readable(pdf_text(pdf))
    # The heading, word by word in reading order. pdftotext gives the Arabic word in logical
    # order (not reversed, not as presentation forms) and no space before the Chinese one.
    assert re.search(r"Équipe Zürich\s+فريق\s*推荐团队 — maturity report", text), text[:300]
    assert "Q4 review 🚀 · scored" in text
    # Only the fonts the PDF names (also in the radar SVG, which WeasyPrint would otherwise
    # draw in the system's default), Chinese in its Simplified forms (fontconfig alone picks
    # the Japanese ones) and the emoji from the colour emoji font.
    fonts = pdf_fonts(pdf)
    assert {"Noto-Sans-CJK-SC-Bold", "Noto-Color-Emoji"} <= fonts
    assert all(name.startswith(("DejaVu-Sans", "Noto-Sans-CJK-SC", "Noto-Color")) for name in fonts)

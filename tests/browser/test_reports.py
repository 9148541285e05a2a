"""A manager opens the team and organisation reports in a real browser: charts render,
rounds switch, a target is set; screenshots are kept for people to look at."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from reports.display import shown_text
from reports.models import TeamScore
from surveys.models import DimensionTarget, Survey, Team
from tests.browser.conftest import log_in
from tests.reports.test_reports import rounds  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_manager_reads_team_and_org_reports(new_page, screenshot, rounds, team, manager):  # noqa: F811
    previous, survey = rounds
    score = TeamScore.objects.get(survey=survey, team=team).score
    page = new_page()
    log_in(page, manager.username)
    page.get_by_role("link", name="Reports").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Organisation")
    heatmap = page.locator("#heatmap svg")
    expect(heatmap).to_be_visible()
    assert heatmap.locator("text").count() > 10
    screenshot(page, "org-report")

    page.get_by_role("link", name=team.name).first.click()
    expect(page.get_by_test_id("overall-score")).to_have_text(shown_text(score))
    radar = page.locator("#radar svg")
    expect(radar).to_be_visible()
    first_dimension = survey.framework.dimensions.order_by("order").first().name
    expect(radar.get_by_text(first_dimension)).to_be_visible()  # axis names show dimensions
    expect(radar.get_by_text("Organisation median")).to_be_visible()  # legend
    screenshot(page, "team-report")

    # Switch to last quarter's round.
    page.get_by_label("Round").select_option(label=previous.title)
    page.get_by_role("button", name="Show").click()
    old = TeamScore.objects.get(survey=previous, team=team).score
    expect(page.get_by_test_id("overall-score")).to_have_text(shown_text(old))

    # Back to this round and set a target.
    page.get_by_label("Round").select_option(label=survey.title)
    page.get_by_role("button", name="Show").click()
    dimension = survey.framework.dimensions.order_by("order").first()
    page.locator(f"#id_target-{dimension.key}").select_option("4")
    page.get_by_role("button", name="Save targets").click()
    expect(page.get_by_text(re.compile("Targets saved"))).to_be_visible()
    assert DimensionTarget.objects.get(team=team, dimension_key=dimension.key).target_level == 4
    expect(page.locator("table.dims")).to_contain_text("to go")


# --- user text in charts is text, never HTML -------------------------------------------------

BOLD_TEAM = "R&D <b>team</b>"
IMG_TEAM = "<img src=x onerror=alert(1)>"
BOLD_SURVEY = "Q4 <b>review</b> & co"


def chart_pixel(page, element_id: str, finder: str, value: list) -> tuple[float, float]:
    """Return the page coordinates of a data value through the chart's own conversion."""
    x, y = page.evaluate(
        f"""([id, value]) => {{
            const chart = echarts.getInstanceByDom(document.getElementById(id));
            return chart.convertToPixel({finder}, value);
        }}""",
        [element_id, value],
    )
    box = page.locator(f"#{element_id}").bounding_box()
    return box["x"] + x, box["y"] + y


def tooltip(page, element_id: str):
    """Return ECharts' tooltip box inside a chart: the one absolutely placed child div."""
    return page.locator(f"#{element_id} > div").filter(has_not=page.locator("svg")).last


def no_markup_from_names(page) -> None:
    assert page.locator("#heatmap b, #heatmap img, #radar b, #radar img").count() == 0
    assert page.evaluate("() => document.images.length") == 0


def test_team_and_survey_names_show_as_text_in_chart_tooltips_and_legends(
    new_page,
    rounds,  # noqa: F811 - fixture
    team,
    other_team,
    admin_user,
):
    _, survey = rounds
    Team.objects.filter(pk=team.pk).update(name=BOLD_TEAM)
    Team.objects.filter(pk=other_team.pk).update(name=IMG_TEAM)
    Survey.objects.filter(pk=survey.pk).update(title=BOLD_SURVEY)
    dialogs = []
    page = new_page()
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, admin_user.username)
    page.goto(f"/reports/?survey={survey.pk}")
    expect(page.locator("#heatmap svg")).to_be_visible()
    source = page.get_attribute("#heatmap", "data-src")
    heat = page.evaluate("(url) => fetch(url).then((r) => r.json())", source)
    for name in (BOLD_TEAM, IMG_TEAM):
        row = heat["teams"].index(name)
        score = next(c[2] for c in heat["cells"] if c[0] == 0 and c[1] == row)
        page.mouse.move(*chart_pixel(page, "heatmap", "{seriesIndex: 0}", [0, row]))
        box = tooltip(page, "heatmap")
        expect(box).to_be_visible()
        first_dimension = heat["dimensions"][0]
        expect(box).to_have_text(re.compile(re.escape(f"{name}{first_dimension}: {score:.1f}")))
        # The y axis labels are the names, drawn as SVG text.
        expect(page.locator("#heatmap svg text").filter(has_text=name)).to_have_count(1)
        no_markup_from_names(page)

    page.goto(f"/reports/teams/{team.slug}/?survey={survey.pk}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(BOLD_TEAM)
    radar = page.locator("#radar svg")
    expect(radar).to_be_visible()
    expect(radar.locator("text").filter(has_text=BOLD_SURVEY)).to_have_count(1)  # legend
    chart = page.evaluate("() => JSON.parse(document.getElementById('radar-data').textContent)")
    page.evaluate(
        "() => echarts.getInstanceByDom(document.getElementById('radar'))"
        ".dispatchAction({type: 'showTip', seriesIndex: 0, dataIndex: 0})"
    )
    box = tooltip(page, "radar")
    expect(box).to_be_visible()
    first = f"{chart['dimensions'][0]}: {chart['series'][0]['values'][0]:.1f}"
    expect(box).to_have_text(re.compile("^" + re.escape(BOLD_SURVEY + first)))
    no_markup_from_names(page)
    assert dialogs == []


def test_reports_fit_a_phone_screen_without_sideways_scrolling(
    new_page,
    rounds,  # noqa: F811 - fixture
    team,
    manager,
):
    _, survey = rounds
    # Break-it finding: a long round title in the round <select> widened the page.
    survey.title = "Quarterly MLOps maturity review of every platform and product team, Q4"
    survey.save()
    page = new_page(viewport={"width": 390, "height": 844})
    log_in(page, manager.username)
    for url in (
        f"/reports/?survey={survey.pk}",
        f"/reports/teams/{team.slug}/?survey={survey.pk}",
        "/",  # My surveys: its table scrolls inside its box
    ):
        page.goto(url)
        if url != "/":
            expect(page.locator(".chart svg")).to_be_visible()
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow == 0, (url, overflow)


def test_admin_sorts_filters_and_pages_the_org_table(
    new_page,
    rounds,  # noqa: F811
    team,
    other_team,
    admin_user,
):
    """The table's header links sort it, the filter form narrows it, and the heatmap (drawn
    from /reports/heatmap.json) follows the same filter."""
    _, survey = rounds
    parent = Team.objects.create(slug="platform", name="Platform")
    Team.objects.filter(pk=team.pk).update(parent=parent)
    scores = dict(TeamScore.objects.filter(survey=survey).values_list("team__name", "score"))
    best, worst = sorted(scores, key=scores.get, reverse=True)
    page = new_page()
    log_in(page, admin_user.username)
    page.goto(f"/reports/?survey={survey.pk}")
    table = page.get_by_test_id("org-teams")
    page.get_by_role("link", name="Overall", exact=True).click()
    expect(page).to_have_url(re.compile(r"sort=score&dir=desc"))
    expect(table.locator("tbody th").first).to_have_text(best)
    page.get_by_role("link", name="Overall", exact=True).click()  # again: the other way
    expect(page).to_have_url(re.compile(r"sort=score&dir=asc"))
    expect(table.locator("tbody th").first).to_have_text(worst)
    page.get_by_label("Under").select_option("platform")
    page.get_by_role("button", name="Filter").click()
    expect(table.locator("tbody th")).to_have_count(1)
    expect(table.locator("tbody th").first).to_have_text(team.name)
    expect(page.locator("#heatmap")).to_have_attribute("data-drawn", "1")

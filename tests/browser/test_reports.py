"""A manager opens the team and organisation reports in a real browser: charts render,
rounds switch, a target is set; screenshots are kept for people to look at."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from reports.display import shown_text
from reports.models import TeamScore
from surveys.models import DimensionTarget
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

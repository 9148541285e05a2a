"""A manager follows a campaign in a real browser: the menu link, the burn-up chart (round
titles are user text: SVG text on the axis, escaped in the tooltip), the team table and the
team report's Campaigns section."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from surveys.models import Survey
from tests.browser.conftest import log_in
from tests.browser.test_reports import chart_pixel, tooltip
from tests.campaigns.conftest import world  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOSTILE_ROUND = "Q1 <img src=x onerror=alert(1)> & <b>co</b>"


def test_a_manager_follows_a_campaign_from_the_menu(new_page, screenshot, world):  # noqa: F811
    Survey.objects.filter(pk=world.survey.pk).update(title=HOSTILE_ROUND)
    dialogs: list[str] = []
    page = new_page()
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, world.maria.username)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name="Monitoring for all").click()
    expect(page.get_by_test_id("campaign-counts")).to_contain_text("1 of 2")

    chart = page.locator("#burnup svg")
    expect(chart).to_be_visible()
    expect(chart.locator("text").filter(has_text="Q1 <img")).to_have_count(1)  # axis label
    page.mouse.move(*chart_pixel(page, "burnup", "{seriesIndex: 0}", [0, 1]))
    box = tooltip(page, "burnup")
    expect(box).to_be_visible()
    expect(box).to_have_text(re.compile(re.escape(HOSTILE_ROUND) + r".*1 of 2 teams meet"))
    assert page.locator("#burnup img, #burnup b").count() == 0
    assert page.evaluate("() => document.images.length") == 0
    screenshot(page, "campaign")

    page.get_by_label("Status").select_option("not_meeting")
    page.get_by_role("button", name="Filter").click()
    rows = page.get_by_test_id("campaign-teams").locator("tbody tr")
    expect(rows).to_have_count(1)
    rows.get_by_role("link", name="Fraud Detection").click()
    expect(page.get_by_test_id("team-campaigns")).to_contain_text("1 level short")
    assert dialogs == []

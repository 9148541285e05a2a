"""A manager tracks a roadmap step as an action from the team report, in the browser, on a
desktop and on a phone; the previous round's action shows its verdict (issue 19)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from actions import services as action_services
from actions.models import Action
from reports import services
from tests.browser.conftest import PHONE, log_in
from tests.browser.test_phone import assert_fits
from tests.reports.test_reports import rounds  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_tracks_a_roadmap_step_and_sees_the_verdict(
    new_page,
    screenshot,
    rounds,  # noqa: F811 - fixture
    team,
    manager,
    member,
):
    previous, survey = rounds
    # Last quarter the team committed to its first roadmap step and marked it done; this
    # round's answers moved it up, so this round's scoring verified it.
    step = previous.team_scores.get(team=team).recommendations.order_by("rank").first()
    done = action_services.action_create(
        action_services.ActionInput(team=team, survey=previous, question_key=step.question.key),
        by=manager,
    )
    action_services.action_update(done, {"status": "done"}, by=manager)
    services.aggregate(survey=survey)
    done.refresh_from_db()
    assert done.verification in ("verified", "not_reflected")

    page = new_page()
    log_in(page, manager.username)
    page.goto(f"/reports/teams/{team.slug}/?survey={survey.pk}")
    verdict = page.locator(f"#action-{done.pk}")
    expect(verdict).to_contain_text(
        "not reflected" if done.verification == "not_reflected" else "verified"
    )

    first = page.locator(".roadmap li[data-question]").first
    key = first.get_attribute("data-question")
    first.get_by_role("button", name="Track as action").click()
    form = page.locator("#new-action")
    expect(form.get_by_label("Roadmap step")).to_have_value(key)
    form.get_by_label("Title").fill("Register every production model")
    form.get_by_label("Owner").select_option(label=member.username)
    form.get_by_label("Due").fill("2027-06-30")
    form.get_by_role("button", name="Create action").click()
    expect(page.get_by_text("Action “Register every production model” created.")).to_be_visible()
    action = Action.objects.get(title="Register every production model")
    assert (action.question.key, action.owner, str(action.due)) == (key, member, "2027-06-30")
    row = page.locator(f"#action-{action.pk}")
    expect(row).to_contain_text("30 Jun 2027")

    # Changing it: won't do needs a reason, and the typed notes survive the error.
    row_form = page.locator(f"#action-{action.pk} + tr")
    row_form.get_by_text("Change this action").click()
    row_form.get_by_label("Status").select_option("wont_do")
    row_form.get_by_label("Notes").fill("The platform team owns the registry now")
    row_form.get_by_role("button", name="Save action").click()
    expect(page.get_by_text("Say why the team won't do it.")).to_be_visible()
    expect(page.locator(f"#action-{action.pk} + tr").get_by_label("Notes")).to_have_value(
        "The platform team owns the registry now"
    )

    phone = new_page(**PHONE)
    log_in(phone, manager.username)
    assert_fits(phone, f"/reports/teams/{team.slug}/?survey={survey.pk}")
    screenshot(phone, "phone-team-actions")
    assert_fits(phone, "/reports/actions/")
    expect(phone.get_by_test_id("verified-share")).to_be_visible()

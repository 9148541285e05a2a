"""Issue 18's path, in a browser and without /admin/: from an empty database (migrated, the
framework loaded) a programme lead builds the teams, imports the members, creates and opens
a round; a member sets a first password and answers; the lead closes the round; a manager
downloads the team's scores. Then the console's pages on a phone."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.core.management import call_command
from playwright.sync_api import expect

from maturity.models import Framework
from surveys.models import Membership, Response, Survey, Team
from tests.browser.conftest import PHONE, log_in
from tests.browser.test_phone import assert_fits
from tests.browser.test_survey_flow import answer_page
from tests.conftest import MLOPS_YAML
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MEMBERS_CSV = "email,team,role\nmia@example.com,recsys,member\nmax@example.com,recsys,manager\n"


@pytest.fixture
def empty_database(db):
    """Nothing but a framework version (as `manage.py load_framework` leaves it) and the
    programme lead's account: no team, no member, no round."""
    Framework.objects.all().delete()
    call_command("load_framework", str(MLOPS_YAML), verbosity=0)
    assert not Team.objects.exists() and not Survey.objects.exists()
    lead = UserFactory(username="lena")
    lead.user_permissions.add(Permission.objects.get(codename="run_programme"))
    return lead


def set_first_password(page, email: str, password: str) -> None:
    """Forgot your password? -> the e-mailed link -> a new password."""
    page.goto("/accounts/login/")
    page.get_by_role("link", name=re.compile("Forgot your password")).click()
    page.get_by_label("E-mail address").fill(email)
    sent = len(mail.outbox)
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    assert len(mail.outbox) == sent + 1
    link = re.search(r"https?://\S+/accounts/reset/\S+/", mail.outbox[-1].body)
    assert link is not None
    page.goto(link.group(0)[link.group(0).index("/accounts/") :])
    page.get_by_label("New password", exact=True).fill(password)
    page.get_by_label("New password confirmation").fill(password)
    page.get_by_role("button", name="Set the password").click()
    expect(page.get_by_role("heading", name="Your password is set")).to_be_visible()


def test_a_lead_runs_a_round_from_an_empty_database(new_page, empty_database):
    lead_page = new_page()
    log_in(lead_page, "lena")
    lead_page.get_by_role("link", name="open the lead's console").click()
    expect(lead_page.get_by_role("heading", name="The lead's console")).to_be_visible()

    # Teams: a platform team and a product team under it.
    lead_page.get_by_label("Name").fill("ML Platform")
    lead_page.get_by_label("Slug").fill("platform")
    lead_page.get_by_role("button", name="Create team").click()
    expect(lead_page.get_by_text('Team "ML Platform" created.')).to_be_visible()
    lead_page.get_by_role("link", name="Console").first.click()
    lead_page.get_by_label("Name").fill("Recommendations")
    lead_page.get_by_label("Slug").fill("recsys")
    lead_page.get_by_label("Parent team").select_option(label="ML Platform")
    lead_page.get_by_role("button", name="Create team").click()
    expect(lead_page.get_by_role("heading", level=1)).to_contain_text("Recommendations")
    assert Team.objects.get(slug="recsys").parent.slug == "platform"

    # Members: a CSV, checked, then imported.
    lead_page.get_by_role("link", name="import a CSV").click()
    lead_page.get_by_label("Or paste the CSV").fill(MEMBERS_CSV)
    lead_page.get_by_role("button", name="Check").click()
    expect(lead_page.get_by_text("Checked: nothing is written yet")).to_be_visible()
    assert not Membership.objects.exists()
    lead_page.get_by_role("button", name="Import 2 rows").click()
    expect(
        lead_page.get_by_text(re.compile("Imported 2 rows: 2 memberships added"))
    ).to_be_visible()

    # A round of the framework for the platform team's subtree, then open it.
    lead_page.get_by_role("link", name="Survey rounds").click()
    lead_page.get_by_role("link", name="New round").click()
    lead_page.get_by_label("Title").fill("Q1 maturity review")
    lead_page.get_by_label("And a parent team with every team below it").select_option(
        label="ML Platform"
    )
    lead_page.get_by_role("button", name="Create the round").click()
    expect(lead_page.get_by_text("created as a draft")).to_be_visible()
    lead_page.get_by_role("button", name="Open", exact=True).click()
    expect(lead_page.get_by_text("is open for answers")).to_be_visible()
    survey = Survey.objects.get(title="Q1 maturity review")
    assert survey.status == "open"
    assert set(survey.teams.values_list("slug", flat=True)) == {"platform", "recsys"}

    # The member sets a first password, then answers every page and submits.
    member_page = new_page()
    set_first_password(member_page, "mia@example.com", "mia's long passphrase")
    log_in(member_page, "mia@example.com", "mia's long passphrase")
    member_page.get_by_role("link", name="Start").click()
    pages = survey.framework.dimensions.count()
    for position in range(pages):
        answer_page(member_page, 3)
        last = position == pages - 1
        name = "Save and review" if last else "Save and continue"
        member_page.get_by_role("button", name=re.compile(name)).click()
    member_page.get_by_role("button", name="Submit answers").click()
    expect(member_page.get_by_role("heading", level=1)).to_contain_text("submitted")
    assert Response.objects.filter(survey=survey, status="submitted").count() == 1

    # The lead sees it in the participation table and closes the round.
    lead_page.reload()
    expect(lead_page.locator("#participation")).to_contain_text("Not submitted yet: max")
    lead_page.get_by_role("button", name="Close now").click()
    expect(lead_page.get_by_text("is closed")).to_be_visible()

    # The manager downloads the team's scores from its report.
    manager_page = new_page()
    set_first_password(manager_page, "max@example.com", "max's long passphrase")
    log_in(manager_page, "max@example.com", "max's long passphrase")
    manager_page.goto(f"/reports/teams/recsys/?survey={survey.pk}")
    with manager_page.expect_download() as download:
        manager_page.locator("#downloads").get_by_role("link", name="CSV").first.click()
    rows = list(csv.DictReader(io.StringIO(open(download.value.path()).read())))
    assert rows and {row["team"] for row in rows} == {"recsys"}
    assert any(row.get("dimension") == "overall" for row in rows), rows[0]


def test_the_console_fits_a_phone(new_page, empty_database):
    platform = Team.objects.create(slug="platform", name="ML Platform " + "x" * 60)
    Team.objects.create(slug="recsys", name="Recommendations", parent=platform)
    survey = Survey.objects.create(
        title="Quarterly MLOps maturity review of every platform and product team, Q4",
        framework=Framework.objects.get(),
    )
    survey.teams.set(Team.objects.all())
    page = new_page(**PHONE)
    log_in(page, "lena")
    assert_fits(page, "/manage/")
    assert_fits(page, "/manage/teams/recsys/")
    assert_fits(page, "/manage/surveys/")
    assert_fits(page, f"/manage/surveys/{survey.pk}/")
    assert_fits(page, "/manage/surveys/new/")
    assert_fits(page, "/manage/memberships/import/")
    page.get_by_label("Or paste the CSV").fill("email,team\n" + "x" * 300 + "@example.com,nope\n")
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_text("Nothing was imported")).to_be_visible()
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["viewport"]["width"]

"""Every page a member, a manager and an admin reach fits a phone (390 x 844, laid out as a
phone's browser does): nothing is wider than the screen, tables scroll in their own box or
reflow, the survey's first screen shows a question, and chart labels are never clipped
(issue 17, "Phones and print")."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from reports import health
from surveys import services as survey_services
from tests.browser.conftest import PHONE, log_in
from tests.conftest import complete_answers
from tests.evidence_repository import score_with_evidence
from tests.factories import MembershipFactory
from tests.pdf import pdf_page_fill, pdf_text
from tests.reports.test_reports import rounds  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTH = PHONE["viewport"]["width"]
# Break-it finding: a long round title in the round <select> widened the page.
LONG_TITLE = "Quarterly MLOps maturity review of every platform and product team, Q4"

# What sticks out of the screen, to say why a page is too wide.
STICKING_OUT = """() => [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5
                 && !e.closest('.table-scroll, .chart-scroll, .steps ol'))
    .slice(0, 5).map(e => e.tagName + '.' + e.getAttribute('class') + ' '
                     + Math.round(e.getBoundingClientRect().right))"""


def assert_fits(page, url: str, status: int = 200) -> None:
    """Open ``url`` and assert the page is no wider than the phone's screen."""
    response = page.goto(url)
    assert response is not None and response.status == status, (url, response)
    page.wait_for_load_state("load")
    if page.locator(".chart").count():  # charts are drawn after the scripts ran
        expect(page.locator(".chart.rendered svg").first).to_be_attached()
    width, inner = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert inner == WIDTH, (url, inner, page.evaluate(STICKING_OUT))
    assert width <= inner, (url, width, page.evaluate(STICKING_OUT))


def texts_outside(page, svg_selector: str) -> list[str]:
    """Return the labels of an SVG drawn (partly) outside its <svg> box: clipped ones."""
    return page.evaluate(
        """(selector) => {
            const svg = document.querySelector(selector);
            const box = svg.getBoundingClientRect();
            return [...svg.querySelectorAll('text')].filter(t => t.textContent.trim())
                .filter(t => {
                    const r = t.getBoundingClientRect();
                    return r.left < box.left - 0.5 || r.right > box.right + 0.5
                        || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5;
                }).map(t => t.textContent);
        }""",
        svg_selector,
    )


@pytest.fixture
def phone_rounds(rounds, team, member, manager, admin_user):  # noqa: F811 - fixture
    """The two scored rounds of the report tests (13 dimensions), the open one with a long
    title, an invitation link (a row in the invitations table) and question health."""
    previous, survey = rounds
    survey.title = LONG_TITLE
    survey.save()
    survey_services.invitation_create(survey=survey, team=team, created_by=manager)
    health.question_health_refresh(survey=survey)
    return previous, survey


def test_every_page_fits_a_phone_screen(new_page, screenshot, phone_rounds, team, member, manager):
    previous, survey = phone_rounds
    page = new_page(**PHONE)
    # Signed out: the login page, an invitation that does not exist, an error page.
    assert_fits(page, "/accounts/login/")
    assert_fits(page, "/i/no-such-invitation/", status=404)
    assert_fits(page, "/no-such-page/", status=404)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Page not found")

    # A member: My surveys, every step of the survey, the review, the thank-you page.
    log_in(page, member.username)
    assert_fits(page, "/")
    start = page.get_by_role("link", name="Start")
    expect(start).to_be_in_viewport()  # My surveys reflows: its buttons are on the screen
    screenshot(page, "phone-my-surveys")
    dimensions = list(survey.framework.dimensions.order_by("order"))
    for dimension in dimensions:
        assert_fits(page, f"/surveys/{survey.pk}/{team.slug}/d/{dimension.key}/")
    assert_fits(page, f"/surveys/{survey.pk}/{team.slug}/review/")
    survey_services.response_submit(
        survey=survey,
        team=team,
        respondent=member,
        respondent_key=f"u:{member.pk}",
        answers=complete_answers(survey.framework, 3),
    )
    assert_fits(page, f"/surveys/{survey.pk}/{team.slug}/done/")
    assert_fits(page, "/")
    expect(page.get_by_role("link", name="Change answers")).to_be_in_viewport()
    page.context.close()

    # A manager: My surveys, invitations, both rounds' team reports, the ML Test Score
    # page, the organisation report, and a team they may not read.
    page = new_page(**PHONE)
    log_in(page, manager.username)
    assert_fits(page, "/")
    assert_fits(page, f"/surveys/{survey.pk}/{team.slug}/invitations/")
    for round_ in (survey, previous):
        assert_fits(page, f"/reports/teams/{team.slug}/?survey={round_.pk}")
    screenshot(page, "phone-team-report")
    assert_fits(page, f"/reports/teams/{team.slug}/ml-test-score/?survey={survey.pk}")
    assert_fits(page, f"/reports/?survey={survey.pk}")
    screenshot(page, "phone-org-report")
    assert_fits(page, f"/reports/teams/{team.slug}-nope/", status=404)
    page.context.close()


def test_every_admin_page_fits_a_phone_screen(new_page, phone_rounds, team, admin_user):
    _, survey = phone_rounds
    page = new_page(**PHONE)
    log_in(page, admin_user.username)
    assert_fits(page, "/")
    assert_fits(page, f"/reports/?survey={survey.pk}")
    assert_fits(page, f"/reports/question-health/?survey={survey.pk}")
    expect(page.locator("#question-health tbody tr").first).to_be_attached()
    assert_fits(page, f"/reports/teams/{team.slug}/?survey={survey.pk}")
    assert_fits(page, "/admin/")
    assert_fits(page, "/admin/surveys/survey/")


def test_the_surveys_first_screen_shows_the_first_question(
    new_page, screenshot, survey, team, member, framework
):
    """The 13 step buttons filled the whole first screen of a phone: they are one strip
    that scrolls sideways, and the first question shows above the action bar."""
    page = new_page(**PHONE)
    log_in(page, member.username)
    page.get_by_role("link", name="Start").click()
    dimensions = list(framework.dimensions.order_by("order"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(dimensions[0].name)
    steps = page.get_by_role("navigation", name="Dimensions")
    assert steps.locator("li").count() == len(dimensions) + 1  # and "Review & submit"
    assert steps.bounding_box()["height"] <= 60  # one row, not a screenful
    strip = steps.locator("ol")
    assert strip.evaluate("e => getComputedStyle(e).overflowX") == "auto"
    assert strip.evaluate("e => e.scrollWidth > e.clientWidth")  # the rest is a swipe away

    legend = page.locator("fieldset.question legend").first
    expect(legend).to_be_in_viewport()
    bar = page.locator(".form-actions").bounding_box()
    assert legend.bounding_box()["y"] + legend.bounding_box()["height"] <= bar["y"]
    assert bar["height"] <= 70  # the sticky actions are one row on a phone
    next_button = page.get_by_role("button", name=f"Save and continue → {dimensions[1].name}")
    expect(next_button).to_be_visible()  # the full name stays its accessible name
    screenshot(page, "phone-survey-first-screen")

    # Further on, the strip shows the current step (static/js/steps.js scrolls it there).
    late = dimensions[-2]
    page.goto(page.url.replace(dimensions[0].key, late.key))
    current = steps.locator('[aria-current="step"]')
    expect(current).to_contain_text(late.name)
    box = current.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, box
    assert page.evaluate("() => window.scrollX") == 0


def test_radar_labels_stay_inside_the_chart_on_a_phone_a_desktop_and_in_print(
    new_page,
    rounds,  # noqa: F811 - fixture
    team,
    manager,
):
    _, survey = rounds
    names = list(survey.framework.dimensions.order_by("order").values_list("name", flat=True))
    url = f"/reports/teams/{team.slug}/?survey={survey.pk}"

    desktop = new_page()
    log_in(desktop, manager.username)
    desktop.goto(url)
    expect(desktop.locator("#radar.rendered svg")).to_be_visible()
    # The names are wrapped, never cut: each line is part of a name, together all of them.
    drawn = " ".join(desktop.locator("#radar svg text").all_text_contents())
    assert "…" not in drawn
    for name in names:
        assert name in drawn, (name, drawn)
    assert texts_outside(desktop, "#radar svg") == []
    expect(desktop.get_by_test_id("radar-key")).to_be_hidden()  # the axes carry the names

    # Print: the server-rendered SVG (the same as the PDF's) shows every name whole.
    desktop.emulate_media(media="print")
    fallback = desktop.locator(".chart-fallback svg")
    expect(fallback).to_be_visible()
    labels = [
        " ".join(text.locator("tspan").all_text_contents())
        for text in fallback.locator("text").all()
    ]
    for name in names:
        assert name in labels, (name, labels)
    assert texts_outside(desktop, ".chart-fallback svg") == []

    # A window narrowed to a phone's width draws the radar again for its width.
    desktop.emulate_media(media="screen")
    desktop.set_viewport_size(PHONE["viewport"])
    expect(desktop.get_by_test_id("radar-key")).to_be_visible()
    expect(desktop.locator("#radar svg text").filter(has_text=names[0])).to_have_count(0)
    assert texts_outside(desktop, "#radar svg") == []

    phone = new_page(**PHONE)
    log_in(phone, manager.username)
    phone.goto(url)
    expect(phone.locator("#radar.rendered svg")).to_be_visible()
    assert texts_outside(phone, "#radar svg") == []
    # Too narrow for 13 names: the axes are numbered and the key below names them.
    numbers = [str(number) for number in range(1, len(names) + 1)]
    axis_labels = [
        text for text in phone.locator("#radar svg text").all_text_contents() if text in numbers
    ]
    assert sorted(axis_labels, key=int) == numbers
    key = phone.get_by_test_id("radar-key")
    expect(key).to_be_visible()
    assert key.locator("li").all_text_contents() == names


def test_org_table_headers_never_run_into_each_other(
    new_page,
    rounds,  # noqa: F811 - fixture
    admin_user,
):
    _, survey = rounds
    for options in ({}, PHONE):
        page = new_page(**options)
        log_in(page, admin_user.username)
        page.goto(f"/reports/?survey={survey.pk}")
        overlapping = page.evaluate(
            """() => [...document.querySelectorAll('table.heat thead th')].filter(th => {
                const range = document.createRange();
                range.selectNodeContents(th);
                const text = range.getBoundingClientRect(), cell = th.getBoundingClientRect();
                return text.left < cell.left - 0.5 || text.right > cell.right + 0.5;
            }).map(th => th.textContent)"""
        )
        assert overlapping == [], overlapping


def test_printing_the_team_report_leaves_no_page_half_empty(
    new_page,
    rounds,  # noqa: F811 - fixture
    team,
    manager,
):
    """The browser's own "Print" of the page, as the PDF: sections flow across pages."""
    _, survey = rounds
    page = new_page()
    log_in(page, manager.username)
    page.goto(f"/reports/teams/{team.slug}/?survey={survey.pk}")
    expect(page.locator("#radar.rendered svg")).to_be_visible()
    page.emulate_media(media="print")
    printed = page.pdf(format="A4")
    fills = pdf_page_fill(printed)
    assert len(fills) >= 2
    assert all(fill >= 0.75 for fill in fills[:-1]), fills
    assert "Dimensions" in pdf_text(printed).split("\f")[0]  # the radar does not stand alone


def test_every_page_of_a_round_with_evidence_and_profiles_fits_a_phone_screen(
    new_page, v2_survey, platform_team, team, other_team
):
    """Framework version 2: the evidence section and the calibration table, the ML Test
    Score page with its 28 tests, a team profile, 16 steps, and a closed round's page."""
    score_with_evidence(v2_survey, evidenced=team, unevidenced=other_team)
    lead = MembershipFactory(team=platform_team, role="manager", user__username="lead").user
    MembershipFactory(team=team, role="manager", user=lead)
    page = new_page(**PHONE)
    log_in(page, lead.username)
    assert_fits(page, f"/reports/teams/{team.slug}/?survey={v2_survey.pk}")
    expect(page.get_by_test_id("evidence-table")).to_be_attached()
    assert_fits(page, f"/reports/teams/{team.slug}/ml-test-score/?survey={v2_survey.pk}")
    expect(page.locator("#mlts-monitor")).to_be_attached()
    assert_fits(page, f"/reports/?survey={v2_survey.pk}")
    expect(page.get_by_test_id("calibration")).to_be_attached()
    assert_fits(page, f"/surveys/{v2_survey.pk}/{team.slug}/profile/")
    assert_fits(page, f"/surveys/{v2_survey.pk}/{team.slug}/")  # its first step
    steps = page.get_by_role("navigation", name="Dimensions").get_by_role("link")
    for href in steps.evaluate_all("links => links.map(link => link.getAttribute('href'))"):
        assert_fits(page, href)  # the team's own steps (platform ones are not among them)
    v2_survey.status = "closed"
    v2_survey.save()
    assert_fits(page, f"/surveys/{v2_survey.pk}/{team.slug}/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()

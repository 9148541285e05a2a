"""The evidence behind the answers in a real browser (issue 16): a platform manager reads a
team's "Self-assessment vs evidence" section, its roadmap and the organisation's
calibration table, on a desktop and on a phone; what a repository names is text."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from maturity.models import Question
from reports.models import TeamRecommendation, TeamScore
from tests.browser.conftest import log_in
from tests.evidence_repository import (
    CONFIRMED,
    CONTRADICTED,
    HOSTILE_SOURCE,
    SCRIPT_DOCKERFILE,
    score_with_evidence,
    store_evidence,
)
from tests.factories import MembershipFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def lead(v2_survey, platform_team, team, other_team):
    """The platform team's manager (reads recsys and fraud); recsys has evidence that
    confirms one answer and contradicts others, plus a second repository whose name is
    markup; fraud has none."""
    score_with_evidence(v2_survey, evidenced=team, unevidenced=other_team)
    # Snapshots are listed as they are now: this one needs no re-scoring to show.
    store_evidence(team, {"README.md": "# tools\n"}, source=HOSTILE_SOURCE)
    return MembershipFactory(team=platform_team, role="manager", user__username="lead").user


def question_text(survey, key: str) -> str:
    return Question.objects.get(framework=survey.framework, key=key).text


def evidence_row(page, survey, key: str):
    return (
        page.get_by_test_id("evidence-table")
        .locator("tbody tr")
        .filter(has_text=question_text(survey, key))
    )


def roadmap_step(page, team_score: TeamScore, key: str):
    """The roadmap item of the team's recommendation for question ``key`` (found by its
    text: the question's text also appears in steps that list it as a prerequisite)."""
    text = TeamRecommendation.objects.get(team_score=team_score, question__key=key).text
    return page.locator(".roadmap li").filter(
        has=page.locator(".step", has_text=re.compile("^" + re.escape(text)))
    )


def test_a_manager_sees_confirmed_and_contradicted_answers_with_the_facts_behind_them(
    new_page, screenshot, lead, v2_survey, team
):
    stored = TeamScore.objects.get(survey=v2_survey, team=team)
    dialogs: list[str] = []
    page = new_page()
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, lead.username)
    page.goto(f"/reports/teams/{team.slug}/?survey={v2_survey.pk}")

    section = page.locator("#evidence")
    expect(section.get_by_role("heading", level=2)).to_have_text(
        re.compile("^Self-assessment vs evidence")
    )
    expect(page.get_by_test_id("evidence-summary")).to_contain_text(
        f"Of {stored.evidence_checked} answered questions with automated checks, the evidence"
        f" confirms {stored.evidence_confirmed}"
    )
    expect(page.get_by_test_id("evidence-summary")).to_contain_text(
        f"contradicts {stored.evidence_contradicted}"
    )
    contradicted = evidence_row(page, v2_survey, CONTRADICTED)
    expect(contradicted.locator(".verdict")).to_have_text("✗ contradicted")
    expect(contradicted).to_contain_text("ci.test_jobs is empty")
    expect(contradicted).to_contain_text("2 · ")  # the team's answer beside it
    confirmed = evidence_row(page, v2_survey, CONFIRMED)
    expect(confirmed.locator(".verdict")).to_have_text("✓ confirmed")
    # The file name from the snapshot is text, not markup.
    expect(confirmed).to_contain_text(f"repo.dockerfiles has 1 entry: {SCRIPT_DOCKERFILE}")
    # Contradicted rows come first.
    verdicts = section.locator("tbody .verdict").all_inner_texts()
    assert verdicts[: stored.evidence_contradicted] == ["✗ contradicted"] * (
        stored.evidence_contradicted
    )
    # The repository named in markup is text too.
    expect(section.get_by_text(HOSTILE_SOURCE, exact=True)).to_be_visible()
    assert section.locator("script, img").count() == 0
    assert page.evaluate("() => document.images.length") == 0

    # The roadmap step of the contradicted answer carries the badge.
    step = roadmap_step(page, stored, CONTRADICTED)
    expect(step).to_have_count(1)
    if not step.is_visible():  # beyond the first ten steps
        page.get_by_text(re.compile(r"^Show all \d+ steps$")).click()
    expect(step.locator(".verdict-contradicted")).to_have_text("✗ contradicted")
    confirmed_step = roadmap_step(page, stored, CONFIRMED)
    expect(confirmed_step).to_have_count(1)
    expect(confirmed_step.locator(".verdict")).to_have_count(0)  # only contradictions
    screenshot(page, "team-report-evidence")
    assert dialogs == []


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two CSS ``rgb(...)``/``rgba(...)`` colours."""

    def luminance(color: str) -> float:
        red, green, blue = (int(part) / 255 for part in re.findall(r"\d+", color)[:3])
        linear = [
            c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (red, green, blue)
        ]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_evidence_table_scrolls_inside_its_box_on_a_phone_and_badges_stay_readable(
    new_page, screenshot, lead, v2_survey, team
):
    page = new_page(viewport=PHONE)
    log_in(page, lead.username)
    page.goto(f"/reports/teams/{team.slug}/?survey={v2_survey.pk}")
    table = page.get_by_test_id("evidence-table")
    expect(table).to_be_visible()
    # The page itself never scrolls sideways; the table's box does, when it must.
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow == 0
    box = table.locator("xpath=..")
    assert box.evaluate("e => e.classList.contains('table-scroll')")
    assert box.evaluate("e => getComputedStyle(e).overflowX") == "auto"
    assert box.evaluate("e => e.getBoundingClientRect().right") <= PHONE["width"]
    # What the checks found stays readable (lines of words, not of letters): the table is
    # wider than the phone and scrolls inside its box.
    facts = evidence_row(page, v2_survey, CONTRADICTED).locator("td").nth(3)
    assert facts.evaluate("e => e.getBoundingClientRect().width") >= 200
    assert box.evaluate("e => e.scrollWidth > e.clientWidth")

    def facts_span() -> tuple[float, float]:
        return tuple(
            facts.evaluate("e => [e.getBoundingClientRect().left, e.getBoundingClientRect().right]")
        )

    assert facts_span()[1] > PHONE["width"]  # partly out of sight at first
    box.evaluate("e => { e.scrollLeft = e.scrollWidth; }")
    left, right = facts_span()
    assert 0 <= left and right <= PHONE["width"] + 1  # scrolled into sight inside the box
    assert page.evaluate("() => window.scrollX") == 0  # the page did not move sideways
    box.evaluate("e => { e.scrollLeft = 0; }")

    for key, label in ((CONTRADICTED, "✗ contradicted"), (CONFIRMED, "✓ confirmed")):
        badge = evidence_row(page, v2_survey, key).locator(".verdict")
        badge.scroll_into_view_if_needed()
        expect(badge).to_have_text(label)
        expect(badge).to_be_in_viewport()
        style = badge.evaluate(
            """e => {
                const s = getComputedStyle(e), r = e.getBoundingClientRect();
                return {size: parseFloat(s.fontSize), line: parseFloat(s.lineHeight) || 0,
                        color: s.color, background: s.backgroundColor,
                        height: r.height, width: r.width, scrollWidth: e.scrollWidth,
                        left: r.left, right: r.right};
            }"""
        )
        assert style["size"] >= 12, style
        assert style["height"] < 2 * style["size"] * 1.6, style  # one line, never wrapped
        assert style["scrollWidth"] <= style["width"] + 1, style  # not clipped
        assert 0 <= style["left"] and style["right"] <= PHONE["width"], style
        assert contrast(style["color"], style["background"]) >= 4.5, style
    screenshot(page, "team-report-evidence-phone")


def test_the_org_page_ranks_teams_by_contradictions_and_links_to_their_evidence(
    new_page, screenshot, lead, v2_survey, team, other_team
):
    recsys = TeamScore.objects.get(survey=v2_survey, team=team)
    fraud = TeamScore.objects.get(survey=v2_survey, team=other_team)
    assert recsys.evidence_contradicted > fraud.evidence_contradicted == 0
    page = new_page()
    log_in(page, lead.username)
    page.goto(f"/reports/?survey={v2_survey.pk}")
    calibration = page.get_by_test_id("calibration")
    expect(calibration).to_be_visible()
    rows = calibration.locator("tbody tr")
    # Only teams with evidence are ranked (fraud uploaded nothing: its 0 contradictions
    # would read as perfect calibration); the platform's roll-up is no team of its own here.
    expect(rows).to_have_count(1)
    expect(rows.nth(0).locator("th")).to_have_text(team.name)
    cells = rows.nth(0).locator("td").all_inner_texts()
    assert cells[:3] == [
        str(recsys.evidence_checked),
        str(recsys.evidence_confirmed),
        str(recsys.evidence_contradicted),
    ]
    without = page.get_by_test_id("without-evidence")
    expect(without).to_contain_text(f"No evidence uploaded yet (not ranked): {other_team.name}")
    expect(without).not_to_contain_text(team.name)
    screenshot(page, "org-report-calibration")

    rows.nth(0).get_by_role("link", name=team.name).click()
    page.wait_for_url(re.compile(rf"/reports/teams/{team.slug}/\?survey={v2_survey.pk}#evidence$"))
    expect(page.locator("#evidence-h")).to_be_in_viewport()
    expect(page.get_by_test_id("evidence-summary")).to_be_visible()

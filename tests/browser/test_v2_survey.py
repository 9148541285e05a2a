"""A respondent of a product team answers a framework version 2 survey on a phone: declares
the team profile first, sees only the questions the team is asked (with evidence and why),
answers "Don't know", is stopped by an N/A without a reason, gives it and submits."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from surveys import selectors, services
from surveys.models import Answer, Response, TeamProfile
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], (
        "the page scrolls sideways on a phone"
    )


def test_a_product_team_member_declares_the_profile_and_answers_v2_on_a_phone(
    new_page, screenshot, v2_survey, team, member
):
    page = new_page(viewport=PHONE)
    log_in(page, member.username)
    page.get_by_role("link", name="Start").click()

    # No profile yet: the first respondent declares it (a proposal) before answering.
    expect(page.get_by_role("heading", name=re.compile("Before you answer"))).to_be_visible()
    no_sideways_scroll(page)
    page.get_by_label("Batch (scheduled scoring)").check()
    page.get_by_label("Classical ML (linear models").check()
    page.get_by_role("button", name=re.compile("Save the profile")).click()
    profile = TeamProfile.objects.get(survey=v2_survey, team=team)
    assert (profile.serving, profile.model_kinds, profile.confirmed_at) == (
        ["batch"],
        ["classical"],
        None,
    )

    # The first page: only asked questions, the scope note, why, evidence, don't know.
    expect(page.locator("#progress")).to_contain_text("0 of 65 questions answered")
    note = page.locator("#scope-note")
    expect(note).to_contain_text("ML Platform answers 4 platform or organisation questions")
    expect(note).to_contain_text("14 questions are out of scope for your team's profile")
    expect(note).to_contain_text("proposed, not confirmed yet")
    steps = page.get_by_role("navigation", name="Dimensions")
    expect(steps).not_to_contain_text("Generative AI operations")
    first = page.locator("fieldset.question").first
    key = first.get_attribute("data-question")
    question = v2_survey.framework.questions.get(key=key)
    expect(first).to_contain_text(question.why)
    expect(first).to_contain_text(question.choices.get(score=1).evidence)
    with page.expect_response(lambda r: r.request.method == "POST" and "/autosave/" in r.url):
        first.get_by_label(re.compile("Don't know")).check()
    expect(page.locator("#save-status")).to_contain_text(re.compile(r"Saved at \d\d:\d\d:\d\d"))
    expect(page.locator("#progress")).to_contain_text("1 of 65 questions answered")
    stored = Answer.objects.get(question__key=key)
    assert (stored.dont_know, stored.score, stored.na) == (True, None, False)
    screenshot(page, "v2-survey-page-phone")
    no_sideways_scroll(page)

    # N/A where allowed, first without a reason; everything else answered behind the scenes.
    draft = Response.objects.get(status="draft")
    plan = selectors.team_plan(v2_survey, team)
    for other in v2_survey.framework.questions.filter(pk__in=plan.asked).exclude(
        key__in=[key, "privacy-protection"]
    ):
        services.answer_save(response=draft, question=other, score=2)
    privacy = v2_survey.framework.questions.get(key="privacy-protection")
    page.goto(f"/surveys/{v2_survey.pk}/{team.slug}/d/{privacy.dimension.key}/")
    fieldset = page.locator("#q-privacy-protection")
    with page.expect_response(lambda r: "/autosave/" in r.url):
        fieldset.locator("#q-privacy-protection-na").check()
    expect(page.locator("#save-status")).to_contain_text("Saved at")
    page.get_by_role("link", name="Review & submit").click()
    expect(page.get_by_role("heading", name="1 N/A answer without a reason")).to_be_visible()
    expect(page.get_by_role("cell", name="Don't know")).to_have_count(1)
    page.get_by_role("button", name="Submit answers").click()
    expect(page.get_by_role("alert")).to_contain_text("need a reason in the comment")
    assert not Response.objects.filter(status="submitted").exists()

    # The reason, then the submission counts.
    page.get_by_role("link", name=re.compile(privacy.text[:40], re.IGNORECASE)).click()
    comment = page.locator("#comment-privacy-protection")
    with page.expect_response(lambda r: "/autosave/" in r.url):
        comment.fill("We hold no personal data at all.")
    expect(page.locator("#save-status")).to_contain_text("Saved at")
    page.get_by_role("link", name="Review & submit").click()
    expect(page.get_by_text("Every question is answered.")).to_be_visible()
    no_sideways_scroll(page)
    page.get_by_role("button", name="Submit answers").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("submitted")
    submitted = Response.objects.get(status="submitted")
    assert submitted.answers.count() == 65
    assert submitted.answers.get(question=privacy).comment == "We hold no personal data at all."

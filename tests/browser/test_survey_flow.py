"""A respondent fills half a survey, leaves, resumes, reviews, submits and resubmits; an
anonymous invitee does the same without an account."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from surveys import services
from surveys.models import Answer, Response
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def answer_page(page, level: int) -> int:
    """Click level ``level`` for every question on the current page; return how many."""
    fieldsets = page.locator("fieldset.question")
    count = fieldsets.count()
    for index in range(count):
        radio = fieldsets.nth(index).locator(f"input[type=radio][value='{level}']")
        with page.expect_response(lambda r: r.request.method == "POST" and "/d/" in r.url):
            radio.check()
        expect(page.locator("#save-status")).to_contain_text("Saved at")
    return count


def test_member_fills_half_leaves_resumes_reviews_submits_and_resubmits(
    new_page, screenshot, survey, team, member, framework
):
    dimensions = list(framework.dimensions.order_by("order"))
    half = len(dimensions) // 2

    page = new_page()
    log_in(page, member.username)
    expect(page.get_by_text("Not started")).to_be_visible()
    page.get_by_role("link", name="Start").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(dimensions[0].name)

    # Keyboard: focus the first choice and move with the arrow key, like a keyboard user.
    first_radio = page.locator("fieldset.question input[type=radio]").first
    first_radio.focus()
    page.keyboard.press("ArrowDown")
    expect(page.locator("#save-status")).to_contain_text("Saved at")

    answered = 0
    for position in range(half):
        answered += answer_page(page, 2)
        if position == 0:
            page.locator("fieldset.question textarea").first.fill("Only for our main model.")
            expect(page.locator("#save-status")).to_contain_text("Saved at")
            screenshot(page, "survey-page")
        page.get_by_role("button", name=re.compile("Save and continue")).click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(dimensions[position + 1].name)
    expect(page.locator("#progress")).to_contain_text(f"{answered} of")
    page.context.close()  # close the tab, and the browser with it

    draft = Response.objects.get(status="draft")
    assert draft.answers.exclude(score=None).count() == answered
    assert draft.answers.filter(comment="Only for our main model.").count() == 1

    # Another device: the home page shows progress and Continue resumes where they stopped.
    page = new_page()
    log_in(page, member.username)
    expect(page.get_by_text(re.compile(r"In progress · \d+%"))).to_be_visible()
    page.get_by_role("link", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(dimensions[half].name)

    # Review before finishing lists what is missing, with links.
    page.goto(f"/surveys/{survey.pk}/{team.slug}/review/")
    expect(page.get_by_role("heading", name=re.compile("still unanswered"))).to_be_visible()
    page.goto(f"/surveys/{survey.pk}/{team.slug}/d/{dimensions[half].key}/")
    for position in range(half, len(dimensions)):
        answer_page(page, 3)
        last = position == len(dimensions) - 1
        name = "Save and review" if last else "Save and continue"
        page.get_by_role("button", name=re.compile(name)).click()
    expect(page.get_by_role("heading", name="Review your answers")).to_be_visible()
    expect(page.get_by_text("Every question is answered")).to_be_visible()
    screenshot(page, "review-page")
    page.get_by_role("button", name="Submit answers").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("your answers are submitted")
    submitted = Response.objects.get(status="submitted")
    assert submitted.answers.count() == framework.questions.count()

    # Resubmit with one answer changed: "Change your answers" opens the review page.
    page.get_by_role("link", name="Change your answers").click()
    expect(page.get_by_role("heading", name="Review your answers")).to_be_visible()
    page.locator(".review-dimension h2 a").first.click()
    changed = page.locator("fieldset.question").first
    changed_key = changed.get_attribute("id").removeprefix("q-")
    changed.locator("input[value='4']").check()
    expect(page.locator("#save-status")).to_contain_text("Saved at")
    page.goto(f"/surveys/{survey.pk}/{team.slug}/review/")
    page.get_by_role("button", name="Submit answers").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("submitted")
    counted = Response.objects.get(status="submitted")
    assert counted.pk != submitted.pk
    assert Response.objects.get(pk=submitted.pk).status == "superseded"
    assert Answer.objects.get(response=counted, question__key=changed_key).score == 4
    assert Answer.objects.filter(response=counted).count() == framework.questions.count()

    # Back to the review page already submitted: its Submit submits nothing twice (the
    # page as it was, or reloaded with the submitted answers unchanged).
    page.go_back()
    page.get_by_role("button", name="Submit answers").click()
    expect(
        page.get_by_text(re.compile("nothing was submitted twice|Nothing changed since"))
    ).to_be_visible()
    assert Response.objects.filter(status="submitted").get().pk == counted.pk


def test_anonymous_invitee_answers_without_an_account_on_a_phone(
    new_page, screenshot, survey, team, admin_user, framework
):
    survey.anonymous = True
    survey.save()
    _, token = services.invitation_create(
        survey=survey, team=team, created_by=admin_user, invitee_email="guest@example.org"
    )
    page = new_page(viewport={"width": 390, "height": 844})
    page.goto(f"/i/{token}/")
    expect(page.get_by_text("This survey is anonymous")).to_be_visible()
    page.get_by_role("button", name="Start the survey").click()
    dimensions = list(framework.dimensions.order_by("order"))
    for position in range(len(dimensions)):
        answer_page(page, 1)
        if position == 0:
            screenshot(page, "survey-page-phone")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, "the page scrolls sideways on a phone"
        last = position == len(dimensions) - 1
        page.get_by_role(
            "button", name=re.compile("Save and review" if last else "Save and")
        ).click()
    page.get_by_role("button", name="Submit answers").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("submitted")
    response = Response.objects.get(status="submitted")
    assert response.respondent is None
    assert response.respondent_key == services.link_respondent_key(
        survey, team, "guest@example.org"
    )

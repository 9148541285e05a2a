"""Autosave tells the truth: "Saved" only for a committed answer, "Not saved: <reason>" with
a Retry otherwise, and nothing typed is lost to a failed request, an expired session, a
reload or a survey that closes mid-way."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from surveys.models import Answer, Survey
from tests.browser.conftest import log_in
from tests.conftest import expire_all_sessions

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AUTOSAVE = "**/autosave/"


def open_first_page(page, survey, team, framework):
    """Open the survey's first dimension; return its first question's key."""
    dimension = framework.dimensions.order_by("order").first()
    page.goto(f"/surveys/{survey.pk}/{team.slug}/d/{dimension.key}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(dimension.name)
    return dimension.questions.order_by("order").first().key


def pending_in_browser(page) -> dict:
    """Return the unsaved answers the page keeps in localStorage."""
    key = page.locator("form.survey-form").get_attribute("data-storage-key")
    return page.evaluate("key => JSON.parse(localStorage.getItem(key) || '{}')", key)


def record_statuses(page) -> None:
    """Record every text the status line shows from now on (window.statuses)."""
    page.evaluate(
        """() => {
            const status = document.getElementById("save-status");
            window.statuses = [];
            new MutationObserver(() => window.statuses.push(status.textContent))
                .observe(status, {childList: true, characterData: true, subtree: true});
        }"""
    )


def assert_nothing_pasted(page) -> None:
    """The form holds the survey and a one-line status, never another page."""
    form = page.locator("form.survey-form")
    expect(form.locator("h1, h2, input[name=password], input[name=username]")).to_have_count(0)
    assert len(page.locator("#save-status").inner_text()) < 300


def test_an_aborted_autosave_says_not_saved_keeps_the_answer_and_retry_saves_it_on_a_phone(
    new_page, screenshot, survey, team, member, framework
):
    page = new_page(viewport={"width": 390, "height": 844})
    log_in(page, member.username)
    key = open_first_page(page, survey, team, framework)
    status = page.locator("#save-status")

    page.route(AUTOSAVE, lambda route: route.abort())
    record_statuses(page)
    page.locator(f"#q-{key}-3").check()
    expect(status).to_contain_text("Not saved: no connection to the server")
    expect(page.locator(f"#q-{key}")).to_contain_text("Not saved yet")
    assert pending_in_browser(page)[key]["choice"] == "3"
    assert not Answer.objects.exists()
    screenshot(page, "autosave-not-saved-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.unroute(AUTOSAVE)
    page.get_by_role("button", name="Retry").click()
    expect(status).to_contain_text(re.compile(r"Saved at \d\d:\d\d:\d\d"))
    expect(page.get_by_role("button", name="Retry")).to_be_hidden()
    expect(page.locator(f"#q-{key}")).not_to_contain_text("Not saved")
    assert pending_in_browser(page) == {}
    assert Answer.objects.get(question__key=key).score == 3
    statuses = page.evaluate("window.statuses")
    first_saved = next(i for i, text in enumerate(statuses) if text.startswith("Saved at"))
    assert any(text.startswith("Not saved") for text in statuses[:first_saved])


def test_a_server_error_says_not_saved_and_a_reload_restores_and_saves_the_answer(
    new_page, survey, team, member, framework
):
    page = new_page()
    log_in(page, member.username)
    key = open_first_page(page, survey, team, framework)
    status = page.locator("#save-status")

    page.route(
        AUTOSAVE,
        lambda route: route.fulfill(
            status=500, content_type="text/html", body="<h1>Server Error (500)</h1>"
        ),
    )
    with page.expect_response(lambda r: "/autosave/" in r.url and r.status == 500):
        page.locator(f"#q-{key}-2").check()
    expect(status).to_contain_text("Not saved: the server had a problem (500)")
    with page.expect_response(lambda r: "/autosave/" in r.url and r.status == 500):
        page.locator(f"#comment-{key}").fill("Only for the ranking model")
    expect(status).to_contain_text("Not saved")
    assert_nothing_pasted(page)
    assert pending_in_browser(page)[key] | {"changed_at": 0} == {
        "choice": "2",
        "comment": "Only for the ranking model",
        "changed_at": 0,
    }
    assert not Answer.objects.exists()

    page.unroute(AUTOSAVE)
    page.reload()
    expect(page.locator(f"#q-{key}-2")).to_be_checked()
    expect(page.locator(f"#comment-{key}")).to_have_value("Only for the ranking model")
    expect(status).to_contain_text("Saved at")
    answer = Answer.objects.get(question__key=key)
    assert (answer.score, answer.comment) == (2, "Only for the ranking model")
    assert pending_in_browser(page) == {}


def test_an_expired_session_says_so_and_retry_after_logging_in_in_another_tab_saves(
    new_page, survey, team, member, framework
):
    page = new_page()
    log_in(page, member.username)
    key = open_first_page(page, survey, team, framework)
    status = page.locator("#save-status")
    page.locator(f"#q-{key}-1").check()
    expect(status).to_contain_text("Saved at")

    expire_all_sessions()  # the session expires while the page is open
    page.locator(f"#comment-{key}").fill("Written while signed out")
    expect(status).to_contain_text("Not saved: your session has expired")
    assert_nothing_pasted(page)
    assert pending_in_browser(page)[key]["comment"] == "Written while signed out"

    with page.context.expect_page() as opened:
        page.get_by_role("link", name="Log in again").click()
    login_tab = opened.value
    login_tab.get_by_label("Username").fill(member.username)
    login_tab.get_by_label("Password").fill("pass-word-123")
    login_tab.get_by_role("button", name="Log in").click()
    expect(login_tab.get_by_role("heading", level=1)).to_have_text("You are signed in again")
    expect(login_tab.get_by_text("Go back to your survey tab")).to_be_visible()

    # Signing in rotated the CSRF token; Retry fetches the new one and sends everything.
    page.get_by_role("button", name="Retry").click()
    expect(status).to_contain_text("Saved at")
    answer = Answer.objects.get(question__key=key)
    assert (answer.score, answer.comment) == (1, "Written while signed out")
    assert pending_in_browser(page) == {}
    expect(page.locator(f"#comment-{key}")).to_have_value("Written while signed out")


def test_a_survey_closed_mid_way_says_so_plainly_and_keeps_the_text_on_screen(
    new_page, survey, team, member, framework
):
    page = new_page()
    log_in(page, member.username)
    key = open_first_page(page, survey, team, framework)
    status = page.locator("#save-status")
    page.locator(f"#q-{key}-2").check()
    expect(status).to_contain_text("Saved at")

    Survey.objects.filter(pk=survey.pk).update(status=Survey.Status.CLOSED)
    page.locator(f"#comment-{key}").fill("Text I still want to copy")
    expect(status).to_contain_text("Not saved: This survey is closed.")
    expect(status).to_contain_text("What you typed stays on this page")
    expect(page.get_by_role("button", name="Retry")).to_be_hidden()
    assert_nothing_pasted(page)
    expect(page.locator("form.survey-form")).not_to_contain_text("Answers can no longer be changed")
    expect(page.locator(f"#comment-{key}")).to_have_value("Text I still want to copy")
    assert pending_in_browser(page)[key]["comment"] == "Text I still want to copy"

    # The page's buttons no longer lead away from the text either.
    url = page.url
    page.get_by_role("button", name=re.compile("Save and continue")).click()
    expect(status).to_contain_text("This survey is closed")
    assert page.url == url
    expect(page.locator(f"#comment-{key}")).to_have_value("Text I still want to copy")
    assert Answer.objects.get(question__key=key).comment == ""


def test_an_answer_the_server_refuses_never_shows_saved(new_page, survey, team, member, framework):
    page = new_page()
    log_in(page, member.username)
    key = open_first_page(page, survey, team, framework)
    record_statuses(page)
    # A value the server does not offer (a stale page, a tampered form).
    page.evaluate("id => { document.getElementById(id).value = '17'; }", f"q-{key}-4")
    with page.expect_response(lambda r: "/autosave/" in r.url) as answered:
        page.locator(f"#q-{key}-4").check()
    assert answered.value.status == 422
    status = page.locator("#save-status")
    expect(status).to_contain_text("Not saved: question 1: Score 17 is not offered for")
    expect(page.locator(f"#q-{key}")).to_contain_text("Not saved: Score 17 is not offered for")
    expect(page.get_by_role("button", name="Retry")).to_be_visible()
    assert not any("Saved" in text for text in page.evaluate("window.statuses"))
    assert not Answer.objects.exists()


def test_answers_kept_over_a_sign_in_are_shown_not_saved_until_the_person_saves(
    new_page, survey, team, member, framework
):
    """The no-JavaScript path keeps a signed-out page's answers over the login; the page's
    script then shows them marked, and saves them only when the person presses Save (the
    notice says so). Break-it finding: the script sent them at once."""
    plain = new_page(java_script_enabled=False)
    log_in(plain, member.username)
    key = open_first_page(plain, survey, team, framework)
    expire_all_sessions()  # the session expires while the page is open
    plain.locator(f"#comment-{key}").fill("Typed before the session expired")
    plain.get_by_role("button", name=re.compile("^Save")).first.click()
    plain.wait_for_url("**/accounts/login/**")
    scripted = new_page(storage_state=plain.context.storage_state())
    log_in(scripted, member.username)
    open_first_page(scripted, survey, team, framework)
    expect(scripted.locator("#kept-notice")).to_contain_text("not saved yet")
    expect(scripted.locator(f"#comment-{key}")).to_have_value("Typed before the session expired")
    scripted.wait_for_timeout(1500)  # time the script would take to send it
    assert not Answer.objects.filter(comment__startswith="Typed before").exists()
    scripted.get_by_role("button", name=re.compile("^Save")).first.click()
    expect(scripted.locator("#kept-notice")).to_have_count(0)
    assert Answer.objects.get(question__key=key).comment == "Typed before the session expired"

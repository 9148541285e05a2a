"""Respondent pages: permissions, autosave (JSON) and plain POSTs, review, submit, invitations."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from common.times import when
from surveys import services, views
from surveys.models import Answer, Membership, Response, Survey
from tests.conftest import complete_answers, expire_all_sessions

pytestmark = pytest.mark.django_db


def dimension_url(survey, team, key):
    return reverse("survey-dimension", args=[survey.pk, team.slug, key])


def autosave_url(survey, team, key):
    return reverse("survey-autosave", args=[survey.pk, team.slug, key])


def autosave(client, survey, team, dimension, data, **headers):
    return client.post(
        autosave_url(survey, team, dimension.key), data, HTTP_ACCEPT="application/json", **headers
    )


def first_dimension(framework):
    return framework.dimensions.order_by("order").first()


def page_post(dimension, value="2", **extra):
    data = {f"q-{q.key}": value for q in dimension.questions.all()}
    data.update(extra)
    return data


def test_home_needs_a_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_home_lists_open_surveys_with_status(client, survey, team, member, framework):
    client.force_login(member)
    page = client.get("/").content.decode()
    assert "Q4 review" in page and "Not started" in page
    services.response_submit(
        survey=survey,
        team=team,
        respondent=member,
        respondent_key=services.respondent_key_for(member, survey),
        answers=complete_answers(framework),
    )
    page = client.get("/").content.decode()
    assert "Submitted on" in page and "Change answers" in page


def test_survey_start_resumes_at_the_last_dimension(client, survey, team, member, framework):
    client.force_login(member)
    third = framework.dimensions.order_by("order")[2]
    client.get(dimension_url(survey, team, third.key))
    response = client.get(reverse("survey-start", args=[survey.pk, team.slug]))
    assert response["Location"] == dimension_url(survey, team, third.key)


def test_dimension_page_shows_questions_choices_guidance_and_progress(
    client, survey, team, member, framework
):
    client.force_login(member)
    dimension = first_dimension(framework)
    page = client.get(dimension_url(survey, team, dimension.key)).content.decode()
    question = dimension.questions.first()
    assert question.text in page
    assert "Guidance" in page
    assert f'id="q-{question.key}-4"' in page and f'for="q-{question.key}-4"' in page
    assert f'for="comment-{question.key}"' in page
    assert f"0 of {framework.questions.count()} questions answered" in page
    assert f'data-autosave-url="{autosave_url(survey, team, dimension.key)}"' in page
    assert "/static/js/autosave.js" in page
    assert 'id="save-status" class="save-status" role="status" aria-live="polite"' in page
    assert "hx-post" not in page  # the htmx autosave pasted whole pages into the status


def test_plain_post_saves_and_moves_to_the_next_dimension(client, survey, team, member, framework):
    client.force_login(member)
    first, second = framework.dimensions.order_by("order")[:2]
    response = client.post(dimension_url(survey, team, first.key), page_post(first, action="next"))
    assert response.status_code == 302
    assert response["Location"] == dimension_url(survey, team, second.key)
    draft = Response.objects.get(status="draft")
    assert draft.answers.count() == first.questions.count()
    assert draft.respondent == member


def test_autosave_answers_json_with_the_time_and_progress_once_saved(
    client, survey, team, member, framework
):
    client.force_login(member)
    dimension = first_dimension(framework)
    question = dimension.questions.first()
    response = autosave(
        client,
        survey,
        team,
        dimension,
        {f"q-{question.key}": "3", f"comment-{question.key}": "<b>we try</b>"},
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    saved_at = datetime.fromisoformat(body["saved_at"])
    assert abs((timezone.now() - saved_at).total_seconds()) < 60
    assert body["saved_at_display"] == timezone.localtime(saved_at).strftime("%H:%M:%S")
    assert body["saved"] == [question.key]
    total = framework.questions.count()
    assert body["progress"] == {"answered": 1, "total": total, "percent": 100 // total}
    answer = Response.objects.get(status="draft").answers.get()
    assert (answer.score, answer.comment) == (3, "<b>we try</b>")
    page = client.get(dimension_url(survey, team, dimension.key)).content.decode()
    assert "&lt;b&gt;we try&lt;/b&gt;" in page  # user text is escaped
    assert "<b>we try</b>" not in page


def test_autosave_leaves_questions_it_was_not_sent_alone(client, survey, team, member, framework):
    client.force_login(member)
    dimension = first_dimension(framework)
    first, second = list(dimension.questions.all())[:2]
    autosave(client, survey, team, dimension, {f"q-{first.key}": "1", f"q-{second.key}": "2"})
    response = autosave(client, survey, team, dimension, {f"comment-{second.key}": "only this"})
    assert response.status_code == 200
    assert response.json()["saved"] == [second.key]
    answers = Response.objects.get(status="draft").answers
    assert answers.get(question=first).score == 1  # not sent: untouched
    # A question sent without a choice has none: the page sends each question whole.
    assert (answers.get(question=second).score, answers.get(question=second).comment) == (
        None,
        "only this",
    )


def test_autosave_clears_a_question_sent_empty(client, survey, team, member, framework):
    client.force_login(member)
    dimension = first_dimension(framework)
    question = dimension.questions.first()
    autosave(client, survey, team, dimension, {f"q-{question.key}": "4"})
    response = autosave(
        client, survey, team, dimension, {f"q-{question.key}": "", f"comment-{question.key}": ""}
    )
    assert response.status_code == 200
    assert response.json()["progress"]["answered"] == 0
    assert not Response.objects.get(status="draft").answers.exists()


def test_autosave_with_an_invalid_value_answers_422_per_question_and_saves_the_valid_ones(
    client, survey, team, member, framework
):
    client.force_login(member)
    dimension = first_dimension(framework)
    first, second = list(dimension.questions.all())[:2]
    response = autosave(
        client,
        survey,
        team,
        dimension,
        {f"q-{first.key}": "2", f"q-{second.key}": "17", f"comment-{second.key}": "x" * 10},
    )
    assert response.status_code == 422
    body = response.json()
    assert "saved_at" not in body  # nothing may say "Saved" about this request
    assert body["code"] == "invalid"
    assert body["errors"] == {
        second.key: f"Score 17 is not offered for '{second.key}'; choose one of [0, 1, 2, 3, 4]."
    }
    assert body["saved"] == [first.key]
    assert body["progress"]["answered"] == 1
    draft = Response.objects.get(status="draft")
    assert list(draft.answers.values_list("question__key", "score")) == [(first.key, 2)]


def test_autosave_of_a_signed_out_user_answers_401_json_not_a_login_page(
    client, survey, team, member, framework
):
    dimension = first_dimension(framework)
    question = dimension.questions.first()
    response = autosave(client, survey, team, dimension, {f"q-{question.key}": "3"})
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert "Location" not in response
    assert response.json() == {
        "code": "session_expired",
        "detail": "Your session has expired. Log in again, then retry.",
        "login_url": f"{reverse('login')}?next={reverse('signed-in')}",
    }
    assert not Response.objects.exists()


def test_autosave_after_signing_in_as_someone_else_answers_401_other_respondent(
    client, survey, team, member, framework
):
    from tests.factories import MembershipFactory

    colleague = MembershipFactory(team=team, user__username="bob").user
    client.force_login(member)
    dimension = first_dimension(framework)
    page = client.get(dimension_url(survey, team, dimension.key))
    alice_tag = page.context["respondent_tag"]
    question = dimension.questions.first()
    assert (
        autosave(
            client, survey, team, dimension, {f"q-{question.key}": "1", "respondent": alice_tag}
        ).status_code
        == 200
    )
    client.force_login(colleague)  # someone else signs in on the same browser
    response = autosave(
        client, survey, team, dimension, {f"q-{question.key}": "4", "respondent": alice_tag}
    )
    assert response.status_code == 401
    assert response.json()["code"] == "other_respondent"
    assert not Response.objects.filter(respondent=colleague).exists()
    assert Response.objects.get(respondent=member).answers.get().score == 1


def test_autosave_to_a_closed_survey_answers_409_with_the_closing_date(
    client, survey, team, member, framework
):
    client.force_login(member)
    dimension = first_dimension(framework)
    question = dimension.questions.first()
    closed_at = timezone.now() - timedelta(hours=1)
    Survey.objects.filter(pk=survey.pk).update(
        opens_at=closed_at - timedelta(days=7), closes_at=closed_at
    )
    response = autosave(client, survey, team, dimension, {f"q-{question.key}": "3"})
    assert response.status_code == 409
    assert response.json() == {
        "code": "closed",
        "detail": f"This survey closed on {when(closed_at)}. Answers can no longer be saved.",
    }
    # Closed by hand before its planned end: the page gives when it was closed.
    Survey.objects.filter(pk=survey.pk).update(closes_at=timezone.now() + timedelta(days=9))
    closed = services.survey_close(survey=Survey.objects.get(pk=survey.pk))
    response = autosave(client, survey, team, dimension, {f"q-{question.key}": "3"})
    assert (response.status_code, response.json()["detail"]) == (
        409,
        f"This survey closed on {when(closed.closed_at)}. Answers can no longer be saved.",
    )
    assert not Answer.objects.exists()


def test_autosave_to_a_survey_not_open_yet_answers_409_not_open(
    client, survey, team, member, framework
):
    client.force_login(member)
    dimension = first_dimension(framework)
    opens_at = timezone.now() + timedelta(days=2)
    Survey.objects.filter(pk=survey.pk).update(opens_at=opens_at, closes_at=None)
    response = autosave(client, survey, team, dimension, {})
    assert response.status_code == 409
    when = date_format(timezone.localtime(opens_at), "j M Y, H:i T")
    assert response.json() == {
        "code": "not_open",
        "detail": f"This survey is not open yet. It opens on {when}.",
    }


def test_autosave_to_a_page_that_is_not_theirs_answers_404_json(
    client, survey, team, other_member, member, framework
):
    dimension = first_dimension(framework)
    question = dimension.questions.first()
    data = {f"q-{question.key}": "3"}
    client.force_login(other_member)
    response = autosave(client, survey, team, dimension, data)
    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "detail": "There is no such survey page for you.",
    }
    client.force_login(member)
    for url in [
        reverse("survey-autosave", args=[survey.pk, team.slug, "no-such-dimension"]),
        reverse("survey-autosave", args=[survey.pk + 1000, team.slug, dimension.key]),
        reverse("survey-autosave", args=[survey.pk, "no-such-team", dimension.key]),
    ]:
        response = client.post(url, data, HTTP_ACCEPT="application/json")
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), url
    assert not Answer.objects.exists()


def test_autosave_answers_only_post_and_always_in_json(
    client, survey, team, member, framework, settings
):
    client.force_login(member)
    url = autosave_url(survey, team, first_dimension(framework).key)
    response = client.get(url)
    assert (response.status_code, response.json()["code"]) == (405, "method_not_allowed")
    assert response["Allow"] == "POST"
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5  # break-it finding: this was an HTML 400
    response = client.post(url, {f"f{i}": "x" for i in range(10)})
    assert (response.status_code, response.json()["code"]) == (400, "too_large")


def test_autosave_with_a_stale_csrf_token_answers_403_json(survey, team, member, framework):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    dimension = first_dimension(framework)
    question = dimension.questions.first()
    client.get(dimension_url(survey, team, dimension.key))  # sets the CSRF cookie
    response = client.post(
        autosave_url(survey, team, dimension.key),
        {f"q-{question.key}": "3"},
        HTTP_ACCEPT="application/json",
        HTTP_X_CSRFTOKEN="stale" * 8,
    )
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    # A page POST (a browser navigating) still gets Django's page.
    page = client.post(
        dimension_url(survey, team, dimension.key),
        {f"q-{question.key}": "3"},
        HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8",
    )
    assert page.status_code == 403
    assert "CSRF verification failed" in page.content.decode()
    assert not Answer.objects.exists()


def test_session_state_gives_a_csrf_token_that_works_after_login(survey, team, member, framework):
    client = Client(enforce_csrf_checks=True)
    dimension = first_dimension(framework)
    question = dimension.questions.first()
    before = client.get(reverse("session-state"))
    assert before["Cache-Control"].startswith("max-age=0")
    assert before.json()["authenticated"] is False
    login = client.post(
        reverse("login"),
        {
            "username": member.username,
            "password": "pass-word-123",
            "csrfmiddlewaretoken": before.json()["csrf_token"],
        },
    )
    assert login.status_code == 302
    # Login rotated the token: the old one fails, a fresh one from session-state works.
    stale = client.post(
        autosave_url(survey, team, dimension.key),
        {f"q-{question.key}": "3"},
        HTTP_ACCEPT="application/json",
        HTTP_X_CSRFTOKEN=before.json()["csrf_token"],
    )
    assert (stale.status_code, stale.json()["code"]) == (403, "csrf_failed")
    after = client.get(reverse("session-state")).json()
    assert (after["authenticated"], after["username"]) == (True, member.username)
    fresh = client.post(
        autosave_url(survey, team, dimension.key),
        {f"q-{question.key}": "3"},
        HTTP_ACCEPT="application/json",
        HTTP_X_CSRFTOKEN=after["csrf_token"],
    )
    assert fresh.status_code == 200
    assert Answer.objects.get().score == 3


def test_signed_in_page_sends_the_person_back_to_their_survey_tab(client, member):
    url = reverse("signed-in")
    assert client.get(url)["Location"].startswith(reverse("login"))
    client.force_login(member)
    page = client.get(url).content.decode()
    assert "You are signed in again" in page
    assert "Go back to your survey tab" in page


def test_anonymous_invitee_autosaves_with_their_cookie(client, survey, team, admin_user, framework):
    survey.anonymous = True
    survey.save()
    _, token = services.invitation_create(
        survey=survey, team=team, created_by=admin_user, invitee_email="guest@x.test"
    )
    client.post(reverse("invitation-open", args=[token]))
    dimension = first_dimension(framework)
    question = dimension.questions.first()
    response = autosave(client, survey, team, dimension, {f"q-{question.key}": "2"})
    assert response.status_code == 200
    draft = Response.objects.get(status="draft")
    assert draft.respondent is None and draft.answers.get().score == 2


@pytest.mark.django_db(transaction=True)
def test_autosave_answers_200_only_once_the_answer_is_committed(
    client, survey, team, member, framework
):
    client.force_login(member)
    dimension = first_dimension(framework)
    question = dimension.questions.first()
    response = autosave(client, survey, team, dimension, {f"q-{question.key}": "4"})
    assert response.status_code == 200
    seen: list = []

    def read_from_another_connection() -> None:
        from django.db import connection

        try:
            seen.extend(Answer.objects.values_list("question__key", "score"))
        finally:
            connection.close()

    reader = threading.Thread(target=read_from_another_connection)
    reader.start()
    reader.join()
    assert seen == [(question.key, 4)]


def test_page_post_after_the_session_expired_keeps_the_answers_over_the_login(
    client, survey, team, member, framework
):
    dimension = first_dimension(framework)
    first, second = list(dimension.questions.all())[:2]
    url = dimension_url(survey, team, dimension.key)
    client.force_login(member)
    tag = client.get(url).context["respondent_tag"]
    expire_all_sessions()  # the session expires while the page is open
    response = client.post(
        url,
        {
            f"q-{first.key}": "3",
            f"comment-{first.key}": "Typed before the session expired",
            f"comment-{second.key}": "",
            "action": "next",
            "unrelated": "not kept",
            "respondent": tag,
        },
    )
    assert response["Location"] == f"{reverse('login')}?next={url}"
    assert not Answer.objects.exists()

    client.post(reverse("login"), {"username": member.username, "password": "pass-word-123"})
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "the answers below are not saved yet" in html
    assert "Typed before the session expired" in html
    assert f'id="q-{first.key}-3" name="q-{first.key}" value="3" checked' in html
    items = {item["question"].key: item for item in page.context["items"]}
    assert items[first.key]["unsaved"] is True  # marked; the person checks it and saves
    assert items[second.key]["unsaved"] is False
    assert not Answer.objects.exists()  # shown, not saved behind the person's back
    again = client.get(url).content.decode()
    assert "Typed before the session expired" not in again  # shown once


def test_kept_answers_older_than_a_day_are_not_shown(client, survey, team, member, framework):
    dimension = first_dimension(framework)
    question = dimension.questions.first()
    url = dimension_url(survey, team, dimension.key)
    key = services.respondent_key_for(member, survey)
    tag = views._respondent_tag(views.Respondent(member, key))  # the member's own page
    client.post(url, {f"comment-{question.key}": "Old words", "respondent": tag})
    session = client.session
    assert session[views.KEPT_ANSWERS_SESSION_KEY][url]["respondent"] == tag
    kept = session[views.KEPT_ANSWERS_SESSION_KEY]
    kept[url]["at"] -= views.KEPT_ANSWERS_MAX_AGE + 1
    session[views.KEPT_ANSWERS_SESSION_KEY] = kept
    session.save()
    client.post(reverse("login"), {"username": member.username, "password": "pass-word-123"})
    assert "Old words" not in client.get(url).content.decode()


def test_a_strangers_post_keeps_only_a_bounded_number_of_answer_fields(client, survey, team):
    data = {f"comment-k{i}": "y" * 12_000 for i in range(150)} | {"evil": "z"}
    for page in range(8):
        client.post(dimension_url(survey, team, f"page-{page}"), data)
    kept = client.session[views.KEPT_ANSWERS_SESSION_KEY]
    assert len(kept) == views.KEPT_ANSWERS_MAX_PAGES
    assert list(kept)[-1] == dimension_url(survey, team, "page-7")
    fields = kept[dimension_url(survey, team, "page-7")]["fields"]
    assert len(fields) == views.KEPT_ANSWER_MAX_FIELDS
    assert {len(value) for value in fields.values()} == {views.KEPT_ANSWER_MAX_CHARS}
    assert "evil" not in fields


def test_bad_values_are_reported_and_good_ones_kept(client, survey, team, member, framework):
    client.force_login(member)
    dimension = first_dimension(framework)
    first, second = list(dimension.questions.all())[:2]
    response = client.post(
        dimension_url(survey, team, dimension.key),
        {f"q-{first.key}": "2", f"q-{second.key}": "17", f"comment-{second.key}": "keep me"},
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert (
        f"Score 17 is not offered for &#x27;{second.key}&#x27;; choose one of [0, 1, 2, 3, 4]."
        in page
    )
    assert "keep me" in page  # what was typed is not lost
    draft = Response.objects.get(status="draft")
    assert list(draft.answers.values_list("question__key", "score")) == [(first.key, 2)]


def test_review_lists_missing_questions_then_submits(client, survey, team, member, framework):
    client.force_login(member)
    review_url = reverse("survey-review", args=[survey.pk, team.slug])
    page = client.get(review_url).content.decode()
    assert f"{framework.questions.count()} questions still unanswered" in page
    response = client.post(review_url)
    assert response.status_code == 422
    assert "still need an answer" in response.content.decode()

    for dimension in framework.dimensions.all():
        client.post(dimension_url(survey, team, dimension.key), page_post(dimension, "1"))
    response = client.post(review_url)
    assert response.status_code == 302
    assert response["Location"] == reverse("survey-done", args=[survey.pk, team.slug])
    assert Response.objects.get(status="submitted").respondent == member
    assert "your answers are submitted" in client.get(response["Location"]).content.decode()


def test_members_of_other_teams_get_404_everywhere(client, survey, team, other_member, framework):
    client.force_login(other_member)
    dimension = first_dimension(framework)
    urls = [
        reverse("survey-start", args=[survey.pk, team.slug]),
        dimension_url(survey, team, dimension.key),
        reverse("survey-review", args=[survey.pk, team.slug]),
        reverse("survey-done", args=[survey.pk, team.slug]),
        reverse("survey-invitations", args=[survey.pk, team.slug]),
    ]
    for url in urls:
        assert client.get(url).status_code == 404, url
        assert client.post(url, page_post(dimension)).status_code == 404, url
    assert not Response.objects.exists()


def test_draft_surveys_are_invisible_and_closed_ones_say_so(client, survey, team, member):
    client.force_login(member)
    url = reverse("survey-start", args=[survey.pk, team.slug])
    services.survey_close(survey=survey)
    page = client.get(url).content.decode()
    assert "This survey is closed" in page
    survey.status = "draft"
    survey.save()
    assert client.get(url).status_code == 404


def test_anonymous_invitee_answers_without_an_account(client, survey, team, admin_user, framework):
    survey.anonymous = True
    survey.save()
    _, token = services.invitation_create(
        survey=survey, team=team, created_by=admin_user, invitee_email="guest@example.org"
    )
    invite_url = reverse("invitation-open", args=[token])
    assert "anonymous" in client.get(invite_url).content.decode()
    response = client.post(invite_url)
    assert response.status_code == 302
    for dimension in framework.dimensions.all():
        client.post(dimension_url(survey, team, dimension.key), page_post(dimension, "3"))
    client.post(reverse("survey-review", args=[survey.pk, team.slug]))
    submitted = Response.objects.get(status="submitted")
    assert submitted.respondent is None
    assert submitted.respondent_key == services.link_respondent_key(
        survey, team, "Guest@Example.org"
    )
    # Following the link again keeps the same respondent (resubmission replaces).
    assert client.get(invite_url)["Location"].endswith(f"/surveys/{survey.pk}/{team.slug}/")


def test_named_invitation_asks_to_log_in_then_joins_the_team(client, survey, team, manager):
    from tests.factories import UserFactory

    _, token = services.invitation_create(survey=survey, team=team, created_by=manager)
    invite_url = reverse("invitation-open", args=[token])
    page = client.get(invite_url).content.decode()  # log in, or create an account
    assert f'href="{reverse("login")}?next={invite_url}"' in page
    newcomer = UserFactory(username="newcomer")
    client.force_login(newcomer)
    response = client.post(invite_url)
    assert response.status_code == 302
    assert Membership.objects.filter(user=newcomer, team=team).exists()


def test_bad_invitation_links_get_a_clear_page(client):
    response = client.get(reverse("invitation-open", args=["nonsense"]))
    assert response.status_code == 404
    assert "not valid" in response.content.decode()


def test_managers_create_invitation_links_members_cannot(client, survey, team, manager, member):
    url = reverse("survey-invitations", args=[survey.pk, team.slug])
    client.force_login(member)
    assert client.get(url).status_code == 404
    client.force_login(manager)
    response = client.post(url, {"max_uses": "5"})
    assert response.status_code == 200
    link = response.context["link"]
    assert "/i/" in link
    assert response.context["invitations"][0].max_uses == 5
    bad = client.post(url, {"max_uses": "-3", "expires_at": "yesterday"})
    assert bad.status_code == 422


def test_autosave_writes_only_the_answer_that_changed(client, survey, team, member, framework):
    client.force_login(member)
    dimension = first_dimension(framework)
    first, second = list(dimension.questions.all())[:2]
    autosave(client, survey, team, dimension, {f"q-{first.key}": "1", f"q-{second.key}": "2"})
    draft = Response.objects.get(status="draft")
    before = dict(draft.answers.values_list("question__key", "updated_at"))
    autosave(client, survey, team, dimension, {f"q-{first.key}": "1", f"q-{second.key}": "3"})
    after = dict(draft.answers.values_list("question__key", "updated_at"))
    assert after[first.key] == before[first.key]
    assert after[second.key] > before[second.key]
    assert draft.answers.get(question=second).score == 3


def test_progress_reads_100_percent_only_when_every_question_is_answered():
    from surveys.selectors import progress_percent

    assert [progress_percent(a, 250) for a in (0, 1, 249, 250)] == [0, 0, 99, 100]
    assert progress_percent(0, 0) == 0


def test_respondents_see_level_labels_without_score_numbers(
    client, survey, team, member, framework
):
    client.force_login(member)
    dimension = first_dimension(framework)
    page = client.get(dimension_url(survey, team, dimension.key)).content.decode()
    for choice in dimension.questions.first().choices.all():
        assert f"<strong>{choice.label}</strong>" in page
        assert f"{choice.score} · {choice.label}" not in page


def test_an_autosave_is_a_few_statements(
    client, survey, team, member, framework, django_assert_max_num_queries
):
    """Under load every statement waits its turn at the database (issue 17: 24 statements
    per autosave, p95 4.6 s under benchmarks/load.py): session (when not in the cache),
    user, survey, team, membership, then one transaction locking the survey and the draft,
    reading its answers, upserting the sent one and touching the draft."""
    client.force_login(member)
    dimension = framework.dimensions.order_by("order").first()
    first, second = dimension.questions.order_by("order")[:2]
    autosave(client, survey, team, dimension, {f"q-{first.key}": "1"})  # creates the draft
    with django_assert_max_num_queries(12):
        response = autosave(client, survey, team, dimension, {f"q-{second.key}": "3"})
    assert response.status_code == 200
    assert response.json()["progress"]["answered"] == 2


def test_a_page_post_in_a_round_that_closes_meanwhile_shows_the_reason_and_keeps_the_text(
    client, survey, team, member, framework, monkeypatch
):
    """Break-it finding: when the round closed between opening the draft and saving (the
    closing task ran at closes_at), the page POST answered 500. The close is injected
    just before the real save."""
    client.force_login(member)
    dimension = first_dimension(framework)
    question = dimension.questions.first()
    real_save = services.answers_save

    def close_then_save(**kwargs):
        services.survey_close(survey=Survey.objects.get(pk=survey.pk))
        return real_save(**kwargs)

    monkeypatch.setattr(services, "answers_save", close_then_save)
    response = client.post(
        dimension_url(survey, team, dimension.key),
        {f"q-{question.key}": "2", f"comment-{question.key}": "Typed as it closed"},
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "closed" in html and "Typed as it closed" in html
    assert not Answer.objects.exists()


def test_a_multi_line_comment_is_stored_with_lf_and_counted_as_the_browser_counts_it(
    client, survey, team, member, framework
):
    """Break-it finding: a form posts a textarea's line breaks as CRLF; counted as two
    characters, a comment the browser's maxlength accepted was refused, and every page
    POST rewrote an unchanged multi-line comment (its autosave had stored LF)."""
    client.force_login(member)
    dimension = first_dimension(framework)
    question = dimension.questions.first()
    lines = "x" * 2499 + "\r\n" + "y" * 2499  # 5,000 characters in the textarea
    url = dimension_url(survey, team, dimension.key)
    response = client.post(url, {f"q-{question.key}": "2", f"comment-{question.key}": lines})
    assert response.status_code == 302
    stored = Answer.objects.get(question=question)
    assert stored.comment == lines.replace("\r\n", "\n") and len(stored.comment) == 4999
    client.post(url, {f"q-{question.key}": "2", f"comment-{question.key}": lines})
    assert Answer.objects.get(pk=stored.pk).updated_at == stored.updated_at  # not rewritten
    autosave(client, survey, team, dimension, {f"comment-{question.key}": "a\rb"})
    assert Answer.objects.get(pk=stored.pk).comment == "a\nb"


def test_an_autosave_that_saves_nothing_writes_nothing(client, survey, team, member, framework):
    """Break-it finding: an empty autosave (400) or one whose every answer is refused
    (422) still started or touched the respondent's draft."""
    client.force_login(member)
    dimension = first_dimension(framework)
    question = dimension.questions.first()
    assert autosave(client, survey, team, dimension, {}).status_code == 400
    refused = autosave(client, survey, team, dimension, {f"q-{question.key}": "99"})
    assert refused.status_code == 422
    assert refused.json()["saved"] == [] and refused.json()["progress"]["answered"] == 0
    assert not Response.objects.exists()
    # With a draft: the progress of what it holds, and the draft left as it was.
    autosave(client, survey, team, dimension, {f"q-{question.key}": "3"})
    draft = Response.objects.get()
    refused = autosave(client, survey, team, dimension, {f"q-{question.key}": "abc"})
    assert refused.json()["progress"]["answered"] == 1
    assert Response.objects.get().updated_at == draft.updated_at
    services.survey_close(survey=survey)
    closed = autosave(client, survey, team, dimension, {f"q-{question.key}": "abc"})
    assert (closed.status_code, closed.json()["code"]) == (409, "closed")


def test_an_oversized_autosave_answers_json_even_when_the_csrf_check_reads_it_first(
    survey, team, member, framework, settings
):
    """Break-it finding: Django's CSRF check parses the form before any view runs, so an
    oversized autosave got Django's HTML 400 instead of the README's ``too_large``."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    dimension = first_dimension(framework)
    page_url = dimension_url(survey, team, dimension.key)
    client.get(page_url)
    token = client.cookies["csrftoken"].value
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    fields = {f"comment-x{i}": "x" for i in range(10)}
    for headers in ({"HTTP_ACCEPT": "application/json"}, {}):
        response = client.post(
            autosave_url(survey, team, dimension.key), fields, HTTP_X_CSRFTOKEN=token, **headers
        )
        assert (response.status_code, response.json()["code"]) == (400, "too_large")
    page = client.post(page_url, {"csrfmiddlewaretoken": token, **fields})
    assert page.status_code == 400 and page["Content-Type"].startswith("text/html")


def test_answers_kept_over_a_sign_in_go_back_only_to_who_typed_them(
    client, survey, team, member, other_member, framework
):
    """Break-it finding: answers typed by a person whose session expired were shown (and
    autosaved) to whoever signed in next on that browser."""
    Membership.objects.create(user=other_member, team=team)
    dimension = first_dimension(framework)
    question = dimension.questions.first()
    url = dimension_url(survey, team, dimension.key)
    client.force_login(member)
    tag = client.get(url).context["respondent_tag"]
    expire_all_sessions()
    client.post(url, {f"comment-{question.key}": "Typed by the first person", "respondent": tag})
    client.force_login(other_member)
    page = client.get(url).content.decode()
    assert "Typed by the first person" not in page and "not saved yet" not in page
    # A page opened by the first person, posted with the second signed in, saves nothing.
    response = client.post(url, {f"q-{question.key}": "4", "respondent": tag})
    assert response.status_code == 302 and response["Location"] == url
    assert not Answer.objects.exists()
    assert "opened by someone else" in client.get(url).content.decode()


def test_an_invitee_whose_tab_another_invitation_replaced_is_told_so_not_to_log_in(
    client, survey, team, admin_user, framework
):
    """Break-it finding: invitees have no account, yet were told to "log in again"."""
    survey.anonymous = True
    survey.save()
    dimension = first_dimension(framework)
    question = dimension.questions.first()
    tokens = [
        services.invitation_create(
            survey=survey, team=team, created_by=admin_user, invitee_email=f"g{i}@x.test"
        )[1]
        for i in range(2)
    ]
    client.post(reverse("invitation-open", args=[tokens[0]]))
    first_tag = client.get(dimension_url(survey, team, dimension.key)).context["respondent_tag"]
    client.post(reverse("invitation-open", args=[tokens[1]]))
    response = autosave(
        client, survey, team, dimension, {f"q-{question.key}": "2", "respondent": first_tag}
    )
    assert (response.status_code, response.json()["code"]) == (401, "other_respondent")
    assert "invitation link" in response.json()["detail"]
    assert "Log in" not in response.json()["detail"]
    assert not Answer.objects.exists()


def test_a_page_posted_after_the_close_gives_its_comments_back_to_copy(
    client, survey, team, member, framework
):
    """Break-it finding: a page posted (no JavaScript) after the round closed showed the
    closed page, and what was typed was gone."""
    client.force_login(member)
    dimension = first_dimension(framework)
    first, second = dimension.questions.order_by("order")[:2]
    services.survey_close(survey=survey)
    response = client.post(
        dimension_url(survey, team, dimension.key),
        {
            f"q-{first.key}": "2",
            f"comment-{first.key}": "Our <b>deploys</b> are\nmanual",
            f"comment-{second.key}": "  ",
            "comment-no-such-question": "dropped",
        },
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "This survey is closed" in html and "was not saved" in html
    assert first.text in html and "Our &lt;b&gt;deploys&lt;/b&gt; are\nmanual" in html
    assert second.text not in html and "dropped" not in html
    assert not Answer.objects.exists()
    assert client.get(dimension_url(survey, team, dimension.key)).status_code == 200


def test_respondent_loop_done_page_back_button_and_unchanged_resubmission(
    client, survey, team, member, framework
):
    """Issue 18: the done page links to the results and to the review page; a review page
    posted again (Back) or an unchanged draft submits nothing twice."""
    client.force_login(member)
    review_url = reverse("survey-review", args=[survey.pk, team.slug])
    for dimension in framework.dimensions.all():
        client.post(dimension_url(survey, team, dimension.key), page_post(dimension, "1"))
    first_page = client.get(review_url)
    draft_id = first_page.context["draft"].pk
    assert f'name="draft" value="{draft_id}"' in first_page.content.decode()
    assert client.post(review_url, {"draft": draft_id}).status_code == 302
    done = client.get(reverse("survey-done", args=[survey.pk, team.slug])).content.decode()
    assert f"/reports/teams/{team.slug}/?survey={survey.pk}" in done
    assert f'href="{review_url}">Change your answers' in done

    # Back: the same review page is posted again.
    response = client.post(review_url, {"draft": draft_id}, follow=True)
    assert "already submitted: nothing was submitted twice" in response.content.decode()
    assert Response.objects.filter(status__in=["submitted", "superseded"]).count() == 1

    # "Change your answers", then submit without changing anything.
    again = client.get(review_url).context["draft"].pk
    response = client.post(review_url, {"draft": again}, follow=True)
    assert "Nothing changed since your submission" in response.content.decode()
    assert Response.objects.filter(status__in=["submitted", "superseded"]).count() == 1
    assert not Response.objects.filter(status="draft").exists()

    # A real change is submitted and replaces the first submission.
    dimension = first_dimension(framework)
    client.post(dimension_url(survey, team, dimension.key), page_post(dimension, "3"))
    draft = Response.objects.get(status="draft")
    assert client.post(review_url, {"draft": draft.pk}).status_code == 302
    assert Response.objects.filter(status="superseded").count() == 1
    assert Response.objects.filter(status="submitted").count() == 1


def test_done_page_offers_results_only_to_those_who_may_read_them(
    client, survey, team, member, framework
):
    from surveys.services import respondent_key_for, response_submit
    from tests.conftest import complete_answers

    survey.members_see_results = False
    survey.save()
    response_submit(
        survey=survey,
        team=team,
        respondent=member,
        respondent_key=respondent_key_for(member, survey),
        answers=complete_answers(framework),
    )
    client.force_login(member)
    done = client.get(reverse("survey-done", args=[survey.pk, team.slug])).content.decode()
    assert "your answers are submitted" in done and "/reports/teams/" not in done

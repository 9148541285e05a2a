"""Respondent pages: permissions, autosave (htmx and plain POST), review, submit, invitations."""

from __future__ import annotations

import pytest
from django.urls import reverse

from surveys import services
from surveys.models import Membership, Response
from tests.conftest import complete_answers

pytestmark = pytest.mark.django_db


def dimension_url(survey, team, key):
    return reverse("survey-dimension", args=[survey.pk, team.slug, key])


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
    assert 'hx-post="' in page


def test_plain_post_saves_and_moves_to_the_next_dimension(client, survey, team, member, framework):
    client.force_login(member)
    first, second = framework.dimensions.order_by("order")[:2]
    response = client.post(dimension_url(survey, team, first.key), page_post(first, action="next"))
    assert response.status_code == 302
    assert response["Location"] == dimension_url(survey, team, second.key)
    draft = Response.objects.get(status="draft")
    assert draft.answers.count() == first.questions.count()
    assert draft.respondent == member


def test_htmx_autosave_returns_a_saved_fragment(client, survey, team, member, framework):
    client.force_login(member)
    dimension = first_dimension(framework)
    question = dimension.questions.first()
    response = client.post(
        dimension_url(survey, team, dimension.key),
        {f"q-{question.key}": "3", f"comment-{question.key}": "<b>we try</b>"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Saved at" in body and "1 of" in body
    answer = Response.objects.get(status="draft").answers.get()
    assert (answer.score, answer.comment) == (3, "<b>we try</b>")
    page = client.get(dimension_url(survey, team, dimension.key)).content.decode()
    assert "&lt;b&gt;we try&lt;/b&gt;" in page  # user text is escaped
    assert "<b>we try</b>" not in page


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
        assert client.post(url, page_post(dimension)).status_code in {404, 405}, url
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
    assert client.get(invite_url)["Location"].startswith(reverse("login"))
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
    url = dimension_url(survey, team, dimension.key)
    client.post(url, {f"q-{first.key}": "1", f"q-{second.key}": "2"}, HTTP_HX_REQUEST="true")
    draft = Response.objects.get(status="draft")
    before = dict(draft.answers.values_list("question__key", "updated_at"))
    client.post(url, {f"q-{first.key}": "1", f"q-{second.key}": "3"}, HTTP_HX_REQUEST="true")
    after = dict(draft.answers.values_list("question__key", "updated_at"))
    assert after[first.key] == before[first.key]
    assert after[second.key] > before[second.key]
    assert draft.answers.get(question=second).score == 3

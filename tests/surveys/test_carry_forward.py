"""Carry-forward (issue 18): a new named round starts from the respondent's previous
answers, marked until they confirm each page; the report counts the answers confirmed
unchanged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from reports.services import aggregate
from surveys import services
from surveys.models import Answer, Response
from tests.conftest import complete_answers
from tests.factories import SurveyFactory
from tests.surveys.test_views import autosave, dimension_url, first_dimension, page_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def last_round(framework, team, member):
    earlier = SurveyFactory(
        framework=framework,
        teams=[team],
        status="open",
        opens_at=timezone.now() - timedelta(days=100),
    )
    first = first_dimension(framework)
    overrides = {q.key: "na" for q in first.questions.filter(allow_na=True)[:1]}
    services.response_submit(
        survey=earlier,
        team=team,
        respondent=member,
        respondent_key=services.respondent_key_for(member, earlier),
        answers=complete_answers(framework, 3, **overrides),
    )
    services.survey_close(survey=earlier)
    return earlier


@pytest.fixture
def this_round(framework, team, last_round):
    return SurveyFactory(framework=framework, teams=[team], status="open")


def test_a_new_draft_starts_from_the_last_round(this_round, team, member, framework):
    draft = services.response_start(
        survey=this_round, team=team, respondent_key=f"u:{member.pk}", respondent=member
    )
    answers = draft.answers.all()
    assert answers.count() == framework.questions.count()
    assert all(a.carried and a.prefilled for a in answers)
    assert {a.score for a in answers if not a.na} == {3}


def test_nothing_is_carried_in_anonymous_rounds_or_when_off(framework, team, member, last_round):
    for settings in ({"anonymous": True}, {"carry_forward": False}):
        survey = SurveyFactory(framework=framework, teams=[team], status="open", **settings)
        key = services.respondent_key_for(member, survey)
        draft = services.response_start(
            survey=survey, team=team, respondent_key=key, respondent=member
        )
        assert draft.answers.count() == 0, settings


def test_pages_are_confirmed_by_saving_and_submission_waits_for_them(
    client, this_round, team, member, framework
):
    survey = this_round
    client.force_login(member)
    first = first_dimension(framework)
    page = client.get(dimension_url(survey, team, first.key)).content.decode()
    assert "from your last round" in page and 'id="prefilled-notice"' in page
    review_url = reverse("survey-review", args=[survey.pk, team.slug])
    response = client.post(review_url)
    assert response.status_code == 422
    assert "not confirmed yet" in response.content.decode()
    assert not Response.objects.filter(survey=survey, status="submitted").exists()

    # Autosave a change: that answer is the respondent's own now.
    changed = (
        first.questions.exclude(allow_na=True).order_by("order").first() or first.questions.first()
    )
    autosave(client, survey, team, first, {f"q-{changed.key}": "1"})
    mine = Answer.objects.get(response__survey=survey, question=changed)
    assert (mine.score, mine.carried, mine.prefilled) == (1, False, False)

    # Saving each page with its button confirms what is left as it was.
    for dimension in framework.dimensions.all():
        data = {
            f"q-{a.question.key}": "na" if a.na else str(a.score)
            for a in Answer.objects.filter(
                response__survey=survey, response__status="draft", question__dimension=dimension
            ).select_related("question")
        }
        client.post(dimension_url(survey, team, dimension.key), data)
    assert not Answer.objects.filter(response__survey=survey, prefilled=True).exists()
    assert "from your last round to confirm" not in client.get(review_url).content.decode()
    response = client.post(review_url)
    assert response.status_code == 302

    aggregate(survey=survey)
    report = client.get(f"/reports/teams/{team.slug}/?survey={survey.pk}").content.decode()
    total = framework.questions.count()
    assert f"{total - 1} of {total} answers were carried forward" in report


def test_a_resubmission_keeps_what_was_carried(client, this_round, team, member, framework):
    survey = this_round
    client.force_login(member)
    for dimension in framework.dimensions.all():
        data = {
            f"q-{a.question.key}": "na" if a.na else str(a.score)
            for a in Answer.objects.filter(
                response__survey=survey, question__dimension=dimension
            ).select_related("question")
        }
        client.post(dimension_url(survey, team, dimension.key), data)
    client.post(reverse("survey-review", args=[survey.pk, team.slug]))
    # Change one answer and resubmit: the others stay carried, nothing is to confirm.
    first = first_dimension(framework)
    client.post(dimension_url(survey, team, first.key), page_post(first, "4"))
    draft = Response.objects.get(survey=survey, status="draft")
    assert not draft.answers.filter(prefilled=True).exists()
    assert (
        draft.answers.filter(carried=True).count()
        == framework.questions.count() - first.questions.count()
    )


def test_a_split_question_starts_blank_and_the_profile_comes_first(
    client, framework, v2_framework, team, member, last_round
):
    """Break-it: v1's progressive-delivery was split in v2 (rollback, progressive-delivery):
    neither inherits it; carried answers are not the respondent's own yet, so the team
    profile is still asked first."""
    from tests.factories import SurveyFactory as Rounds

    v2 = Rounds(framework=v2_framework, teams=[team], status="open")
    draft = services.response_start(
        survey=v2, team=team, respondent_key=f"u:{member.pk}", respondent=member
    )
    carried = set(draft.answers.values_list("question__key", flat=True))
    assert carried, "some v2 questions take one v1 question each"
    assert not {"rollback", "progressive-delivery"} & carried
    client.force_login(member)
    response = client.get(reverse("survey-start", args=[v2.pk, team.slug]))
    assert "/profile/?start=1" in response["Location"]


def test_a_review_posted_without_its_draft_after_submitting_submits_nothing(
    client, framework, team, member
):
    survey = SurveyFactory(framework=framework, teams=[team], status="open", carry_forward=False)
    services.response_submit(
        survey=survey,
        team=team,
        respondent=member,
        respondent_key=services.respondent_key_for(member, survey),
        answers=complete_answers(framework, 2),
    )
    client.force_login(member)
    review = reverse("survey-review", args=[survey.pk, team.slug])
    for posted in ({}, {"draft": "abc"}, {"draft": "0" * 5000}):
        response = client.post(review, posted)
        assert response.status_code == 302, posted
    assert Response.objects.filter(survey=survey).count() == 1

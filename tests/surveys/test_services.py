"""Survey rules: open/closed, membership, drafts, completeness, resubmission, idempotency."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from surveys import services
from surveys.models import Answer, Invitation, Membership, Response, Survey
from tests.conftest import complete_answers
from tests.factories import MembershipFactory, TeamFactory

pytestmark = pytest.mark.django_db


def submit(survey, team, user, **kwargs):
    return services.response_submit(
        survey=survey,
        team=team,
        respondent=user,
        respondent_key=services.respondent_key_for(user, survey),
        **kwargs,
    )


def test_submission_with_every_question_answered_is_counted(survey, team, member, framework):
    result = submit(survey, team, member, answers=complete_answers(framework, 3))
    response = result.response
    assert response.status == "submitted"
    assert response.submitted_at is not None
    assert response.respondent == member
    assert response.answers.count() == framework.questions.count()
    assert set(response.answers.values_list("score", flat=True)) == {3}


def test_incomplete_submission_lists_missing_questions_and_counts_nothing(
    survey, team, member, framework
):
    answers = complete_answers(framework)[:-2]
    with pytest.raises(services.SurveyError) as caught:
        submit(survey, team, member, answers=answers)
    last_two = list(framework.questions.order_by("-order").values_list("key", flat=True)[:2])
    assert caught.value.code == "incomplete"
    assert caught.value.details == last_two[::-1]
    assert not Response.objects.filter(status="submitted").exists()


def test_na_counts_as_answered_where_allowed(survey, team, member, framework):
    na_key = framework.questions.filter(allow_na=True).first().key
    result = submit(survey, team, member, answers=complete_answers(framework, 1, **{na_key: "na"}))
    answer = result.response.answers.get(question__key=na_key)
    assert answer.na is True and answer.score is None


def test_na_is_refused_where_not_allowed(survey, team, member, framework):
    response = services.response_start(
        survey=survey, team=team, respondent_key="u:1", respondent=member
    )
    question = framework.questions.filter(allow_na=False).first()
    with pytest.raises(services.SurveyError, match="cannot be answered N/A"):
        services.answer_save(response=response, question=question, na=True)


def test_resubmission_replaces_previous_answers(survey, team, member, framework):
    first = submit(survey, team, member, answers=complete_answers(framework, 1)).response
    second = submit(survey, team, member, answers=complete_answers(framework, 4)).response
    first.refresh_from_db()
    assert first.status == "superseded"
    assert second.status == "submitted"
    counted = Response.objects.filter(survey=survey, team=team, status="submitted")
    assert list(counted) == [second]
    assert set(Answer.objects.filter(response__in=counted).values_list("score", flat=True)) == {4}


def test_idempotency_key_replay_returns_first_result_and_writes_nothing(
    survey, team, member, framework
):
    first = submit(
        survey, team, member, answers=complete_answers(framework, 2), idempotency_key="k1"
    )
    answers_before = Answer.objects.count()
    replay = submit(
        survey, team, member, answers=complete_answers(framework, 4), idempotency_key="k1"
    )
    assert replay.replayed is True
    assert replay.response.pk == first.response.pk
    assert Answer.objects.count() == answers_before
    assert Response.objects.count() == 1


def test_answers_are_refused_while_a_survey_is_not_open(survey, team, member, framework):
    survey.status = Survey.Status.DRAFT
    survey.save()
    with pytest.raises(services.SurveyError) as caught:
        submit(survey, team, member, answers=complete_answers(framework))
    assert caught.value.code == "survey_not_open"

    survey.status = Survey.Status.OPEN
    survey.closes_at = timezone.now() - timedelta(minutes=1)
    survey.opens_at = timezone.now() - timedelta(days=2)
    survey.save()
    with pytest.raises(services.SurveyError) as caught:
        submit(survey, team, member, answers=complete_answers(framework))
    assert caught.value.code == "closed"


def test_a_closed_survey_refuses_autosave_too(survey, team, member, framework):
    response = services.response_start(
        survey=survey, team=team, respondent_key="u:9", respondent=member
    )
    services.survey_close(survey=survey)
    with pytest.raises(services.SurveyError, match="closed"):
        services.answer_save(response=response, question=framework.questions.first(), score=1)


def test_team_must_be_part_of_the_survey(survey, member, framework):
    stranger = TeamFactory(slug="elsewhere")
    with pytest.raises(services.SurveyError) as caught:
        submit(survey, stranger, member, answers=complete_answers(framework))
    assert caught.value.code == "team_not_in_survey"


def test_autosave_keeps_a_draft_and_reopening_prefills_it(survey, team, member, framework):
    key = services.respondent_key_for(member, survey)
    draft = services.response_start(survey=survey, team=team, respondent_key=key, respondent=member)
    question = framework.questions.order_by("order").first()
    services.answer_save(response=draft, question=question, score=3, comment="mostly")
    services.answer_save(response=draft, question=question, score=2, comment="on reflection")
    assert draft.answers.get().score == 2
    assert draft.answers.get().comment == "on reflection"
    # Coming back (another device, same account) resumes the same draft.
    again = services.response_start(survey=survey, team=team, respondent_key=key, respondent=member)
    assert again.pk == draft.pk

    services.response_submit(
        survey=survey,
        team=team,
        respondent=member,
        respondent_key=key,
        answers=complete_answers(framework, 1),
    )
    reopened = services.response_start(
        survey=survey, team=team, respondent_key=key, respondent=member
    )
    assert reopened.status == "draft" and reopened.pk != draft.pk
    assert reopened.answers.count() == framework.questions.count()
    # The submission keeps counting while the new draft is edited.
    assert Response.objects.filter(respondent_key=key, status="submitted").count() == 1


def test_submitting_a_draft_through_the_web_flow(survey, team, member, framework):
    key = services.respondent_key_for(member, survey)
    draft = services.response_start(survey=survey, team=team, respondent_key=key, respondent=member)
    for answer in complete_answers(framework, 2):
        services.answer_save(response=draft, question=answer.question, score=answer.score)
    result = services.response_submit(
        survey=survey, team=team, respondent=member, respondent_key=key
    )
    assert result.response.pk == draft.pk
    assert result.response.status == "submitted"


def test_answers_given_whole_submit_the_respondents_draft_in_their_place(
    survey, team, member, framework
):
    """On PostgreSQL the one-statement submission leaves a draft to the general path."""
    key = services.respondent_key_for(member, survey)
    draft = services.response_start(survey=survey, team=team, respondent_key=key, respondent=member)
    first = framework.questions.order_by("order").first()
    services.answer_save(response=draft, question=first, score=1, comment="draft note")
    result = services.response_submit(
        survey=survey,
        team=team,
        respondent=member,
        respondent_key=key,
        answers=complete_answers(framework, 3),
    )
    assert result.response.pk == draft.pk
    assert list(Response.objects.values_list("pk", "status")) == [(draft.pk, "submitted")]
    stored = draft.answers.values_list("score", "comment")
    assert len(stored) == framework.questions.count()
    assert set(stored) == {(3, "")}


def test_anonymous_survey_keys_do_not_reveal_the_user(survey, team, member):
    survey.anonymous = True
    survey.save()
    key = services.respondent_key_for(member, survey)
    assert key.startswith("h:") and str(member.pk) not in key[2:4]
    assert key == services.respondent_key_for(member, survey)


def test_submission_enqueues_aggregation_after_commit(
    survey, team, member, framework, django_capture_on_commit_callbacks
):
    from reports.models import AggregationRun

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        submit(survey, team, member, answers=complete_answers(framework))
        assert not AggregationRun.objects.exists()  # nothing before the commit
    # Scoring is queued once (the eager task's own events follow it).
    assert [c.__qualname__ for c in callbacks].count("score_after_commit.<locals>.<lambda>") == 1
    run = AggregationRun.objects.get()  # eager in unit tests: queued and run at once
    assert (run.survey_id, run.team_id, run.trigger, run.status) == (
        survey.pk,
        team.pk,
        "submission",
        "done",
    )


def test_rolled_back_submission_enqueues_nothing(
    survey, team, member, framework, django_capture_on_commit_callbacks
):
    from reports.models import AggregationRun

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            submit(survey, team, member, answers=complete_answers(framework))
            raise RuntimeError("something later in the request failed")
    assert callbacks == []
    assert not AggregationRun.objects.exists()
    assert not Response.objects.exists()


# --- constraints in the database -------------------------------------------------------


def test_database_refuses_a_score_that_is_not_a_choice_of_the_question(survey, team, framework):
    response = Response.objects.create(survey=survey, team=team, respondent_key="u:1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Answer.objects.create(response=response, question=framework.questions.first(), score=9)


def test_database_refuses_two_answers_to_one_question(survey, team, framework):
    response = Response.objects.create(survey=survey, team=team, respondent_key="u:1")
    question = framework.questions.first()
    Answer.objects.create(response=response, question=question, score=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Answer.objects.create(response=response, question=question, score=2)


def test_database_refuses_two_counted_responses_per_respondent(survey, team):
    now = timezone.now()
    Response.objects.create(
        survey=survey, team=team, respondent_key="u:1", status="submitted", submitted_at=now
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Response.objects.create(
            survey=survey, team=team, respondent_key="u:1", status="submitted", submitted_at=now
        )


# --- invitations ---------------------------------------------------------------------------


def test_invitation_token_is_stored_hashed_and_accepting_joins_the_team(survey, team, manager):
    from tests.factories import UserFactory

    invitation, token = services.invitation_create(survey=survey, team=team, created_by=manager)
    assert token not in invitation.token_hash
    assert invitation.token_hash == services.hash_token(token)
    newcomer = UserFactory(username="newcomer")
    services.invitation_accept(token=token, user=newcomer)
    assert Membership.objects.get(user=newcomer, team=team).role == "member"
    assert Invitation.objects.get().uses == 1


def test_named_invitation_needs_a_login(survey, team, manager):
    _, token = services.invitation_create(survey=survey, team=team, created_by=manager)
    with pytest.raises(services.SurveyError) as caught:
        services.invitation_accept(token=token)
    assert caught.value.code == "login_required"


def test_invitation_limits_expiry_and_revocation(survey, team, manager):
    from tests.factories import UserFactory

    _, token = services.invitation_create(survey=survey, team=team, created_by=manager, max_uses=2)
    services.invitation_accept(token=token, user=UserFactory())
    services.invitation_accept(token=token, user=UserFactory())
    with pytest.raises(services.SurveyError) as caught:
        services.invitation_accept(token=token, user=UserFactory())
    assert caught.value.code == "invitation_used_up"

    invitation, token = services.invitation_create(
        survey=survey, team=team, created_by=manager, expires_at=timezone.now() + timedelta(hours=1)
    )
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now())
    with pytest.raises(services.SurveyError) as caught:
        services.invitation_accept(token=token)
    assert caught.value.code == "invitation_expired"

    invitation, token = services.invitation_create(survey=survey, team=team, created_by=manager)
    Invitation.objects.filter(pk=invitation.pk).update(revoked=True)
    with pytest.raises(services.SurveyError) as caught:
        services.invitation_accept(token=token)
    assert caught.value.code == "invalid_invitation"
    with pytest.raises(services.SurveyError):
        services.invitation_accept(token="not-a-token")


def _values(score=None, *, na=False, dont_know=False, comment=""):
    return {"score": score, "na": na, "dont_know": dont_know, "comment": comment}


def test_answers_save_writes_a_page_in_one_go_and_leaves_unchanged_answers_alone(
    survey, team, member, framework
):
    """A page's answers (or one autosaved answer) are saved into the respondent's draft,
    created on the way; unchanged answers keep their time; answered ids are returned."""
    key = services.respondent_key_for(member, survey)
    first, second, third = framework.questions.order_by("order")[:3]
    saved = services.answers_save(
        survey=survey,
        team=team,
        respondent_key=key,
        respondent=member,
        answers=[(first, _values(2)), (second, _values(comment="why not")), (third, _values(3))],
        dimension_key=first.dimension.key,
    )
    draft = saved.response
    assert draft.status == "draft" and draft.last_dimension == first.dimension.key
    assert saved.answered == {first.pk, third.pk}  # a comment alone answers nothing
    stored = {a.question_id: a for a in draft.answers.all()}
    assert (stored[first.pk].score, stored[second.pk].comment) == (2, "why not")

    again = services.answers_save(
        survey=survey,
        team=team,
        respondent_key=key,
        respondent=member,
        answers=[(first, _values(2)), (third, _values()), (second, _values(dont_know=True))],
    )
    assert again.response.pk == draft.pk
    assert again.answered == {first.pk, second.pk}
    after = {a.question_id: a for a in draft.answers.all()}
    assert after[first.pk].updated_at == stored[first.pk].updated_at  # unchanged: not written
    assert third.pk not in after  # sent empty: cleared
    assert again.answered == {
        pk for pk, a in after.items() if a.score is not None or a.na or a.dont_know
    }


def test_answers_save_refuses_na_where_not_allowed_and_saves_nothing(
    survey, team, member, framework
):
    key = services.respondent_key_for(member, survey)
    allowed = framework.questions.filter(allow_na=True).first()
    refused = framework.questions.filter(allow_na=False).first()
    with pytest.raises(services.SurveyError) as caught:
        services.answers_save(
            survey=survey,
            team=team,
            respondent_key=key,
            respondent=member,
            answers=[(allowed, _values(1)), (refused, _values(na=True))],
        )
    assert caught.value.code == "na_not_allowed"
    assert not Answer.objects.exists()


def test_answers_save_refuses_a_team_outside_the_survey_and_a_closed_survey(
    survey, team, member, framework
):
    question = framework.questions.first()
    stranger = TeamFactory(slug="not-in-it")
    MembershipFactory(user=member, team=stranger)

    def refusal(team_):
        with pytest.raises(services.SurveyError) as caught:
            services.answers_save(
                survey=survey,
                team=team_,
                respondent_key="u:x",
                respondent=member,
                answers=[(question, _values(1))],
            )
        return caught.value.code

    assert refusal(stranger) == "team_not_in_survey"
    services.survey_close(survey=survey)
    assert refusal(team) == "closed"
    assert not Response.objects.exists()


def test_saving_into_a_draft_submitted_meanwhile_is_refused_and_writes_nothing(
    survey, team, member, framework
):
    key = services.respondent_key_for(member, survey)
    draft = services.response_start(survey=survey, team=team, respondent_key=key, respondent=member)
    services.response_submit(
        survey=survey,
        team=team,
        respondent=member,
        respondent_key=key,
        answers=complete_answers(framework, 1),
    )
    stale = Response.objects.get(pk=draft.pk)
    stale.status = "draft"  # what the caller still holds
    with pytest.raises(services.SurveyError) as caught:
        services.answer_save(response=stale, question=framework.questions.first(), score=4)
    assert caught.value.code == "not_draft"
    assert not Response.objects.filter(status="draft").exists()

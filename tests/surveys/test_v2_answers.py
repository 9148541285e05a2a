"""Framework version 2 on the write side: who is asked which question (scope and team
profile), "don't know", N/A with a reason, through the API, the services and both writes."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from surveys import selectors, services
from surveys.models import Answer, Response, TeamProfile
from tests.conftest import complete_answers

pytestmark = pytest.mark.django_db

BATCH_CLASSICAL = services.ProfileInput(serving=["batch"], model_kinds=["classical"])
# What a batch-only team with classical models is not asked (maturity/frameworks/mlops-v2.yaml).
OUT_FOR_BATCH_CLASSICAL = {
    "load-testing",
    "serving-autoscaling",
    "high-availability",
    "endpoint-authentication",
    "compliance-evidence",
    "gpu-utilisation",
    "genai-evaluation-gates",
    "prompt-config-versioning",
    "genai-guardrails",
    "token-budgets",
    "genai-tracing",
    "genai-human-feedback",
    "model-fallback",
    "agent-permissions",
}
PLATFORM_AND_ORG = {
    "skills-strategy",
    "technical-leadership",
    "mlops-adoption",
    "vulnerability-management",
}


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def profiled(v2_survey, team, manager):
    """recsys (a product team under ML Platform) declared batch-only, classical models."""
    services.profile_set(survey=v2_survey, team=team, values=BATCH_CLASSICAL, set_by=manager)
    return v2_survey


def keys(framework, ids):
    return set(framework.questions.filter(pk__in=ids).values_list("key", flat=True))


def asked_items(survey, team, **overrides):
    """Return API answer items for every question the team is asked (choice 2 unless
    overridden by key with an item's fields)."""
    plan = selectors.team_plan(survey, team)
    items = []
    for key in survey.framework.questions.filter(pk__in=plan.asked).order_by("order"):
        items.append({"question": key.key, "choice": 2, **overrides.get(key.key, {})})
    return items


def post(api, survey, body):
    return api.post(f"/api/v1/surveys/{survey.pk}/responses/", body, format="json")


# --- who is asked what -------------------------------------------------------------------


def test_a_product_team_with_a_profile_is_asked_neither_parent_nor_out_of_scope_questions(
    profiled, team, platform_team
):
    framework = profiled.framework
    plan = selectors.team_plan(profiled, team)
    assert keys(framework, plan.out_of_scope) == OUT_FOR_BATCH_CLASSICAL
    assert keys(framework, plan.inherited) == PLATFORM_AND_ORG
    assert set(plan.inherited.values()) == {platform_team.pk}
    assert len(plan.asked) == framework.questions.count() - 4 - 14 == 65
    parent = selectors.team_plan(profiled, platform_team)
    assert len(parent.asked) == framework.questions.count()  # no profile: everything


def test_a_version_1_team_is_asked_everything_without_reading_the_round(
    survey, team, framework, django_assert_num_queries
):
    selectors.team_plan(survey, team)  # the framework's rules, read once per version
    with django_assert_num_queries(0):
        plan = selectors.team_plan(survey, team)
    assert len(plan.asked) == framework.questions.count()


# --- the API ---------------------------------------------------------------------------


def test_the_api_stores_dont_know_and_a_complete_answer_set_counts_against_asked(
    api, profiled, team, member
):
    api.force_authenticate(member)
    items = asked_items(
        profiled, team, **{"threat-monitoring": {"choice": None, "dont_know": True}}
    )
    assert len(items) == 65
    response = post(api, profiled, {"team": team.slug, "answers": items})
    assert response.status_code == 201, response.json()
    assert response.json()["answer_count"] == 65
    stored = Answer.objects.get(question__key="threat-monitoring")
    assert (stored.dont_know, stored.score, stored.na) == (True, None, False)
    assert Answer.objects.filter(dont_know=True).count() == 1


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (
            "vulnerability-management",
            "'vulnerability-management' is answered by the platform team ML Platform, "
            "not by this team.",
        ),
        ("mlops-adoption", "'mlops-adoption' is answered by the platform team ML Platform"),
        ("genai-guardrails", "'genai-guardrails' is out of scope for this team's profile."),
        ("no-such-question", "Unknown question key 'no-such-question': it is not in this"),
    ],
)
def test_an_answer_the_team_is_not_asked_is_a_field_error_that_says_why(
    api, profiled, team, member, key, message
):
    api.force_authenticate(member)
    items = [*asked_items(profiled, team), {"question": key, "choice": 1}]
    response = post(api, profiled, {"team": team.slug, "answers": items})
    assert response.status_code == 400
    errors = response.json()["answers"]
    assert errors[:-1] == [{}] * (len(items) - 1)
    assert errors[-1]["question"][0].startswith(message)
    assert not Response.objects.exists()


def test_the_platform_team_answers_platform_and_org_questions(api, v2_survey, platform_team):
    from tests.factories import MembershipFactory

    lead = MembershipFactory(team=platform_team, user__username="pat").user
    api.force_authenticate(lead)
    items = asked_items(v2_survey, platform_team)
    assert PLATFORM_AND_ORG <= {item["question"] for item in items}
    response = post(api, v2_survey, {"team": platform_team.slug, "answers": items})
    assert response.status_code == 201, response.json()


def test_a_missing_asked_question_is_incomplete_and_only_asked_ones_are_listed(
    api, profiled, team, member
):
    api.force_authenticate(member)
    items = [item for item in asked_items(profiled, team) if item["question"] != "rollback"]
    response = post(api, profiled, {"team": team.slug, "answers": items})
    assert response.status_code == 400
    assert response.json()["code"] == "incomplete"
    assert response.json()["missing"] == ["rollback"]


def test_na_needs_a_reason_in_the_comment_at_submission(api, profiled, team, member):
    api.force_authenticate(member)
    without = asked_items(profiled, team, **{"privacy-protection": {"choice": None, "na": True}})
    response = post(api, profiled, {"team": team.slug, "answers": without})
    assert response.status_code == 400
    position = [item["question"] for item in without].index("privacy-protection")
    assert response.json()["answers"][position] == {
        "comment": [
            "Give the reason why 'privacy-protection' does not apply (N/A needs a comment)."
        ]
    }
    reason = {"choice": None, "na": True, "comment": "We hold no personal data."}
    with_reason = asked_items(profiled, team, **{"privacy-protection": reason})
    response = post(api, profiled, {"team": team.slug, "answers": with_reason})
    assert response.status_code == 201, response.json()
    assert Answer.objects.get(question__key="privacy-protection").na


def test_na_stays_refused_where_the_question_does_not_allow_it(api, profiled, team, member):
    api.force_authenticate(member)
    items = asked_items(
        profiled, team, **{"rollback": {"choice": None, "na": True, "comment": "no"}}
    )
    response = post(api, profiled, {"team": team.slug, "answers": items})
    assert response.status_code == 400
    assert "cannot be answered N/A" in str(response.json()["answers"])


# --- services: drafts, both writes, profile changes --------------------------------------


def respondent_key(member, survey):
    return services.respondent_key_for(member, survey)


def test_a_draft_submission_counts_dont_know_as_answered_and_refuses_na_without_reason(
    profiled, team, member
):
    plan = selectors.team_plan(profiled, team)
    draft = services.response_start(
        survey=profiled,
        team=team,
        respondent_key=respondent_key(member, profiled),
        respondent=member,
    )
    for question in profiled.framework.questions.filter(pk__in=plan.asked):
        values = {"score": 1}
        if question.key == "threat-monitoring":
            values = {"dont_know": True}
        elif question.key == "privacy-protection":
            values = {"na": True}
        services.answer_save(response=draft, question=question, **values)
    assert services.missing_questions(draft) == []
    with pytest.raises(services.SurveyError) as refused:
        services.response_submit(
            survey=profiled, team=team, respondent_key=respondent_key(member, profiled)
        )
    assert refused.value.code == "na_reason_required"
    assert refused.value.details == ["privacy-protection"]
    privacy = profiled.framework.questions.get(key="privacy-protection")
    services.answer_save(response=draft, question=privacy, na=True, comment="No personal data.")
    result = services.response_submit(
        survey=profiled, team=team, respondent_key=respondent_key(member, profiled)
    )
    assert result.response.status == "submitted"
    assert result.response.answers.get(question__key="threat-monitoring").dont_know


def test_the_orm_write_stores_dont_know_on_every_database(profiled, team, member):
    """SQLite and PostgreSQL alike (the single statement, PostgreSQL only, is compared with
    this one in test_write_paths)."""
    plan = selectors.team_plan(profiled, team)
    answers = complete_answers(
        profiled.framework, 3, only=plan.asked, **{"threat-monitoring": "dont_know"}
    )
    result = services._submit_once(
        profiled, team, respondent_key(member, profiled), member, answers, (None, "")
    )
    assert result.response.answer_count == 65
    stored = Answer.objects.get(response=result.response, question__key="threat-monitoring")
    assert (stored.dont_know, stored.score, stored.na) == (True, None, False)


def test_a_new_draft_keeps_dont_know_from_the_submitted_response(profiled, team, member):
    plan = selectors.team_plan(profiled, team)
    answers = complete_answers(
        profiled.framework, 3, only=plan.asked, **{"threat-monitoring": "dont_know"}
    )
    key = respondent_key(member, profiled)
    services.response_submit(
        survey=profiled, team=team, respondent_key=key, respondent=member, answers=answers
    )
    draft = services.response_start(survey=profiled, team=team, respondent_key=key)
    assert draft.answers.get(question__key="threat-monitoring").dont_know
    assert services.missing_questions(draft) == []


def test_a_profile_change_keeps_answers_stored_but_the_team_is_no_longer_asked_them(
    v2_survey, team, member, manager
):
    everything = selectors.team_plan(v2_survey, team)  # no profile: every team question
    answers = complete_answers(v2_survey.framework, 2, only=everything.asked)
    key = respondent_key(member, v2_survey)
    services.response_submit(
        survey=v2_survey, team=team, respondent_key=key, respondent=member, answers=answers
    )
    assert Answer.objects.filter(question__key="genai-guardrails").exists()
    services.profile_set(survey=v2_survey, team=team, values=BATCH_CLASSICAL, set_by=manager)
    after = selectors.team_plan(v2_survey, team)
    guardrails = v2_survey.framework.questions.get(key="genai-guardrails")
    assert guardrails.pk in everything.asked and guardrails.pk in after.out_of_scope
    assert Answer.objects.filter(question=guardrails).count() == 1  # stored, not counted
    assert TeamProfile.objects.get().confirmed_by == manager

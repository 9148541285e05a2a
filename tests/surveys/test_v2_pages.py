"""The respondent pages on framework version 2: only the questions the team is asked, their
evidence and why, "Don't know", N/A with a reason, the scope note, progress against what is
asked, the first respondent's profile declaration and autosave that never claims too much."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from surveys import selectors, services
from surveys.models import Answer, Response, TeamProfile

pytestmark = pytest.mark.django_db

BATCH_CLASSICAL = services.ProfileInput(serving=["batch"], model_kinds=["classical"])


@pytest.fixture
def profiled(v2_survey, team, manager):
    services.profile_set(survey=v2_survey, team=team, values=BATCH_CLASSICAL, set_by=manager)
    return v2_survey


def page_url(survey, team, key):
    return reverse("survey-dimension", args=[survey.pk, team.slug, key])


def autosave(client, survey, team, key, data):
    url = reverse("survey-autosave", args=[survey.pk, team.slug, key])
    return client.post(url, data, HTTP_ACCEPT="application/json")


def shown_question_keys(page: str) -> list[str]:
    return re.findall(r'data-question="([^"]+)"', page)


def test_a_page_shows_only_the_asked_questions_with_why_evidence_and_dont_know(
    client, profiled, team, member
):
    client.force_login(member)
    page = client.get(page_url(profiled, team, "testing-validation")).content.decode()
    plan = selectors.team_plan(profiled, team)
    dimension = profiled.framework.dimensions.get(key="testing-validation")
    expected = list(
        dimension.questions.filter(pk__in=plan.asked)
        .order_by("order")
        .values_list("key", flat=True)
    )
    assert shown_question_keys(page) == expected
    assert dimension.questions.exclude(pk__in=plan.asked).exists()  # so the filter mattered
    question = dimension.questions.get(key=expected[0])
    assert question.why and question.why in page
    top = question.choices.get(score=4)
    assert top.evidence and top.evidence in page
    assert f'id="q-{question.key}-dont_know"' in page and "Don't know" in page
    assert f'id="q-{question.key}-na"' not in page  # N/A only where allow_na


def test_the_steps_skip_a_dimension_with_nothing_asked_and_its_page_is_a_404(
    client, profiled, team, member
):
    client.force_login(member)
    page = client.get(page_url(profiled, team, "data-management")).content.decode()
    assert "Generative AI operations" not in page
    assert client.get(page_url(profiled, team, "genai-operations")).status_code == 404


def test_the_scope_note_names_the_parent_team_and_counts_out_of_scope_questions(
    client, profiled, team, member
):
    client.force_login(member)
    page = client.get(page_url(profiled, team, "data-management")).content.decode()
    assert "ML Platform answers 4 platform or organisation questions for Recommendations" in page
    assert (
        "In this survey, 14 questions are out of scope for your team's profile "
        "and not shown on any page." in page
    )
    assert "0 of 65 questions answered" in page


def test_the_dashboard_counts_progress_against_the_asked_questions(client, profiled, team, member):
    client.force_login(member)
    draft = services.response_start(
        survey=profiled,
        team=team,
        respondent_key=services.respondent_key_for(member, profiled),
        respondent=member,
    )
    inherited = profiled.framework.questions.get(key="vulnerability-management")
    asked = profiled.framework.questions.get(key="rollback")
    services.answer_save(response=draft, question=asked, dont_know=True)
    Answer.objects.create(response=draft, question=inherited, score=3)  # as before a change
    (entry,) = selectors.survey_entries_for(member)
    assert (entry.answered, entry.total, entry.profile_status) == (1, 65, "confirmed")
    page = client.get("/").content.decode()
    assert reverse("survey-profile", args=[profiled.pk, team.slug]) in page


def test_autosave_stores_dont_know_and_counts_it_as_answered(client, profiled, team, member):
    client.force_login(member)
    response = autosave(client, profiled, team, "cicd-deployment", {"q-rollback": "dont_know"})
    assert response.status_code == 200, response.json()
    assert response.json()["saved"] == ["rollback"]
    assert response.json()["progress"] == {"answered": 1, "total": 65, "percent": 1}
    stored = Answer.objects.get(question__key="rollback")
    assert (stored.dont_know, stored.score, stored.na) == (True, None, False)
    page = client.get(page_url(profiled, team, "cicd-deployment")).content.decode()
    assert 'value="dont_know" checked' in page


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("q-genai-guardrails", "'genai-guardrails' is out of scope for this team's profile."),
        (
            "q-vulnerability-management",
            "'vulnerability-management' is answered by the platform team ML Platform, "
            "not by this team.",
        ),
        ("comment-drift-detection", "'drift-detection' is not on this page."),
        ("q-no-such-question", "Unknown question key 'no-such-question': it is not in this"),
    ],
)
def test_autosave_of_a_question_the_page_does_not_ask_saves_nothing_and_says_why(
    client, profiled, team, member, field, message
):
    client.force_login(member)
    response = autosave(client, profiled, team, "cicd-deployment", {field: "2"})
    assert response.status_code == 422
    body = response.json()
    assert "saved_at" not in body and body["saved"] == []
    (error,) = body["errors"].values()
    assert error.startswith(message)
    assert not Answer.objects.exists()


def test_autosave_that_sends_no_answer_is_not_saved(client, profiled, team, member):
    client.force_login(member)
    response = autosave(client, profiled, team, "cicd-deployment", {})
    assert response.status_code == 400
    assert response.json()["code"] == "nothing_sent"
    assert "saved_at" not in response.json()


def answer_everything(survey, team, member, **special):
    draft = services.response_start(
        survey=survey,
        team=team,
        respondent_key=services.respondent_key_for(member, survey),
        respondent=member,
    )
    plan = selectors.team_plan(survey, team)
    for question in survey.framework.questions.filter(pk__in=plan.asked):
        services.answer_save(
            response=draft, question=question, **special.get(question.key, {"score": 2})
        )
    return draft


def test_review_refuses_na_without_a_reason_then_submits_against_the_asked_questions(
    client, profiled, team, member
):
    client.force_login(member)
    draft = answer_everything(
        profiled,
        team,
        member,
        **{"privacy-protection": {"na": True}, "threat-monitoring": {"dont_know": True}},
    )
    review = reverse("survey-review", args=[profiled.pk, team.slug])
    page = client.get(review).content.decode()
    assert "1 N/A answer without a reason" in page and "still unanswered" not in page
    assert "Don't know" in page
    refused = client.post(review)
    assert refused.status_code == 422
    assert "1 N/A answer(s) need a reason in the comment." in refused.content.decode()
    privacy = profiled.framework.questions.get(key="privacy-protection")
    services.answer_save(response=draft, question=privacy, na=True, comment="No personal data.")
    assert client.post(review)["Location"] == reverse("survey-done", args=[profiled.pk, team.slug])
    submitted = Response.objects.get(status="submitted")
    assert submitted.answers.count() == 65


def test_a_page_post_of_na_without_reason_is_kept_as_a_draft(client, profiled, team, member):
    client.force_login(member)
    data = {"q-privacy-protection": "na", "action": "save"}
    response = client.post(page_url(profiled, team, "access-change-control"), data)
    assert response.status_code == 302  # a draft may lack the reason; submission may not
    assert Answer.objects.get(question__key="privacy-protection").na


# --- the first respondent declares the profile ------------------------------------------


def test_the_first_respondent_is_asked_to_declare_the_profile_and_proposes_it(
    client, v2_survey, team, member
):
    client.force_login(member)
    start = reverse("survey-start", args=[v2_survey.pk, team.slug])
    profile_url = reverse("survey-profile", args=[v2_survey.pk, team.slug])
    response = client.get(start)
    assert response["Location"] == f"{profile_url}?start=1"
    page = client.get(response["Location"]).content.decode()
    assert "Before you answer" in page and "Skip: show me every question" in page
    saved = client.post(
        profile_url,
        {"serving": ["online", "batch"], "model_kinds": ["llm-api"], "start": "1"},
    )
    assert saved["Location"] == start
    profile = TeamProfile.objects.get(survey=v2_survey, team=team)
    assert (profile.serving, profile.model_kinds) == (["batch", "online"], ["llm-api"])
    assert (profile.declared_by, profile.confirmed_at) == (member, None)
    assert client.get(start)["Location"].startswith(
        reverse("survey-dimension", args=[v2_survey.pk, team.slug, "culture-collaboration"])
    )
    assert (
        "Generative AI operations"
        in client.get(page_url(v2_survey, team, "data-management")).content.decode()
    )


def test_a_respondent_who_skips_the_profile_sees_every_team_question(
    client, v2_survey, team, member
):
    client.force_login(member)
    profile_url = reverse("survey-profile", args=[v2_survey.pk, team.slug])
    skipped = client.post(profile_url, {"action": "skip", "start": "1"})
    assert skipped["Location"] == reverse("survey-start", args=[v2_survey.pk, team.slug])
    assert not TeamProfile.objects.exists()
    first = client.get(skipped["Location"])["Location"]
    page = client.get(first).content.decode()
    assert "0 of 79 questions answered" in page  # 83 less the 4 its parent answers
    assert "has no" in page and "every question is shown" in page


def test_a_respondent_with_answers_is_not_sent_to_the_profile(client, v2_survey, team, member):
    client.force_login(member)
    autosave(client, v2_survey, team, "cicd-deployment", {"q-rollback": "1"})
    start = client.get(reverse("survey-start", args=[v2_survey.pk, team.slug]))
    assert "/d/" in start["Location"]


def test_a_version_1_survey_never_asks_for_a_profile(client, survey, team, member, framework):
    client.force_login(member)
    start = client.get(reverse("survey-start", args=[survey.pk, team.slug]))
    assert "/d/" in start["Location"]
    assert "Team profile" not in client.get("/").content.decode()


def test_questions_that_came_into_scope_after_a_submission_are_explained(
    client, profiled, team, member, manager
):
    client.force_login(member)
    answer_everything(profiled, team, member)
    review = reverse("survey-review", args=[profiled.pk, team.slug])
    assert client.post(review).status_code == 302
    assert "came into scope" not in client.get(review).content.decode()
    before = selectors.team_plan(profiled, team).asked
    online = services.ProfileInput(serving=["batch", "online"], model_kinds=["classical"])
    services.profile_set(survey=profiled, team=team, values=online, set_by=manager)
    new = len(selectors.team_plan(profiled, team).asked - before)
    assert new > 0
    page = client.get(review).content.decode()
    assert f"{new} questions came into scope after you submitted" in page
    assert "Your submitted answers still count" in page and "submit again" in page
    (entry,) = selectors.survey_entries_for(member)
    assert entry.new_in_scope == new
    dashboard = client.get("/").content.decode()
    assert f"{new} questions came into scope after you submitted" in dashboard
    assert "you can add answers and resubmit" in dashboard


def test_the_review_shows_what_the_parent_answers_for_the_team_read_only(
    client, profiled, team, member, platform_team
):
    """Issue 18: platform and organisation questions are answered once, by the parent, and
    shown read-only to its children's respondents, with the parent's answer so far."""
    from tests.conftest import complete_answers
    from tests.factories import MembershipFactory

    owner = MembershipFactory(team=platform_team).user
    inherited = profiled.framework.questions.get(key="vulnerability-management")
    services.response_submit(
        survey=profiled,
        team=platform_team,
        respondent=owner,
        respondent_key=services.respondent_key_for(owner, profiled),
        answers=complete_answers(profiled.framework, 3),
    )
    client.force_login(member)
    page = client.get(reverse("survey-review", args=[profiled.pk, team.slug])).content.decode()
    section = page[page.index('id="answered-above"') :]
    assert "Answered for Recommendations by the teams above it" in section
    assert inherited.text in section and "ML Platform" in section
    label = inherited.choices.get(score=3).label
    assert f'{label} <small class="muted">(1 of 1)</small>' in section
    # Nothing on the page lets the child answer it.
    assert f'name="q-{inherited.key}"' not in page
    # Anonymous rounds show who answers, not how.
    profiled.anonymous = True
    profiled.save()
    page = client.get(reverse("survey-review", args=[profiled.pk, team.slug])).content.decode()
    assert "(1 of 1)" not in page and "their answers are not shown here" in page

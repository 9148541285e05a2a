"""Framework v2 in aggregation: only the questions a team is asked count (its plan: profile
and scope), "don't know" is counted and never scored, and a profile changed mid-round stops
the answers it puts out of scope from counting, per-response interval scores included.

Answers are written with the factories, as an import would write them, to every question
of the framework: so answers to questions out of scope or answered by an ancestor are
stored, and the tests check that they do not count.
"""

from __future__ import annotations

import random

import pytest

from reports import services
from reports.models import DimensionScore, QuestionScore, TeamScore
from surveys.models import Answer, ResponseDimensionScore, Survey, TeamProfile
from surveys.selectors import round_plans
from tests.factories import SubmittedResponseFactory, SurveyFactory, TeamFactory
from tests.maturity.reference_scoring import DONT_KNOW, reference_score
from tests.maturity.reference_scoring import Answer as RawAnswer
from tests.reports.test_aggregation import close, reference_framework

pytestmark = pytest.mark.django_db


def answer_all(
    survey: Survey,
    team,
    respondents: int,
    seed: int,
    fixed: dict[str, int | str | None] | None = None,
) -> list[RawAnswer]:
    """Write ``respondents`` counted responses answering every question of the framework:
    random choices, with N/A where allowed and "don't know" now and then (``fixed`` sets
    some answers: a score, None for N/A, DONT_KNOW). Return them as reference tuples."""
    rng = random.Random(seed)
    questions = list(survey.framework.questions.order_by("order"))
    raw: list[RawAnswer] = []
    for index in range(respondents):
        response = SubmittedResponseFactory(
            survey=survey, team=team, respondent_key=f"x:{team.slug}-{seed}-{index}"
        )
        answers = []
        for question in questions:
            draw = rng.random()
            if fixed and question.key in fixed:
                value = fixed[question.key]
            elif draw < 0.15:
                value = DONT_KNOW
            elif draw < 0.25 and question.allow_na:
                value = None
            else:
                value = rng.randint(0, question.max_score)
            answers.append(
                Answer(
                    response=response,
                    question=question,
                    score=value if isinstance(value, int) else None,
                    na=value is None,
                    dont_know=value == DONT_KNOW,
                )
            )
            raw.append((team.pk, response.respondent_key, question.key, value))
        Answer.objects.bulk_create(answers)
    return raw


def asked_keys(survey: Survey) -> dict[int, set[str]]:
    keys = dict(survey.framework.questions.values_list("pk", "key"))
    return {team: {keys[pk] for pk in plan.asked} for team, plan in round_plans(survey).items()}


def assert_snapshots_equal_reference(survey: Survey, expected: dict) -> None:
    """Every persisted team, dimension and question row of the survey equals the reference."""
    for team_score in TeamScore.objects.filter(survey=survey).select_related("weakest_dimension"):
        team = team_score.team_id
        want = expected["teams"][team]
        assert close(team_score.score, want["score"]), team
        assert team_score.level == want["level"], team
        assert team_score.weakest_dimension.key == want["weakest_dimension"], team
        assert team_score.dont_know_count == want["dont_know"], team

        dimensions = {d.dimension.key: d for d in team_score.dimensions.select_related("dimension")}
        want_dimensions = {k: v for (t, k), v in expected["dimensions"].items() if t == team}
        assert dimensions.keys() == want_dimensions.keys(), team
        for key, row in dimensions.items():
            want = want_dimensions[key]
            for name in (
                "score",
                "disagreement",
                "answered_ratio",
                "interval_low",
                "interval_high",
            ):
                assert close(getattr(row, name), want[name]), (team, key, name)
            assert (row.level, row.n_answers) == (want["level"], want["n_answers"]), (team, key)
            assert row.dont_know_count == want["dont_know"], (team, key)

        questions = {q.question.key: q for q in team_score.questions.select_related("question")}
        want_questions = {k: v for (t, k), v in expected["questions"].items() if t == team}
        assert questions.keys() == want_questions.keys(), team
        for key, row in questions.items():
            want = want_questions[key]
            assert (row.n, row.dont_know_count, row.contested) == (
                want["n"],
                want["dont_know"],
                want["contested"],
            ), (team, key)
            assert close(row.mean, want["mean"]) and close(row.std, want["std"]), (team, key)

        recommended = list(team_score.recommendations.values_list("question__key", flat=True))
        assert recommended == [r["question"] for r in expected["recommendations"][team]], team


def test_only_asked_answers_count_and_dont_know_is_counted_never_scored(v2_round, tree):
    raw: list[RawAnswer] = []
    for seed, team in enumerate([tree.org, tree.platform, tree.recsys, tree.chatbot]):
        raw += answer_all(v2_round, team, respondents=4, seed=seed)
    run = services.aggregate(survey=v2_round)
    assert (run.status, run.teams_scored) == ("done", 4)

    asked = asked_keys(v2_round)
    respondents = {team.pk: 4 for team in [tree.org, tree.platform, tree.recsys, tree.chatbot]}
    expected = reference_score(reference_framework(v2_round.framework), raw, respondents, asked)
    assert_snapshots_equal_reference(v2_round, expected)

    plans = round_plans(v2_round)
    stored = dict(
        TeamScore.objects.filter(survey=v2_round).values_list("team_id", "out_of_scope_count")
    )
    assert stored == {team: len(plan.out_of_scope) for team, plan in plans.items()}
    assert stored[tree.recsys.pk] > 0 and stored[tree.org.pk] == 0
    # Stored answers that do not count: out of scope for recsys (GenAI), inherited by the
    # product teams (platform and org scope).
    genai = DimensionScore.objects.filter(dimension__key="genai-operations")
    assert not genai.filter(team_score__team=tree.recsys).exists()
    assert genai.filter(team_score__team=tree.chatbot).exists()
    # skills-leadership-change holds only org-scope questions: the org answers them, and
    # no other team has a score there, rather than a 0 that would cap its level.
    leadership = DimensionScore.objects.filter(dimension__key="skills-leadership-change")
    assert list(leadership.values_list("team_score__team__slug", flat=True)) == ["org"]
    vulnerability = QuestionScore.objects.filter(question__key="vulnerability-management")
    assert sorted(vulnerability.values_list("team_score__team__slug", flat=True)) == [
        "org",
        "platform",
    ]
    assert sum(expected["teams"][team]["dont_know"] for team in respondents) > 0


def test_a_question_answered_only_dont_know_is_a_counted_gap_without_a_score(v2, tree):
    survey = SurveyFactory(framework=v2, teams=[tree.org])
    raw = answer_all(
        survey, tree.org, respondents=3, seed=7, fixed={"threat-monitoring": DONT_KNOW}
    )
    services.aggregate(survey=survey)
    row = QuestionScore.objects.get(question__key="threat-monitoring")
    assert (row.n, row.mean, row.std, row.dont_know_count, row.distribution[:1]) == (
        0,
        None,
        None,
        3,
        [0],
    )
    team_score = TeamScore.objects.get(survey=survey)
    expected = reference_score(reference_framework(v2), raw, {tree.org.pk: 3})
    assert team_score.dont_know_count == expected["teams"][tree.org.pk]["dont_know"]
    dimension = DimensionScore.objects.get(team_score=team_score, dimension=row.question.dimension)
    assert dimension.dont_know_count >= 3
    assert not team_score.recommendations.filter(question=row.question).exists()


def test_a_profile_change_mid_round_stops_counting_out_of_scope_answers(v2):
    solo = TeamFactory(slug="solo", name="Solo")  # no parent: asked everything
    survey = SurveyFactory(framework=v2, teams=[solo])
    genai_zero = {
        key: 0
        for key in v2.questions.filter(dimension__key="genai-operations").values_list(
            "key", flat=True
        )
    }
    raw = answer_all(survey, solo, respondents=4, seed=3, fixed=genai_zero)
    services.aggregate(survey=survey, team_ids=[solo.pk])
    before = TeamScore.objects.get(survey=survey)
    assert before.out_of_scope_count == 0
    assert before.dimensions.filter(dimension__key="genai-operations", score=0).exists()
    assert before.level == 0  # the GenAI zeros are its weakest link
    recorded = ResponseDimensionScore.objects.filter(response__survey=survey).count()

    # The manager declares the profile after everyone answered: GenAI no longer applies.
    TeamProfile.objects.create(
        survey=survey, team=solo, serving=["batch"], model_kinds=["classical"]
    )
    assert (survey.pk, solo.pk) in services.stale_team_scores()
    services.aggregate(survey=survey, team_ids=[solo.pk])
    assert (survey.pk, solo.pk) not in services.stale_team_scores()

    after = TeamScore.objects.get(survey=survey)
    plan = round_plans(survey)[solo.pk]
    assert after.out_of_scope_count == len(plan.out_of_scope) > len(genai_zero)
    assert not after.dimensions.filter(dimension__key="genai-operations").exists()
    assert Answer.objects.filter(
        response__survey=survey, question__key__in=genai_zero
    ).count() == 4 * len(genai_zero)  # stored, not counted
    # Scores, intervals (the per-response scores were recorded again) and counts are those
    # of the asked questions alone.
    expected = reference_score(reference_framework(v2), raw, {solo.pk: 4}, asked_keys(survey))
    assert_snapshots_equal_reference(survey, expected)
    assert ResponseDimensionScore.objects.filter(response__survey=survey).count() == recorded
    genai_rows = ResponseDimensionScore.objects.filter(
        response__survey=survey, dimension__key="genai-operations"
    )
    assert set(genai_rows.values_list("score", flat=True)) == {None}


def test_respondent_scores_are_recorded_once_per_plan(v2_round, tree):
    answer_all(v2_round, tree.recsys, respondents=3, seed=5)
    services.aggregate(survey=v2_round, team_ids=[tree.recsys.pk])
    fingerprint = TeamScore.objects.get(survey=v2_round, team=tree.recsys).asked_fingerprint
    assert fingerprint == services.asked_fingerprint(round_plans(v2_round)[tree.recsys.pk].asked)
    rows = list(ResponseDimensionScore.objects.filter(response__team=tree.recsys).values_list())
    services.aggregate(survey=v2_round, team_ids=[tree.recsys.pk])  # same plan: kept as is
    assert (
        list(ResponseDimensionScore.objects.filter(response__team=tree.recsys).values_list())
        == rows
    )
    assert services.record_response_dimension_scores(v2_round) == 0

    # Moving the team in the hierarchy changes its plan too: recorded again.
    tree.recsys.parent = None
    tree.recsys.save()
    services.aggregate(survey=v2_round, team_ids=[tree.recsys.pk])
    moved = TeamScore.objects.get(survey=v2_round, team=tree.recsys).asked_fingerprint
    assert moved != fingerprint
    leadership = DimensionScore.objects.filter(
        team_score__team=tree.recsys, dimension__key="skills-leadership-change"
    )
    assert leadership.exists()  # a root team answers the org questions itself


def test_the_asked_fingerprint_is_of_the_set_not_its_order():
    assert services.asked_fingerprint([3, 1, 2]) == services.asked_fingerprint({1, 2, 3})
    assert services.asked_fingerprint([1, 2]) != services.asked_fingerprint([1, 2, 3])
    assert -(2**63) <= services.asked_fingerprint(range(100)) < 2**63  # fits a BIGINT


def test_plans_of_some_teams_are_those_of_the_whole_round(v2_round, tree):
    everyone = round_plans(v2_round)
    assert set(everyone) == {tree.org.pk, tree.platform.pk, tree.recsys.pk, tree.chatbot.pk}
    for team in everyone:
        assert round_plans(v2_round, [team]) == {team: everyone[team]}
    assert round_plans(v2_round, [tree.recsys.pk, 10**9]).keys() == {tree.recsys.pk}


def test_a_team_asked_everything_keeps_its_recorded_scores(v2):
    """Rows recorded before v2 (over every question) stay valid for a team asked everything:
    a run must not delete and compute them again."""
    solo = TeamFactory(slug="solo", name="Solo")
    survey = SurveyFactory(framework=v2, teams=[solo])
    answer_all(survey, solo, respondents=3, seed=9)
    services.aggregate(survey=survey)
    assert TeamScore.objects.get(survey=survey).asked_fingerprint is None  # = every question
    marked = ResponseDimensionScore.objects.filter(response__survey=survey, score__isnull=False)
    row = marked.first()
    ResponseDimensionScore.objects.filter(pk=row.pk).update(score=12.5)
    services.aggregate(survey=survey)
    assert ResponseDimensionScore.objects.get(pk=row.pk).score == 12.5

"""``evidence_policy: cap``: answers above what the passing checks support count at that
level in every score; the verdict still judges what the team said; the report says so."""

from __future__ import annotations

import pytest

from reports import services as report_services
from reports.authentication import api_token_create
from reports.models import DimensionScore, QuestionScore, TeamScore
from tests.evidence.conftest import TINY_REPO, answer, tiny_framework, token_client
from tests.evidence.test_verdicts import store
from tests.factories import SurveyFactory, TeamFactory

pytestmark = pytest.mark.django_db

# One respondent: containers 4 (a Dockerfile supports 2: capped at 2; a check that shows
# level 2 does not confirm an answer of 4: unverified), deploys 4 (no deploy job: nothing
# supports it, capped one below the lowest support, 2 - 1 = 1; the failing check contradicts
# 3 and above: contradicted), data-versioning 2 (no checks).
ANSWERS = {"containers": 4, "deploys": 4, "data-versioning": 2}
# Answers the evidence bears out: containers 2 (the Dockerfile supports 2: confirmed, and
# the cap of 2 leaves it as it is), deploys 1 (no deploy job: capped at 1, which is the
# answer; the failing check contradicts only 3 and above and supports 2: unverified).
SUPPORTED_ANSWERS = {"containers": 2, "deploys": 1, "data-versioning": 2}


def scored_round(tmp_path, team, policy: str, answers: dict[str, int] = ANSWERS):
    framework = tiny_framework(tmp_path, policy=policy)
    survey = SurveyFactory(framework=framework, teams=[team])
    answer(survey, team, answers)
    store(team, TINY_REPO)
    report_services.aggregate(survey=survey)
    return survey


def scores(survey, team) -> dict[str, tuple]:
    rows = QuestionScore.objects.filter(team_score__survey=survey, team_score__team=team)
    return {
        key: (mean, verdict, capped_at)
        for key, mean, verdict, capped_at in rows.values_list(
            "question__key", "mean", "verdict", "capped_at"
        )
    }


def dimension_scores(survey, team) -> dict[str, float]:
    return dict(
        DimensionScore.objects.filter(team_score__survey=survey, team_score__team=team).values_list(
            "dimension__key", "score"
        )
    )


def test_the_cap_policy_caps_unsupported_answers_in_every_score(tmp_path, team):
    survey = scored_round(tmp_path, team, "cap")
    assert scores(survey, team) == {
        "containers": (0.5, "unverified", 2),
        "deploys": (0.25, "contradicted", 1),
        "data-versioning": (0.5, "", None),
    }
    assert dimension_scores(survey, team) == {
        "delivery": pytest.approx(37.5),
        "data": pytest.approx(50.0),
    }
    team_score = TeamScore.objects.get(survey=survey, team=team)
    assert team_score.score == pytest.approx(43.75)
    assert team_score.evidence_capped == 2
    assert (team_score.evidence_checked, team_score.evidence_confirmed) == (2, 0)
    assert team_score.evidence_contradicted == 1


def test_the_cap_policy_leaves_answers_the_evidence_supports_as_they_are(tmp_path, team):
    survey = scored_round(tmp_path, team, "cap", SUPPORTED_ANSWERS)
    # containers 2 of 4 and deploys 1 of 4 count as answered; data-versioning 2 of 4.
    assert scores(survey, team) == {
        "containers": (0.5, "confirmed", None),
        "deploys": (0.25, "unverified", None),
        "data-versioning": (0.5, "", None),
    }
    team_score = TeamScore.objects.get(survey=survey, team=team)
    assert team_score.evidence_capped == 0
    assert (team_score.evidence_checked, team_score.evidence_confirmed) == (2, 1)
    assert team_score.evidence_contradicted == 0


def test_with_the_report_policy_nothing_is_capped(tmp_path, team):
    survey = scored_round(tmp_path, team, "report")
    # The answers count as given (4 of 4); the verdicts are as under the cap policy:
    # containers 4 is above the level 2 the Dockerfile shows (unverified), deploys 4 is
    # contradicted by the missing deploy job (contradicts 3).
    assert scores(survey, team) == {
        "containers": (1.0, "unverified", None),
        "deploys": (1.0, "contradicted", None),
        "data-versioning": (0.5, "", None),
    }
    assert dimension_scores(survey, team) == {
        "delivery": pytest.approx(100.0),
        "data": pytest.approx(50.0),
    }
    team_score = TeamScore.objects.get(survey=survey, team=team)
    assert team_score.score == pytest.approx(75.0)
    assert team_score.evidence_capped == 0
    assert (team_score.evidence_confirmed, team_score.evidence_contradicted) == (0, 1)

    # Answers at the level the evidence shows are confirmed under this policy too.
    supported = scored_round(tmp_path, TeamFactory(slug="supported"), "report", SUPPORTED_ANSWERS)
    assert {
        key: verdict for key, (_, verdict, _) in scores(supported, supported.teams.get()).items()
    } == {
        "containers": "confirmed",
        "deploys": "unverified",
        "data-versioning": "",
    }


def test_the_report_says_the_cap_policy_is_on_and_shows_the_answers_as_given(
    tmp_path, team, member_client
):
    survey = scored_round(tmp_path, team, "cap")
    html = member_client.get(f"/reports/teams/{team.slug}/?survey={survey.pk}").content.decode()
    assert 'data-testid="cap-policy"' in html
    assert "this framework caps scores at what the evidence supports" in html
    assert "2 question scores capped" in html
    table = html[html.index('data-testid="evidence-table"') :]
    table = table[: table.index("</table>")]
    # The answer column shows what the team answered (4 · All), with the cap beside it.
    assert "4 · All" in table
    assert "capped at 2" in table and "capped at 1" in table


def test_the_report_policy_is_not_announced(tmp_path, team, member_client):
    survey = scored_round(tmp_path, team, "report")
    html = member_client.get(f"/reports/teams/{team.slug}/?survey={survey.pk}").content.decode()
    assert 'data-testid="cap-policy"' not in html
    assert "capped at" not in html


def test_the_evidence_api_gives_the_answer_and_the_cap(tmp_path, team, manager):
    survey = scored_round(tmp_path, team, "cap")
    _, key = api_token_create(user=manager)
    body = token_client(key).get(f"/api/v1/surveys/{survey.pk}/evidence/?team=recsys").json()
    [row] = body["results"]
    assert (row["evidence_policy"], row["capped"]) == ("cap", 2)
    questions = {q["question"]: q for q in row["questions"]}
    # answer_score is what the team said; capped_at what the score counts it as.
    assert {k: (q["answer_score"], q["capped_at"]) for k, q in questions.items()} == {
        "containers": (4, 2),
        "deploys": (4, 1),
    }


def test_the_distribution_keeps_what_was_answered(tmp_path, team):
    survey = scored_round(tmp_path, team, "cap")
    containers = QuestionScore.objects.get(team_score__survey=survey, question__key="containers")
    assert containers.distribution == [0, 0, 0, 0, 1]  # answered 4, counted as 2
    assert containers.mean == 0.5


def test_a_roll_up_counts_capped_answers_whichever_of_its_teams_is_rescored(
    tmp_path, team, other_team
):
    org = TeamFactory(slug="org", name="Organisation")  # not in the round: a roll-up
    for child in (team, other_team):
        child.parent = org
        child.save(update_fields=["parent"])
    framework = tiny_framework(tmp_path, policy="cap")
    survey = SurveyFactory(framework=framework, teams=[team, other_team])
    answer(survey, team, ANSWERS)
    answer(survey, other_team, {"data-versioning": 1})
    store(team, TINY_REPO)

    report_services.aggregate(survey=survey)
    # delivery: recsys's 4 and 4 counted as 2 and 1 -> (0.5 + 0.25) / 2; data: (2 + 1) / 8.
    assert TeamScore.objects.get(survey=survey, team=org).score == pytest.approx(37.5)

    # A run for fraud alone re-scores the roll-up from the same answers, capped the same.
    report_services.aggregate(survey=survey, team_ids=[other_team.pk])
    assert TeamScore.objects.get(survey=survey, team=org).score == pytest.approx(37.5)
    assert TeamScore.objects.get(survey=survey, team=team).evidence_capped == 2

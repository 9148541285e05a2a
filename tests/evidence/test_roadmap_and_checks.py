"""The roadmap puts contradicted answers first among equal priorities (the engine, and
through a scoring run); checks updated in place re-score the open rounds with the new checks."""

from __future__ import annotations

import pandas as pd
import pytest

from evidence.models import CheckResult
from maturity.scoring import score_teams
from maturity.services import framework_load
from maturity.signals import framework_checks_updated
from reports import services as report_services
from reports.models import AggregationRun, QuestionScore, TeamRecommendation
from tests.evidence.conftest import TINY_REPO, answer, tiny_framework, tiny_spec
from tests.evidence.test_cap_policy import scores
from tests.evidence.test_verdicts import store
from tests.factories import SurveyFactory
from tests.maturity.test_scoring import aggregate_like_sql, question, spec, to_framework

# --- the engine (no database) ------------------------------------------------------------------


def ranked(contradicted: pd.DataFrame | None) -> list[str]:
    plain = spec(
        [("delivery", 1.0)],
        [question("a-first", "delivery", 0), question("b-second", "delivery", 1)],
    )
    answers = [("t", "r1", "a-first", 3), ("t", "r1", "b-second", 3)]
    result = score_teams(
        aggregate_like_sql(plain, answers),
        to_framework(plain),
        pd.Series({"t": 1}),
        contradicted=contradicted,
    )
    rows = result.recommendations.sort_values("rank")
    assert rows["priority"].nunique() == 1  # equal priorities: only the tie-break differs
    return rows["question"].tolist()


def test_without_contradictions_equal_priorities_keep_framework_order():
    assert ranked(None) == ["a-first", "b-second"]
    assert ranked(pd.DataFrame(columns=["team", "question"])) == ["a-first", "b-second"]


def test_a_contradicted_answer_ranks_first_among_equal_priorities():
    assert ranked(pd.DataFrame({"team": ["t"], "question": ["b-second"]})) == [
        "b-second",
        "a-first",
    ]


def test_a_contradiction_of_another_team_changes_nothing():
    assert ranked(pd.DataFrame({"team": ["u"], "question": ["b-second"]})) == [
        "a-first",
        "b-second",
    ]


# --- through a scoring run -----------------------------------------------------------------------


def roadmap(survey, team) -> list[str]:
    return list(
        TeamRecommendation.objects.filter(team_score__survey=survey, team_score__team=team)
        .order_by("rank")
        .values_list("question__key", flat=True)
    )


@pytest.mark.django_db
def test_the_stored_roadmap_puts_the_contradicted_answer_first(tmp_path, team, member_client):
    framework = tiny_framework(tmp_path)
    survey = SurveyFactory(framework=framework, teams=[team])
    # containers and deploys: same dimension, same weight, same answer: equal priority.
    answer(survey, team, {"containers": 3, "deploys": 3, "data-versioning": 4})
    report_services.aggregate(survey=survey)
    assert roadmap(survey, team) == ["containers", "deploys"]

    store(team, TINY_REPO)  # no deploy job: deploys (answered 3) is contradicted
    report_services.aggregate(survey=survey)
    assert scores(survey, team)["deploys"][1] == "contradicted"
    assert roadmap(survey, team) == ["deploys", "containers"]

    html = member_client.get(f"/reports/teams/{team.slug}/?survey={survey.pk}").content.decode()
    steps = html[html.index('<ol class="roadmap">') :]
    steps = steps[: steps.index("</ol>")]
    assert steps.index("How are models deployed?") < steps.index("How are models packaged?")
    assert steps.count('data-verdict="contradicted"') == 1


# --- checks updated in place ---------------------------------------------------------------------


@pytest.mark.django_db
def test_changed_checks_rescore_the_open_round_with_the_new_checks(
    tmp_path, team, django_capture_on_commit_callbacks
):
    framework = tiny_framework(tmp_path)
    survey = SurveyFactory(framework=framework, teams=[team])
    closed = SurveyFactory(framework=framework, teams=[team], status="closed")
    answer(survey, team, {"containers": 2, "deploys": 1, "data-versioning": 1})
    store(team, TINY_REPO)
    report_services.aggregate(survey=survey)
    assert scores(survey, team)["containers"][1] == "confirmed"
    old_signature = set(CheckResult.objects.values_list("signature", flat=True))

    sent = []

    def receiver(sender, framework, **kwargs):
        sent.append(framework.pk)

    framework_checks_updated.connect(receiver)
    try:
        # Same content, changed checks: two Dockerfiles wanted, and failing contradicts 1.
        spec, path = tiny_spec(tmp_path, dockerfiles=2, contradicts=True)
        with django_capture_on_commit_callbacks(execute=True):
            result = framework_load(spec=spec, source=str(path))
    finally:
        framework_checks_updated.disconnect(receiver)

    assert result.framework.pk == framework.pk  # updated in place, answers kept
    assert sent == [framework.pk]
    assert scores(survey, team)["containers"][1] == "contradicted"
    assert scores(survey, team)["deploys"][1] == "unverified"
    new_signature = set(CheckResult.objects.values_list("signature", flat=True))
    assert len(new_signature) == 1 and new_signature.isdisjoint(old_signature)
    [check] = QuestionScore.objects.get(
        team_score__survey=survey, question__key="containers"
    ).evidence
    assert check["passed"] is False and check["contradicts"] == 1
    # The closed round was not re-scored.
    assert not AggregationRun.objects.filter(survey=closed).exists()


@pytest.mark.django_db
def test_loading_the_same_checks_again_sends_nothing(tmp_path, django_capture_on_commit_callbacks):
    tiny_framework(tmp_path)
    sent = []

    def receiver(sender, framework, **kwargs):
        sent.append(framework.pk)

    framework_checks_updated.connect(receiver)
    try:
        spec, path = tiny_spec(tmp_path)
        with django_capture_on_commit_callbacks(execute=True):
            framework_load(spec=spec, source=str(path))
    finally:
        framework_checks_updated.disconnect(receiver)
    assert sent == []

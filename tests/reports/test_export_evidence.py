"""Exports carry the evidence (issue 16): each answer row its (team, question)'s verdict,
each team's overall score row its evidence counts, in every format, from a real fixture
repository evaluated as the worker evaluates it; nothing of a withheld snapshot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.utils import timezone

from reports import services
from reports.exports import ANSWER_COLUMNS, SCORE_COLUMNS
from reports.models import QuestionScore, TeamScore
from surveys.models import Survey
from tests.evidence_repository import (
    CONFIRMED,
    CONTRADICTED,
    CONTRADICTING_REPOSITORY,
    answer_everything,
    store_evidence,
)
from tests.reports.test_exports import (
    EVIDENCE_COUNTS,
    FORMATS,
    admin_api,  # noqa: F401 - a fixture
    evidence_counts,
    expected_answers,
    fetch,
    in_csv,
    normalise,
    parse,
)

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parents[2] / "README.md"


def verdict_by_question(rows: list[dict], team: str) -> dict[str, str | None]:
    return {row["question_key"]: row["verdict"] for row in rows if row["team"] == team}


@pytest.mark.parametrize("fmt", FORMATS)
def test_answer_rows_carry_their_team_and_questions_verdict(evidenced, admin_api, fmt):  # noqa: F811
    _, body = fetch(admin_api, "answers", survey=evidenced.pk, format=fmt)
    rows = [normalise(row, fmt) for row in parse(body, fmt)]
    expected = expected_answers(evidenced)
    assert rows == (in_csv(expected) if fmt == "csv" else expected)

    recsys = verdict_by_question(rows, "recsys")
    assert recsys[CONFIRMED] == "confirmed"
    assert recsys[CONTRADICTED] == "contradicted"
    stored = dict(
        QuestionScore.objects.filter(
            team_score__survey=evidenced, team_score__team__slug="recsys"
        ).values_list("question__key", "verdict")
    )
    assert recsys == {key: stored.get(key) or None for key in recsys}
    # Questions without checks have no verdict: empty, never "".
    assert None in recsys.values()
    assert "" not in recsys.values()
    fraud = verdict_by_question(rows, "fraud")
    assert set(fraud.values()) == {"unverified", None}


@pytest.mark.parametrize("fmt", FORMATS)
def test_score_rows_carry_the_teams_evidence_counts_on_the_overall_row_only(
    evidenced,
    admin_api,  # noqa: F811
    fmt,
):
    _, body = fetch(admin_api, "scores", survey=evidenced.pk, format=fmt)
    rows = parse(body, fmt)
    recsys = TeamScore.objects.get(survey=evidenced, team__slug="recsys")
    assert recsys.evidence_confirmed >= 1 and recsys.evidence_contradicted >= 1
    for row in rows:
        counts = evidence_counts(row)
        if row["dimension"] != "overall":
            assert counts == dict.fromkeys(EVIDENCE_COUNTS)
            continue
        stored = TeamScore.objects.get(survey=evidenced, team__slug=row["team"])
        assert counts == {name: getattr(stored, name) for name in EVIDENCE_COUNTS}
    overall = {row["team"]: evidence_counts(row) for row in rows if row["dimension"] == "overall"}
    assert overall["recsys"]["evidence_contradicted"] == recsys.evidence_contradicted
    assert overall["fraud"]["evidence_checked"] > 0
    assert overall["fraud"]["evidence_confirmed"] == overall["fraud"]["evidence_contradicted"] == 0


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_answers_of_a_team_whose_snapshot_is_withheld_have_no_verdict(
    v2_survey,
    team,
    admin_api,  # noqa: F811
    fmt,
):
    """An anonymous round scored when the team had one respondent (below the group size of
    two) and exported after a second one answered: the answers count, the snapshot's
    verdicts, computed from one person's answers, stay withheld until it is scored again."""
    Survey.objects.filter(pk=v2_survey.pk).update(anonymous=True, min_group_size=2)
    answer_everything(v2_survey, team, 2)
    store_evidence(team, CONTRADICTING_REPOSITORY, source="model-repo")
    services.aggregate(survey=v2_survey)
    assert QuestionScore.objects.filter(
        team_score__team=team, question__key=CONTRADICTED, verdict="contradicted"
    ).exists()
    answer_everything(v2_survey, team, 2)  # not scored yet
    Survey.objects.filter(pk=v2_survey.pk).update(status="closed", closed_at=timezone.now())

    _, body = fetch(admin_api, "answers", survey=v2_survey.pk, format=fmt)
    rows = parse(body, fmt)
    assert len(rows) == 2 * v2_survey.framework.questions.count()
    assert {row["verdict"] or None for row in rows} == {None}

    services.aggregate(survey=v2_survey)  # now two respondents: shown
    _, body = fetch(admin_api, "answers", survey=v2_survey.pk, format=fmt)
    assert verdict_by_question(parse(body, fmt), "recsys")[CONTRADICTED] == "contradicted"


def test_the_readme_lists_the_exported_columns_in_order():
    text = " ".join(README.read_text().split())
    answers = re.search(r"Answer rows: `([^`]+)`", text)
    scores = re.search(r"Score rows: `([^`]+)`", text)
    assert answers is not None and scores is not None
    assert answers.group(1).split(", ") == ANSWER_COLUMNS
    assert scores.group(1).split(", ") == SCORE_COLUMNS

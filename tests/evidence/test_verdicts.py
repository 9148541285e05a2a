"""Verdicts in the scoring run: an upload is collected, evaluated against framework v2's
checks and the team re-scored; the verdicts (computed by hand here from mlops-v2.yaml and the
fixture repository) reach QuestionScore, TeamScore, the team report and the evidence API."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from evidence import services
from evidence.models import CheckResult, Snapshot
from maturity.evidence.snapshot import manifest_from_archive
from reports import services as report_services
from reports.authentication import api_token_create
from reports.models import AggregationRun, QuestionScore, TeamScore
from surveys.models import Survey, Team
from tests.evidence.conftest import (
    CI_WORKFLOW,
    RECSYS_ANSWERS,
    RECSYS_REPO,
    RECSYS_VERDICTS,
    SCANNING_WORKFLOW,
    answer,
    repo_archive,
    token_client,
    upload,
)
from tests.factories import SurveyFactory

pytestmark = pytest.mark.django_db


def verdicts(survey: Survey, team: Team) -> dict[str, str]:
    return dict(
        QuestionScore.objects.filter(team_score__survey=survey, team_score__team=team)
        .filter(question__key__in=RECSYS_ANSWERS)
        .values_list("question__key", "verdict")
    )


def question_score(survey: Survey, team: Team, key: str) -> QuestionScore:
    return QuestionScore.objects.get(
        team_score__survey=survey, team_score__team=team, question__key=key
    )


def store(
    team: Team,
    files: dict[str, str] | None = None,
    *,
    source: str = "recsys",
    received_at: datetime | None = None,
) -> Snapshot:
    """Store and process a snapshot in this process, as the worker would."""
    manifest = manifest_from_archive(io.BytesIO(repo_archive(files)))
    snapshot = services.snapshot_store(
        team=team,
        manifest=manifest,
        kind=Snapshot.Kind.ARCHIVE,
        source=source,
        received_at=received_at,
        defer=True,
    )
    return services.snapshot_process(snapshot.pk)


@pytest.fixture
def uploaded(v2_round, team, evidence_client, django_capture_on_commit_callbacks) -> Snapshot:
    """The recsys repository uploaded by the team's CI, collected, evaluated and scored."""
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(evidence_client, team.slug, repository="recsys-service")
    assert response.status_code == 202
    return Snapshot.objects.get(pk=response.json()["id"])


def test_an_upload_gives_each_answer_its_verdict_in_the_teams_scores(uploaded, v2_round, team):
    run = AggregationRun.objects.get(survey=v2_round, team=team)
    assert (run.trigger, run.status) == ("evidence", "done")
    assert verdicts(v2_round, team) == RECSYS_VERDICTS

    team_score = TeamScore.objects.get(survey=v2_round, team=team)
    assert team_score.evidence_checked == 8  # the answered questions that have checks
    # experiment-tracking, model-containerisation, dev-environments (tests.evidence.conftest)
    assert team_score.evidence_confirmed == 3
    assert team_score.evidence_contradicted == 2
    assert team_score.evidence_capped == 0  # the v2 policy is "report"

    security = question_score(v2_round, team, "shift-left-security")
    assert security.capped_at is None
    by_id = {check["id"]: check for check in security.evidence}
    assert set(by_id) == {"scanning-configured", "scans-in-ci"}
    scans = by_id["scans-in-ci"]
    assert scans["passed"] is False
    assert scans["source"] == "recsys-service"
    assert scans["contradicts"] == 2 and scans["supports"] is None
    assert scans["facts"] == {"ci.security_scans": []}
    assert "ci.security_scans is empty" in scans["details"]
    assert scans["fresh"] is True
    assert datetime.fromisoformat(scans["collected_at"]) == uploaded.received_at

    tracking = question_score(v2_round, team, "experiment-tracking").evidence
    assert [(c["id"], c["passed"]) for c in tracking] == [("tracking-library", True)]
    assert tracking[0]["facts"] == {
        "deps.experiment_tracking": ["mlflow"],
        "repo.mlproject": False,
    }
    # A passing check of a lower level than the answer confirms nothing: tests exist
    # (tests-present supports 1) and run in CI, but the team answered 3.
    testing = question_score(v2_round, team, "code-testing")
    assert testing.verdict == "unverified"
    passed = {c["id"]: (c["passed"], c["supports"]) for c in testing.evidence}
    assert passed == {
        "tests-present": (True, 1),
        "tests-gate-merges": (None, 2),  # no Scorecard: cannot tell
        "tests-in-ci": (True, None),
    }
    # A question without checks has no verdict and no evidence.
    assert question_score(v2_round, team, "knowledge-sharing").evidence == []


def test_a_team_without_evidence_has_its_checked_answers_unverified(v2_round, team):
    report_services.aggregate(survey=v2_round)
    expected = {key: ("unverified" if verdict else "") for key, verdict in RECSYS_VERDICTS.items()}
    assert verdicts(v2_round, team) == expected
    team_score = TeamScore.objects.get(survey=v2_round, team=team)
    assert (team_score.evidence_checked, team_score.evidence_confirmed) == (8, 0)
    assert team_score.evidence_contradicted == 0


def test_the_team_report_shows_each_verdict_with_the_facts_behind_it(
    uploaded, v2_round, team, member_client
):
    page = member_client.get(f"/reports/teams/{team.slug}/?survey={v2_round.pk}")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="evidence-table"' in html
    assert html.count('data-verdict="contradicted"') >= 2
    assert html.count('data-verdict="confirmed"') >= 3
    assert "confirms 3</strong>" in html and "contradicts 2</strong>" in html
    # The unverified code-testing row says which level its passing check shows.
    assert "(shows level 1; the team answered 3)" in html
    assert "Of 8 answered questions with automated checks" in html
    assert "ci.security_scans is empty" in html
    assert "ci.lint_jobs is empty" in html
    assert "deps.experiment_tracking has 1 entry: mlflow" in html
    assert "<strong>recsys-service</strong>" in html
    assert 'data-testid="cap-policy"' not in html
    # Contradicted answers are listed first.
    table = html[html.index('data-testid="evidence-table"') :]
    assert table.index("verdict-row-contradicted") < table.index("verdict-row-confirmed")


# --- GET /api/v1/surveys/{id}/evidence/ --------------------------------------------------------


def test_the_evidence_api_answers_each_checked_question_with_its_checks(
    uploaded, v2_round, team, manager
):
    _, key = api_token_create(user=manager)
    response = token_client(key).get(f"/api/v1/surveys/{v2_round.pk}/evidence/?team=recsys")
    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row["team"] == "recsys" and row["withheld"] is False
    assert row["evidence_policy"] == "report"
    assert (row["checked"], row["confirmed"], row["contradicted"], row["capped"]) == (8, 3, 2, 0)
    questions = {q["question"]: q for q in row["questions"]}
    expected = {key: verdict for key, verdict in RECSYS_VERDICTS.items() if verdict}
    assert {key: q["verdict"] for key, q in questions.items()} == expected
    assert {key: q["answer_score"] for key, q in questions.items()} == {
        key: RECSYS_ANSWERS[key] for key in expected
    }
    review = questions["code-review"]
    assert review["team"] == "recsys" and review["capped_at"] is None
    checks = {check["id"]: check for check in review["checks"]}
    assert set(checks) == {
        "review-enforced",
        "most-changes-reviewed",
        "some-changes-reviewed",
        "mechanical-checks-in-ci",
        "lint-in-ci",
    }
    assert checks["lint-in-ci"]["passed"] is False
    assert checks["review-enforced"]["passed"] is None  # no scorecard: could not tell
    assert checks["lint-in-ci"]["facts"]["ci.lint_jobs"] == []
    assert checks["lint-in-ci"]["source"] == "recsys-service"
    assert checks["lint-in-ci"]["fresh"] is True
    collected = datetime.fromisoformat(checks["lint-in-ci"]["collected_at"].replace("Z", "+00:00"))
    assert collected == uploaded.received_at


def test_the_evidence_api_hides_other_teams(uploaded, v2_round, team, other_member):
    report_services.aggregate(survey=v2_round)  # fraud too
    _, key = api_token_create(user=other_member)
    api = token_client(key)
    response = api.get(f"/api/v1/surveys/{v2_round.pk}/evidence/?team=recsys")
    assert response.status_code == 404
    [own] = api.get(f"/api/v1/surveys/{v2_round.pk}/evidence/").json()["results"]
    assert (own["team"], own["checked"], own["questions"]) == ("fraud", 0, [])
    assert APIClient().get(f"/api/v1/surveys/{v2_round.pk}/evidence/").status_code == 403


def test_the_evidence_api_withholds_a_team_of_an_anonymous_round(
    v2_framework, team, manager, evidence_client, django_capture_on_commit_callbacks
):
    survey = SurveyFactory(framework=v2_framework, teams=[team], anonymous=True)
    answer(survey, team, RECSYS_ANSWERS)
    with django_capture_on_commit_callbacks(execute=True):
        assert upload(evidence_client, team.slug).status_code == 202
    assert TeamScore.objects.get(survey=survey, team=team).evidence_contradicted == 2

    _, key = api_token_create(user=manager)
    response = token_client(key).get(f"/api/v1/surveys/{survey.pk}/evidence/?team=recsys")
    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row["withheld"] is True
    assert "questions" not in row and "contradicted" not in row


# --- which evidence counts -------------------------------------------------------------------


def test_evidence_older_than_fresh_days_makes_decided_verdicts_stale(v2_round, team):
    snapshot = store(team, received_at=timezone.now() - timedelta(days=91))
    assert snapshot.status == "collected"
    report_services.aggregate(survey=v2_round)
    expected = {
        key: {"confirmed": "stale", "contradicted": "stale"}.get(verdict, verdict)
        for key, verdict in RECSYS_VERDICTS.items()
    }
    assert verdicts(v2_round, team) == expected
    team_score = TeamScore.objects.get(survey=v2_round, team=team)
    assert (team_score.evidence_confirmed, team_score.evidence_contradicted) == (0, 0)
    [check] = question_score(v2_round, team, "experiment-tracking").evidence
    assert check["fresh"] is False and check["age_days"] == pytest.approx(91, abs=0.1)

    # Fresh evidence of the same repository replaces it.
    store(team)
    report_services.aggregate(survey=v2_round)
    assert verdicts(v2_round, team) == RECSYS_VERDICTS


def test_a_closed_round_judges_the_evidence_at_its_close(v2_round, team):
    now = timezone.now()
    scanning = RECSYS_REPO | {".github/workflows/ci.yml": SCANNING_WORKFLOW}
    store(team, scanning, received_at=now - timedelta(days=10))
    store(team, RECSYS_REPO, received_at=now - timedelta(days=1))

    report_services.aggregate(survey=v2_round)
    assert verdicts(v2_round, team)["shift-left-security"] == "contradicted"

    v2_round.status = Survey.Status.CLOSED
    v2_round.closed_at = now - timedelta(days=5)
    v2_round.save(update_fields=["status", "closed_at"])
    report_services.aggregate(survey=v2_round)
    closed = verdicts(v2_round, team)
    # At the close, the newest snapshot was the one with pip-audit in CI: scans-in-ci
    # passes, so nothing contradicts the answer 3; scanning-configured passes too, but it
    # supports only 1, below the answer, so it confirms nothing.
    assert closed["shift-left-security"] == "unverified"
    assert closed == RECSYS_VERDICTS | {"shift-left-security": "unverified"}
    checks = {c["id"]: c for c in question_score(v2_round, team, "shift-left-security").evidence}
    assert checks["scans-in-ci"]["passed"] is True
    assert checks["scans-in-ci"]["age_days"] == pytest.approx(5, abs=0.1)
    assert (checks["scanning-configured"]["passed"], checks["scanning-configured"]["supports"]) == (
        True,
        1,
    )

    # Evidence uploaded after the close changes nothing, and asks no re-score of it.
    later = store(team, RECSYS_REPO)
    assert services.open_survey_ids(team) == []
    report_services.aggregate(survey=v2_round)
    assert verdicts(v2_round, team) == closed
    assert later.status == "collected"


def checks_of(survey: Survey, team: Team, key: str) -> dict[str, tuple[str, bool | None, datetime]]:
    """The team's outcome of each check of question ``key``: (source, passed, collected)."""
    return {
        c["id"]: (c["source"], c["passed"], datetime.fromisoformat(c["collected_at"]))
        for c in question_score(survey, team, key).evidence
    }


def test_the_newest_snapshot_of_each_source_counts_and_a_check_takes_the_best_source(
    v2_round, team
):
    now = timezone.now()
    without_docker = {k: v for k, v in RECSYS_REPO.items() if k != "Dockerfile"}
    store(team, RECSYS_REPO, source="svc-a", received_at=now - timedelta(days=3))
    newest_a = store(team, without_docker, source="svc-a", received_at=now - timedelta(days=2))
    only_b = store(
        team, {"README.md": "# b\n"}, source="svc-b", received_at=now - timedelta(days=1)
    )

    report_services.aggregate(survey=v2_round)
    # One outcome per check for the team, not one per source: both current snapshots fail
    # packaging-defined (svc-a's older one with the Dockerfile no longer counts), so the
    # team's outcome is a failure, the newest snapshot's (svc-b).
    packaging = checks_of(v2_round, team, "model-containerisation")["packaging-defined"]
    assert packaging == ("svc-b", False, only_b.received_at)
    # packaging-defined only supports: its failure contradicts nothing; unverified.
    assert verdicts(v2_round, team)["model-containerisation"] == "unverified"
    # tests-present passes in svc-a (tests/) and fails in svc-b (none): the pass counts.
    assert checks_of(v2_round, team, "code-testing")["tests-present"] == (
        "svc-a",
        True,
        newest_a.received_at,
    )

    # Any current source can confirm it: a third repository with a Dockerfile (the answer
    # 1 is at the level packaging-defined supports).
    svc_c = store(team, {"Dockerfile": "FROM scratch\n"}, source="svc-c")
    report_services.aggregate(survey=v2_round)
    assert verdicts(v2_round, team)["model-containerisation"] == "confirmed"
    assert checks_of(v2_round, team, "model-containerisation")["packaging-defined"] == (
        "svc-c",
        True,
        svc_c.received_at,
    )
    # Each of code-testing's three checks once, whatever the number of sources.
    evidence = question_score(v2_round, team, "code-testing").evidence
    assert sorted(c["id"] for c in evidence) == [
        "tests-gate-merges",
        "tests-in-ci",
        "tests-present",
    ]


# Two repositories of one team that both run GitHub Actions: recsys (no scanner, no linter)
# and a second service whose CI runs pip-audit and whose linter runs in pre-commit.
SCANNED_SERVICE = {
    "README.md": "# features\n",
    ".github/workflows/ci.yml": SCANNING_WORKFLOW,
    ".pre-commit-config.yaml": "repos: []\n",
}


def test_a_repository_failing_a_check_does_not_contradict_when_another_one_passes_it(
    v2_round, team
):
    now = timezone.now()
    store(team, RECSYS_REPO, source="recsys", received_at=now - timedelta(days=1))
    scanned = store(team, SCANNED_SERVICE, source="features")
    assert scanned.status == "collected"

    report_services.aggregate(survey=v2_round)
    found = verdicts(v2_round, team)
    # scans-in-ci (contradicts 2) fails in recsys but passes in features: the team's
    # outcome is the pass, so the answer 3 is not contradicted; scanning-configured passes
    # in features but supports only 1, below the answer: unverified.
    assert checks_of(v2_round, team, "shift-left-security") == {
        "scans-in-ci": ("features", True, scanned.received_at),
        "scanning-configured": ("features", True, scanned.received_at),
    }
    assert found["shift-left-security"] == "unverified"
    # lint-in-ci (contradicts 3) fails in recsys, passes in features (pre-commit): the
    # answer 3 is not contradicted either; the Scorecard checks cannot tell.
    assert checks_of(v2_round, team, "code-review")["lint-in-ci"] == (
        "features",
        True,
        scanned.received_at,
    )
    assert found["code-review"] == "unverified"
    # What only recsys shows still counts: mlflow, the Dockerfile, pinned requirements.
    assert found == RECSYS_VERDICTS | {
        "shift-left-security": "unverified",
        "code-review": "unverified",
    }
    team_score = TeamScore.objects.get(survey=v2_round, team=team)
    assert (team_score.evidence_confirmed, team_score.evidence_contradicted) == (3, 0)


def test_a_check_failing_in_every_repository_contradicts(v2_round, team):
    now = timezone.now()
    older = store(team, RECSYS_REPO, source="recsys", received_at=now - timedelta(days=1))
    # A second GitHub Actions repository with tests in CI but no scanner and no linter.
    newer = store(team, {"README.md": "# b\n", ".github/workflows/ci.yml": CI_WORKFLOW}, source="b")

    report_services.aggregate(survey=v2_round)
    found = verdicts(v2_round, team)
    # scans-in-ci (contradicts 2) and lint-in-ci (contradicts 3) fail in both: the team's
    # outcome is a failure (the newest snapshot's), which contradicts the answers 3.
    assert checks_of(v2_round, team, "shift-left-security")["scans-in-ci"] == (
        "b",
        False,
        newer.received_at,
    )
    assert checks_of(v2_round, team, "code-review")["lint-in-ci"] == ("b", False, newer.received_at)
    assert found["shift-left-security"] == "contradicted"
    assert found["code-review"] == "contradicted"
    # Whatever passes in one of them still counts: recsys's mlflow, Dockerfile, pins.
    assert found == RECSYS_VERDICTS
    assert checks_of(v2_round, team, "experiment-tracking")["tracking-library"] == (
        "recsys",
        True,
        older.received_at,
    )


# Faults once found in the best-of-sources rule (evidence.selectors.round_outcomes): a
# repository without CI passed the "in CI" checks vacuously, and a stale pass outranked a
# fresh failure. Without a CI whose jobs are read the job facts are now unknown, unknown
# never hides a known outcome, and fresh outcomes rank first.


def test_a_repository_without_ci_does_not_hide_what_the_ci_of_another_one_lacks(v2_round, team):
    store(team, RECSYS_REPO, source="recsys")
    store(team, {"README.md": "# docs\n"}, source="docs")  # no CI: scans-in-ci does not apply
    report_services.aggregate(survey=v2_round)
    # recsys's GitHub Actions runs no scanner and no linter: contradicts 2 and 3.
    assert verdicts(v2_round, team)["shift-left-security"] == "contradicted"
    assert verdicts(v2_round, team)["code-review"] == "contradicted"


def test_a_stale_pass_of_another_repository_does_not_hide_a_fresh_failure(v2_round, team):
    now = timezone.now()
    old = {"README.md": "# old\n", ".github/workflows/ci.yml": SCANNING_WORKFLOW}
    store(team, old, source="old", received_at=now - timedelta(days=200))  # fresh_days 90
    store(team, RECSYS_REPO, source="recsys")
    report_services.aggregate(survey=v2_round)
    # recsys, uploaded now, runs no scanner in GitHub Actions: scans-in-ci contradicts 3.
    assert verdicts(v2_round, team)["shift-left-security"] == "contradicted"


def test_a_failed_snapshot_is_not_evidence(v2_round, team):
    snapshot = store(team)
    Snapshot.objects.filter(pk=snapshot.pk).update(status=Snapshot.Status.FAILED)
    report_services.aggregate(survey=v2_round)
    assert set(verdicts(v2_round, team).values()) == {"unverified", ""}


def test_the_worker_evaluates_an_upload_for_a_framework_that_also_has_a_closed_round(
    v2_round, v2_framework, team, other_team
):
    """Last quarter's closed round of the same framework (another team's) must not stop
    the evaluation of this quarter's open one."""
    SurveyFactory(
        framework=v2_framework,
        teams=[other_team],
        status=Survey.Status.CLOSED,
        closed_at=timezone.now() - timedelta(days=60),
    )
    assert services.frameworks_for_team(team) == [v2_framework]
    snapshot = store(team)
    results = CheckResult.objects.filter(content=snapshot.content, framework=v2_framework)
    every_check = sum(len(q.checks) for q in v2_framework.questions.all())
    assert every_check >= 40
    assert results.count() == every_check  # evaluated by the pipeline, not at scoring

"""manage.py seed_demo: a v1 round last quarter, a v2 round now, with what v2 adds."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from maturity.models import Question
from maturity.schema import parse_framework_file
from maturity.services import framework_load
from reports.models import TeamScore
from surveys.models import Answer, Survey, Team, TeamProfile
from surveys.selectors import round_plans

V2_YAML = Path(__file__).resolve().parents[2] / "maturity" / "frameworks" / "mlops-v2.yaml"

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(mlops_framework, django_capture_on_commit_callbacks):
    framework_load(spec=parse_framework_file(V2_YAML), source=str(V2_YAML))
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", stdout=out)
    return out.getvalue()


def rounds() -> tuple[Survey, Survey]:
    last, current = Survey.objects.order_by("opens_at")
    return last, current


def test_last_quarter_ran_on_version_1_and_this_quarter_runs_on_version_2(seeded):
    last, current = rounds()
    assert (last.framework.version, last.status) == (1, Survey.Status.CLOSED)
    assert (current.framework.version, current.status) == (2, Survey.Status.OPEN)
    assert current.teams.count() == 12
    own = TeamScore.objects.filter(score__isnull=False, is_rollup=False)
    assert own.filter(survey=current).count() >= 10
    assert own.filter(survey=last).count() == 6
    # the teams of both rounds can be compared across versions
    assert set(last.teams.values_list("slug", flat=True)) < set(
        current.teams.values_list("slug", flat=True)
    )


def test_profiles_put_questions_out_of_scope_and_platform_teams_answer_for_their_teams(seeded):
    _, current = rounds()
    plans = round_plans(current)
    by_slug = {team.slug: team.pk for team in Team.objects.all()}
    genai = set(
        Question.objects.filter(
            framework=current.framework, dimension__key="genai-operations"
        ).values_list("pk", flat=True)
    )
    assert genai <= plans[by_slug["assistant"]].asked  # an LLM team
    assert genai <= plans[by_slug["forecasting"]].out_of_scope  # a batch-only classical team
    platform = set(
        Question.objects.filter(framework=current.framework, scope="platform").values_list(
            "pk", flat=True
        )
    )
    assert platform and platform.isdisjoint(plans[by_slug["recsys"]].asked)
    answered = Answer.objects.filter(
        response__survey=current,
        response__team__slug="ml-platform",
        response__status="submitted",
        question__scope="platform",
    )
    assert answered.exclude(score=None).exists()
    # no answer to a question the team was not asked
    for team_id, plan in plans.items():
        stray = Answer.objects.filter(response__survey=current, response__team_id=team_id).exclude(
            question_id__in=plan.asked
        )
        assert not stray.exists()


def test_dont_know_answers_profiles_to_confirm_and_a_team_without_one(seeded):
    last, current = rounds()
    assert Answer.objects.filter(response__survey=current, dont_know=True).count() > 20
    assert not Answer.objects.filter(response__survey=last, dont_know=True).exists()
    assert Answer.objects.filter(response__survey=current, na=True).exclude(comment="").exists()
    assert not Answer.objects.filter(response__survey=current, na=True, comment="").exists()
    profiles = {p.team.slug: p for p in TeamProfile.objects.filter(survey=current)}
    assert "vision" not in profiles
    assert profiles["search"].confirmed_at is None
    assert profiles["recsys"].confirmed_at is not None


def test_seeding_twice_adds_nothing(seeded):
    counts = (Team.objects.count(), Answer.objects.count())
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "already present" in out.getvalue()
    assert (Team.objects.count(), Answer.objects.count()) == counts


def test_a_demo_repository_confirms_some_answers_and_contradicts_others(seeded, client):
    """Issue 16: recsys's fixture repository (evidence.demo) goes through the upload path;
    its evidence confirms some checked answers (those at or below the level a passing check
    supports) and contradicts two (no security scanner in CI; Scorecard finds few reviewed
    changes), and the report shows both with their facts."""
    from django.contrib.auth import get_user_model

    from evidence.models import Snapshot
    from reports.evidence import answered_choice

    _, current = rounds()
    snapshot = Snapshot.objects.get(team__slug="recsys")
    assert (snapshot.status, snapshot.source, snapshot.kind) == (
        "collected",
        "recsys-ranker",
        "archive",
    )
    score = TeamScore.objects.get(survey=current, team__slug="recsys")
    checked = list(score.questions.exclude(verdict="").select_related("question"))
    verdicts = {row.question.key: row.verdict for row in checked}
    assert verdicts["shift-left-security"] == "contradicted"
    assert verdicts["code-review"] == "contradicted"
    assert score.evidence_contradicted == 2
    confirmed = [row for row in checked if row.verdict == "confirmed"]
    assert score.evidence_confirmed == len(confirmed) >= 1
    # Each confirmed answer is at or below the level of a passing check.
    for row in confirmed:
        answer = answered_choice(row.distribution)
        assert any(
            check["passed"] is True
            and check["supports"] is not None
            and answer <= check["supports"]
            for check in row.evidence
        ), (row.question.key, answer, row.evidence)
    # And a passing check of a lower level confirms nothing: answers above what the
    # evidence shows, where nothing contradicts them, stay unverified.
    above = [
        row
        for row in checked
        if row.verdict != "contradicted"
        and all(
            check["supports"] is None or check["supports"] < answered_choice(row.distribution)
            for check in row.evidence
        )
    ]
    assert above and {row.verdict for row in above} == {"unverified"}
    assert "Evidence from recsys-ranker for recsys" in seeded

    client.force_login(get_user_model().objects.get(username="maria"))
    page = client.get(f"/reports/teams/recsys/?survey={current.pk}").content.decode()
    assert "Self-assessment vs evidence" in page
    assert "ci.security_scans is empty" in page
    assert 'data-verdict="contradicted"' in page and 'data-verdict="confirmed"' in page


def test_the_demo_tracks_last_quarters_roadmap_as_actions(seeded):
    from actions.models import Action

    last, _ = rounds()
    actions = list(Action.objects.filter(team__slug="recsys").order_by("pk"))
    assert [a.status for a in actions] == ["done", "in_progress", "open"]
    assert all(a.survey == last and a.owner.username == "alice" for a in actions)
    assert actions[2].is_overdue()
    # This quarter's scoring checked the done one (recsys answered it in version 2 too).
    assert actions[0].verification in ("verified", "not_reflected")
    assert "Tracked 3 actions of Recommendations." in seeded


def test_the_demo_runs_a_campaign_across_ml_platform(seeded):
    from campaigns.models import Campaign, CampaignTeamStatus

    campaign = Campaign.objects.get()
    assert campaign.parent.slug == "ml-platform" and campaign.goal_key == "monitoring-feedback"
    assert CampaignTeamStatus.objects.filter(campaign=campaign).count() >= 5
    assert f"Campaign '{campaign.title}':" in seeded

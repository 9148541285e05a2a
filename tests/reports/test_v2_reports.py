"""Framework v2 in what managers and integrations read: the team report's knowledge gaps,
out-of-scope count and platform/org practices, the scores API's new fields, and the
exports' dont_know and replaces columns in every format; anonymity holds for ancestors."""

from __future__ import annotations

import pytest
from django.utils import timezone

from reports import selectors, services
from reports.display import shown_text
from reports.exports import ANSWER_COLUMNS, SCORE_COLUMNS
from reports.models import DimensionScore, QuestionScore, TeamScore
from surveys.models import Answer, TeamProfile
from surveys.selectors import round_plans
from tests.maturity.reference_scoring import DONT_KNOW
from tests.reports.test_api import token_client
from tests.reports.test_exports import FORMATS, fetch, parse
from tests.reports.test_v2_scoring import answer_all

pytestmark = pytest.mark.django_db

# threat-monitoring: a question most respondents cannot see into (issue 15)
GAP = "threat-monitoring"


@pytest.fixture
def answered_round(v2_round, tree):
    """Every team of the tree answered (org 2, platform 3, product teams 3 respondents);
    recsys answered threat-monitoring "don't know" twice."""
    answer_all(v2_round, tree.org, respondents=2, seed=1)
    answer_all(v2_round, tree.platform, respondents=3, seed=2)
    answer_all(v2_round, tree.recsys, respondents=1, seed=3, fixed={GAP: 2})
    answer_all(v2_round, tree.recsys, respondents=2, seed=4, fixed={GAP: DONT_KNOW})
    answer_all(v2_round, tree.chatbot, respondents=3, seed=5)
    services.aggregate(survey=v2_round)
    return v2_round


def inherited_keys(survey, team) -> dict[str, int]:
    plan = round_plans(survey)[team.pk]
    keys = dict(survey.framework.questions.values_list("pk", "key"))
    return {keys[question]: ancestor for question, ancestor in plan.inherited.items()}


def test_team_report_shows_gaps_scope_and_the_platform_and_org_practices(
    answered_round, tree, admin_user, client
):
    survey = answered_round
    report = selectors.team_report(survey, tree.recsys)
    team_score = TeamScore.objects.get(survey=survey, team=tree.recsys)

    # Knowledge gaps: every question with don't-know answers, most first, share of 3.
    counts = dict(
        QuestionScore.objects.filter(team_score=team_score, dont_know_count__gt=0).values_list(
            "question__key", "dont_know_count"
        )
    )
    assert {gap.question.key: gap.count for gap in report.knowledge_gaps} == counts
    assert counts[GAP] >= 2
    assert [gap.count for gap in report.knowledge_gaps] == sorted(counts.values(), reverse=True)
    gap = next(gap for gap in report.knowledge_gaps if gap.question.key == GAP)
    assert gap.share == gap.count / 3

    # Out of scope: as many as the plan says; the profile is a proposal until confirmed.
    assert report.out_of_scope == len(round_plans(survey)[tree.recsys.pk].out_of_scope) > 0
    assert report.profile_summary == "serving: batch; models: classical"

    # Platform and org practices: from the answering ancestor's own snapshot.
    inherited = inherited_keys(survey, tree.recsys)
    assert {p.question.key: p.answered_by.pk for p in report.inherited} == inherited
    assert set(inherited.values()) == {tree.org.pk, tree.platform.pk}
    for practice in report.inherited:
        ancestor = TeamScore.objects.get(survey=survey, team=practice.answered_by)
        stored = QuestionScore.objects.get(team_score=ancestor, question=practice.question)
        assert (practice.withheld, practice.mean, practice.n) == (False, stored.mean, stored.n)
    # ...and never part of the team's own scores.
    own = set(team_score.questions.values_list("question__key", flat=True))
    assert not own & inherited.keys()

    client.force_login(admin_user)
    page = client.get(f"/reports/teams/recsys/?survey={survey.pk}").content.decode()
    assert "Knowledge gaps" in page
    text = survey.framework.questions.get(key=GAP).text
    assert text in page.split("Knowledge gaps")[1].split("</table>")[0]
    assert (
        f"{report.out_of_scope} questions out of scope for this team's profile"
        " (profile: serving: batch; models: classical; <strong>not confirmed</strong>)"
    ) in page
    section = page.split("Platform and org practices")[1].split("</section>")[0]
    assert "not part of this team's scores" in section
    vulnerability = next(
        p for p in report.inherited if p.question.key == "vulnerability-management"
    )
    row = section.split(vulnerability.question.text)[1].split("</tr>")[0]
    assert "ML Platform" in row and shown_text(vulnerability.mean_on_scale) in row

    # A confirmed profile says so.
    TeamProfile.objects.filter(team=tree.recsys).update(confirmed_at=timezone.now())
    page = client.get(f"/reports/teams/recsys/?survey={survey.pk}").content.decode()
    assert "(profile: serving: batch; models: classical; confirmed)" in page


def test_nothing_of_a_withheld_ancestor_is_shown(answered_round, tree, admin_user, client):
    survey = answered_round
    survey.anonymous, survey.min_group_size, survey.status = True, 3, "closed"
    survey.save()  # org has 2 respondents: withheld; platform and recsys have 3
    report = selectors.team_report(survey, tree.recsys)
    assert not report.withheld
    by_ancestor = {p.answered_by.slug: p for p in report.inherited}
    org_practices = [p for p in report.inherited if p.answered_by == tree.org]
    assert org_practices and all(
        p.withheld and p.mean is None and p.n == 0 and p.current_label == "" for p in org_practices
    )
    assert by_ancestor["platform"].mean is not None

    client.force_login(admin_user)
    page = client.get(f"/reports/teams/recsys/?survey={survey.pk}").content.decode()
    section = page.split("Platform and org practices")[1].split("</section>")[0]
    for practice in org_practices:
        row = section.split(practice.question.text)[1].split("</tr>")[0]
        assert "withheld" in row and 'class="num"' not in row

    body = token_client(admin_user).get(f"/api/v1/surveys/{survey.pk}/scores/?team=recsys").json()
    [row] = body["results"]
    means = {item["question"]: item["mean"] for item in row["inherited"]}
    assert all(means[p.question.key] is None for p in org_practices)
    assert means["vulnerability-management"] == by_ancestor["platform"].mean


def test_scores_api_gives_dont_know_out_of_scope_and_inherited(answered_round, tree, admin_user):
    survey = answered_round
    api = token_client(admin_user)
    body = api.get(f"/api/v1/surveys/{survey.pk}/scores/").json()
    rows = {row["team"]: row for row in body["results"]}
    plans = round_plans(survey)
    for slug, row in rows.items():
        stored = TeamScore.objects.get(survey=survey, team__slug=slug)
        assert row["out_of_scope"] == stored.out_of_scope_count
        assert row["out_of_scope"] == len(plans[stored.team_id].out_of_scope)
        dimensions = dict(
            DimensionScore.objects.filter(team_score=stored).values_list(
                "dimension__key", "dont_know_count"
            )
        )
        assert {d["dimension"]: d["dont_know"] for d in row["dimensions"]} == dimensions
        inherited = inherited_keys(survey, stored.team)
        assert [item["question"] for item in row["inherited"]] == [
            p.question.key
            for p in selectors.inherited_practices(survey, [stored.team_id])[stored.team_id]
        ]
        for item in row["inherited"]:
            ancestor = TeamScore.objects.get(survey=survey, team__slug=item["answered_by"])
            assert ancestor.team_id == inherited[item["question"]]
            mean = QuestionScore.objects.get(
                team_score=ancestor, question__key=item["question"]
            ).mean
            assert item["mean"] == mean
    assert rows["org"]["inherited"] == []
    assert {item["answered_by"] for item in rows["recsys"]["inherited"]} == {"org", "platform"}
    assert sum(d["dont_know"] for d in rows["recsys"]["dimensions"]) > 0

    schema = api.get("/api/schema/?format=json").json()["components"]["schemas"]
    assert {"out_of_scope", "inherited"} <= set(schema["TeamScoreOut"]["properties"])
    assert "dont_know" in schema["DimensionScoreOut"]["properties"]
    assert set(schema["InheritedOut"]["properties"]) == {"question", "answered_by", "mean"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_exports_carry_dont_know_and_replaced_keys(answered_round, tree, admin_user, fmt):
    survey = answered_round
    api = token_client(admin_user)
    assert ANSWER_COLUMNS.index("replaces") == ANSWER_COLUMNS.index("question_key") + 1
    _, body = fetch(api, "answers", survey=survey.pk, team="recsys", format=fmt)
    rows = parse(body, fmt)
    assert list(rows[0]) == ANSWER_COLUMNS

    def flag(value) -> bool:
        return value is True or value == "true"

    stored = Answer.objects.filter(response__survey=survey, response__team=tree.recsys)
    assert len(rows) == stored.count()
    assert sum(flag(row["dont_know"]) for row in rows) == stored.filter(dont_know=True).count()
    assert all(row["score"] in (None, "") for row in rows if flag(row["dont_know"]))
    replaced = {
        key: " ".join(keys)
        for key, keys in survey.framework.questions.exclude(replaces=[]).values_list(
            "key", "replaces"
        )
    }
    assert replaced  # v2 renames and splits some v1 questions
    for row in rows:
        assert (row["replaces"] or "") == replaced.get(row["question_key"], "")

    _, body = fetch(api, "scores", survey=survey.pk, team="recsys", format=fmt)
    scores = parse(body, fmt)
    assert list(scores[0]) == SCORE_COLUMNS
    team_score = TeamScore.objects.get(survey=survey, team=tree.recsys)
    assert scores[0]["dimension"] == "overall"
    assert int(scores[0]["dont_know"]) == team_score.dont_know_count > 0
    dimensions = dict(team_score.dimensions.values_list("dimension__key", "dont_know_count"))
    assert {row["dimension"]: int(row["dont_know"]) for row in scores[1:]} == dimensions

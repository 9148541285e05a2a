"""GET /api/v1/surveys/{id}/evidence/: each team's answers beside what its evidence shows."""

from __future__ import annotations

from typing import Any

from django.http.response import HttpResponseBase
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request

from evidence.models import Exemption
from evidence.selectors import exempt_pairs, reference_time
from reports.api.scores import (
    IF_NONE_MATCH,
    NOT_MODIFIED,
    TeamQuerySerializer,
    _children,
    _PerTeamView,
    _withheld,
)
from reports.evidence import answered_choice
from reports.models import QuestionScore
from reports.selectors import is_withheld
from surveys.models import Survey


class EvidenceCheckOut(serializers.Serializer[dict[str, Any]]):
    id = serializers.CharField()
    title = serializers.CharField()
    passed = serializers.BooleanField(
        allow_null=True, help_text="null: the snapshot could not tell (a fact is absent)."
    )
    source = serializers.CharField(help_text="The repository of the snapshot.")  # type: ignore[assignment]  # a payload key (Field.source is DRF's)
    collected_at = serializers.DateTimeField()
    fresh = serializers.BooleanField(help_text="Younger than the check's fresh_days.")
    details = serializers.ListField(child=serializers.CharField())
    facts = serializers.DictField(help_text="The facts the rule read.")


class ExemptionOut(serializers.Serializer[dict[str, Any]]):
    reason = serializers.CharField()
    expires_at = serializers.DateTimeField()
    approved_by = serializers.CharField(allow_null=True, help_text="null once erased.")


class QuestionEvidenceOut(serializers.Serializer[dict[str, Any]]):
    team = serializers.CharField()
    question = serializers.CharField()
    answer_score = serializers.IntegerField(
        allow_null=True,
        help_text="The team's answer, floor(mean choice + 1e-9), as answered (before any cap).",
    )
    verdict = serializers.ChoiceField(
        ["confirmed", "contradicted", "unverified", "stale", "exempt"]
    )
    capped_at = serializers.IntegerField(allow_null=True)
    checks = EvidenceCheckOut(many=True)
    exemption = ExemptionOut(allow_null=True, help_text="The exemption in force, if any.")


class TeamEvidenceOut(serializers.Serializer[dict[str, Any]]):
    team = serializers.CharField()
    withheld = serializers.BooleanField()
    evidence_policy = serializers.ChoiceField(["report", "cap"])
    checked = serializers.IntegerField()
    confirmed = serializers.IntegerField()
    contradicted = serializers.IntegerField()
    capped = serializers.IntegerField()
    questions = QuestionEvidenceOut(many=True)


class PaginatedTeamEvidence(serializers.Serializer[dict[str, Any]]):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = TeamEvidenceOut(many=True)


def _check(check: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "title", "passed", "source", "collected_at", "fresh", "details", "facts")
    return {key: check.get(key) for key in keys}


def _exemption(exemption: Exemption | None) -> dict[str, Any] | None:
    if exemption is None:
        return None
    approver = exemption.approved_by
    return {
        "reason": exemption.reason,
        "expires_at": exemption.expires_at.isoformat(),
        "approved_by": approver.get_username() if approver is not None else None,
    }


def evidence_payload(survey: Survey, page: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per team of the page: its answered questions with checks, each with the verdict and
    the check outcomes behind it; withheld teams as in scores."""
    rows = _children(
        survey,
        page,
        QuestionScore,
        "question__order",
        {
            "question": "question__key",
            "distribution": "distribution",
            "verdict": "verdict",
            "capped_at": "capped_at",
            "checks": "evidence",
        },
    )
    policy = survey.framework.evidence_policy
    exemptions = exempt_pairs([ts["team_id"] for ts in page], reference_time(survey))
    out = []
    for ts in page:
        if is_withheld(survey, ts["n_respondents"]):
            out.append(_withheld(survey, ts))
            continue
        questions = [
            {
                "team": ts["team_slug"],
                "question": row["question"],
                "answer_score": answered_choice(row["distribution"]),
                "verdict": row["verdict"],
                "capped_at": row["capped_at"],
                "checks": [_check(check) for check in row["checks"]],
                "exemption": _exemption(exemptions.get((ts["team_id"], row["question"]))),
            }
            for row in rows[ts["pk"]]
            if row["verdict"]
        ]
        out.append(
            {
                "team": ts["team_slug"],
                "withheld": False,
                "evidence_policy": policy,
                "checked": ts["evidence_checked"],
                "confirmed": ts["evidence_confirmed"],
                "contradicted": ts["evidence_contradicted"],
                "capped": ts["evidence_capped"],
                "questions": questions,
            }
        )
    return out


class SurveyEvidenceView(_PerTeamView):
    @extend_schema(
        operation_id="survey_evidence_list",
        parameters=[TeamQuerySerializer, IF_NONE_MATCH],
        responses={200: PaginatedTeamEvidence, 304: NOT_MODIFIED},
        description="Self-assessment vs evidence, per team: every answered question that has "
        "checks, with the team's answer (`answer_score`), the `verdict` (`confirmed`, "
        "`contradicted`, `unverified`, `stale`, `exempt`) and the outcome of each check on "
        "the team's current snapshots (`passed` is null when the evidence could not tell). "
        "`capped_at` is set when the framework's `evidence_policy: cap` lowered the score. "
        "Withheld teams as in scores.",
    )
    def get(self, request: Request, survey_id: int) -> HttpResponseBase:
        return self.cached_page(request, survey_id, evidence_payload)

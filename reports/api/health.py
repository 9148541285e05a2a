"""GET /api/v1/frameworks/{slug}/question-health/?survey=: admins only (issue 15).

Reads what the aggregation worker stored (``reports.health``); nothing is computed here.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import IsAdmin
from maturity.models import Framework
from reports.selectors import (
    SURVEY_OPEN,
    QuestionHealthReport,
    health_flags,
    health_thresholds,
    question_health,
)
from surveys.models import Survey

FLAGS = ["ambiguous", "uninformative", "unknown"]


class QuestionHealthQuery(serializers.Serializer[Any]):
    survey = serializers.IntegerField(
        min_value=1,
        max_value=2**63 - 1,
        help_text="Id of a survey (round) of this framework, any version.",
        error_messages={
            "required": "Name the survey: ?survey=<id>, a survey of this framework.",
            "invalid": "A survey id is a whole number.",
        },
    )

    def validate_survey(self, survey_id: int) -> Survey:
        slug = self.context["slug"]
        survey = Survey.objects.select_related("framework").filter(pk=survey_id).first()
        if survey is None:
            raise serializers.ValidationError(f"No survey {survey_id}.")
        if survey.framework.slug != slug:
            raise serializers.ValidationError(
                f"Survey {survey_id} uses the framework '{survey.framework.slug}', not '{slug}'."
            )
        return survey


class QuestionHealthOut(serializers.Serializer[dict[str, Any]]):
    question = serializers.CharField(help_text="Question key.")
    dimension = serializers.CharField(help_text="Dimension key.")
    text = serializers.CharField()
    n_answers = serializers.IntegerField(help_text="Counted answers with a choice.")
    na_rate = serializers.FloatField(help_text="Share of N/A among all its counted answers.")
    dont_know_rate = serializers.FloatField(help_text="Share of don't know, likewise.")
    agreement = serializers.FloatField(
        allow_null=True,
        help_text="Within-team agreement: Krippendorff's alpha (ordinal) over teams with at "
        "least two choice answers; null when no team has two, or nobody varies.",
    )
    agreement_teams = serializers.IntegerField(help_text="Teams the agreement is computed over.")
    top_share = serializers.FloatField(
        allow_null=True, help_text="Share of its choice answers on the most chosen choice."
    )
    item_rest = serializers.FloatField(
        allow_null=True,
        help_text="Pearson's r, over respondents, with the mean of the other questions of its "
        "dimension they answered; null below 3 such respondents or without variation.",
    )
    flags = serializers.ListField(child=serializers.ChoiceField(choices=FLAGS))


class DimensionHealthOut(serializers.Serializer[dict[str, Any]]):
    dimension = serializers.CharField(help_text="Dimension key.")
    name = serializers.CharField()
    questions = serializers.IntegerField(help_text="Its questions that were answered.")
    n_complete = serializers.IntegerField(
        help_text="Respondents who answered every one of them with a choice."
    )
    cronbach_alpha = serializers.FloatField(
        allow_null=True,
        help_text="Cronbach's alpha over those respondents; null below 2 questions or 2 "
        "respondents, or when their sums do not vary.",
    )


class ThresholdsOut(serializers.Serializer[dict[str, Any]]):
    agreement = serializers.FloatField(help_text="ambiguous below this agreement ...")
    agreement_min_teams = serializers.IntegerField(
        help_text="... over at least this many teams with two answers or more."
    )
    top_share = serializers.FloatField(help_text="uninformative at this top share or more ...")
    top_share_min_answers = serializers.IntegerField(help_text="... with this many answers.")
    dont_know_rate = serializers.FloatField(help_text="unknown at this rate or more.")


class QuestionHealthReportOut(serializers.Serializer[dict[str, Any]]):
    framework = serializers.CharField(help_text="Framework slug.")
    version = serializers.IntegerField(help_text="The survey's framework version.")
    survey = serializers.IntegerField()
    withheld_reason = serializers.ChoiceField(
        choices=[SURVEY_OPEN],
        allow_null=True,
        help_text="survey_open: an anonymous survey shows no question health until it closes.",
    )
    computed_at = serializers.DateTimeField(
        allow_null=True, help_text="When the worker read the answers; null: not computed yet."
    )
    thresholds = ThresholdsOut()
    flag_meanings = serializers.DictField(child=serializers.CharField())
    questions = QuestionHealthOut(many=True)
    dimensions = DimensionHealthOut(many=True)


def question_health_payload(report: QuestionHealthReport) -> dict[str, Any]:
    """Return the API body of a survey's question health."""
    computed_at = report.computed_at
    return {
        "framework": report.survey.framework.slug,
        "version": report.survey.framework.version,
        "survey": report.survey.pk,
        "withheld_reason": report.withheld_reason,
        "computed_at": computed_at.isoformat().replace("+00:00", "Z") if computed_at else None,
        "thresholds": asdict(health_thresholds()),
        "flag_meanings": health_flags(),
        "questions": [
            {
                "question": row.question.key,
                "dimension": row.question.dimension.key,
                "text": row.question.text,
                "n_answers": row.n_answers,
                "na_rate": row.na_rate,
                "dont_know_rate": row.dont_know_rate,
                "agreement": row.agreement,
                "agreement_teams": row.agreement_teams,
                "top_share": row.top_share,
                "item_rest": row.item_rest,
                "flags": row.flags,
            }
            for row in report.questions
        ],
        "dimensions": [
            {
                "dimension": row.dimension.key,
                "name": row.dimension.name,
                "questions": row.questions,
                "n_complete": row.n_complete,
                "cronbach_alpha": row.cronbach_alpha,
            }
            for row in report.dimensions
        ],
    }


class QuestionHealthView(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        operation_id="framework_question_health",
        parameters=[QuestionHealthQuery],
        responses={200: QuestionHealthReportOut},
        description="Admins only. How each question of the framework behaved in one survey's "
        "counted answers, computed by the aggregation worker (at the end of every "
        "survey-wide aggregation, and every QUESTION_HEALTH_SECONDS for open surveys whose "
        "answers changed): rates, within-team agreement, top share, item-rest correlation "
        "and flags (`ambiguous`, `uninformative`, `unknown`; see `flag_meanings`), and per "
        "dimension Cronbach's alpha. Questions in framework order. An anonymous survey "
        'shows nothing until it closes (`"withheld_reason": "survey_open"`), then only '
        "the answers of teams whose results are released. A 400 when `survey` is missing "
        "or not a survey of this framework.",
    )
    def get(self, request: Request, slug: str) -> Response:
        if not Framework.objects.filter(slug=slug).exists():
            raise NotFound("No such framework.")
        query = QuestionHealthQuery(data=request.query_params, context={"slug": slug})
        query.is_valid(raise_exception=True)
        return Response(question_health_payload(question_health(query.validated_data["survey"])))

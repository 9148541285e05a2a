"""A team's round read as Google's ML Test Score over the API (reports.selectors)."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from common.api import ErrorSerializer, request_user
from reports.api.scores import WithheldTeamOut
from reports.selectors import TeamMlTestScore, team_ml_test_score
from surveys.models import Survey
from surveys.selectors import api_surveys, readable_team_ids

UNMAPPED = "This framework version maps no ML Test Score tests."


class MlTestScoreQuery(serializers.Serializer[Any]):
    team = serializers.SlugField(max_length=64, help_text="The team's slug.")


class MlTestQuestionOut(serializers.Serializer[dict[str, Any]]):
    question = serializers.CharField(help_text="Question key.")
    text = serializers.CharField()
    mean = serializers.FloatField(
        allow_null=True,
        help_text="The team's question score Q as a fraction of the top level (0..1; "
        "the page shows it on the question's 0-max scale); null: no score.",
    )
    out_of_scope = serializers.BooleanField(help_text="Excluded by the team's profile.")


class MlTestOut(serializers.Serializer[dict[str, Any]]):
    test = serializers.CharField(help_text="The paper's test id, e.g. monitor-3.")
    title = serializers.CharField()
    points = serializers.FloatField(
        allow_null=True,
        help_text="0, 0.5 or 1; null when no mapped question has a score (counts 0).",
    )
    applicable = serializers.BooleanField(
        help_text="False when every mapped question is out of the team's scope: the test is "
        "left out of its section instead of counting 0."
    )
    questions = MlTestQuestionOut(many=True)


class MlTestSectionOut(serializers.Serializer[dict[str, Any]]):
    section = serializers.ChoiceField(choices=["data", "model", "infra", "monitor"])
    name = serializers.CharField()
    score = serializers.FloatField(
        allow_null=True,
        help_text="Its tests' points on the paper's 0-7 scale: the sum over the tests that "
        "apply, x 7 / applicable (the plain sum when all seven apply); null when none does.",
    )
    applicable = serializers.IntegerField(help_text="How many of its seven tests apply.")
    tests = MlTestOut(many=True)


class TeamMlTestScoreOut(serializers.Serializer[dict[str, Any]]):
    team = serializers.CharField(help_text="Team slug.")
    withheld = serializers.BooleanField(help_text="Always false here.")
    framework = serializers.CharField(help_text="Framework slug.")
    framework_version = serializers.IntegerField()
    mapped = serializers.BooleanField(
        help_text="Whether the framework version maps any ML Test Score test (version 1: no)."
    )
    overall = serializers.FloatField(
        allow_null=True, help_text="The minimum of the four sections; null when not mapped."
    )
    reading = serializers.CharField(
        allow_null=True, help_text="The paper's reading of the overall score."
    )
    detail = serializers.CharField(allow_null=True, help_text=f'"{UNMAPPED}" when not mapped.')
    sections = MlTestSectionOut(many=True)


def ml_test_score_payload(result: TeamMlTestScore) -> dict[str, Any]:
    """Return the API body of a team's ML Test Score reading (withheld: the reason only)."""
    survey = result.survey
    if result.withheld and result.team_score is not None:
        return {
            "team": result.team.slug,
            "withheld": True,
            "reason": result.withheld_reason,
            "n_respondents": result.team_score.n_respondents,
            "min_group_size": survey.min_group_size,
        }
    score = result.score
    return {
        "team": result.team.slug,
        "withheld": False,
        "framework": survey.framework.slug,
        "framework_version": survey.framework.version,
        "mapped": result.mapped,
        "overall": score.overall if score else None,
        "reading": score.reading if score else None,
        "detail": None if result.mapped else UNMAPPED,
        "sections": [
            {
                "section": section.key,
                "name": section.name,
                "score": section.score,
                "applicable": section.applicable,
                "tests": [
                    {
                        "test": test.test,
                        "title": test.title,
                        "points": test.points,
                        "applicable": test.applicable,
                        "questions": [
                            {
                                "question": q.question.key,
                                "text": q.question.text,
                                "mean": q.mean,
                                "out_of_scope": q.out_of_scope,
                            }
                            for q in test.questions
                        ],
                    }
                    for test in section.tests
                ],
            }
            for section in result.sections
        ],
    }


class SurveyMlTestScoreView(generics.GenericAPIView[Survey]):
    serializer_class = MlTestScoreQuery  # the query; the response is documented below

    @extend_schema(
        operation_id="survey_ml_test_score",
        parameters=[MlTestScoreQuery],
        responses={
            200: PolymorphicProxySerializer(
                component_name="TeamMlTestScoreOrWithheld",
                serializers=[TeamMlTestScoreOut, WithheldTeamOut],
                resource_type_field_name=None,
            ),
            404: OpenApiResponse(
                ErrorSerializer,
                description="No such survey, no such team you may read in it, or no scores "
                "of the team yet.",
            ),
        },
        description="One team's round read as Google's ML Test Score (Breck et al. 2017): "
        "per section (data, model, infra, monitor) each test's points from the team's scores "
        "on the questions mapped to it (`mlts:` refs; a mean of at least 0.75 is 1 point, "
        "0.5 half a point, a test without a scored question 0), the section's sum, and the "
        "overall score as the minimum of the four sections with the paper's reading. A "
        "framework version without `mlts:` refs (mlops v1) answers `mapped: false`. The same "
        "permissions and anonymity as `scores/`: a withheld team is "
        '`{"team", "withheld": true, "reason", ...}` and nothing else.',
    )
    def get(self, request: Request, survey_id: int) -> Response:
        user = request_user(request)
        survey = get_object_or_404(api_surveys(user).select_related("framework"), pk=survey_id)
        query = MlTestScoreQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        slug = query.validated_data["team"]
        teams = survey.teams.filter(slug=slug)
        if not user.is_staff:
            teams = teams.filter(pk__in=readable_team_ids(user, survey))
        team = teams.first()
        if team is None:
            raise NotFound(f"No team '{slug}' you may read in this survey.")
        result = team_ml_test_score(survey, team)
        if result.team_score is None:
            raise NotFound(f"No scores of team '{slug}' in this survey yet.")
        return Response(ml_test_score_payload(result))

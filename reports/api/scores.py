"""Scores, recommendations and aggregation runs over the API (DESIGN.md section 5).

Everything here reads persisted snapshots through ``reports.selectors``: who may read which
team, and which teams of anonymous surveys are withheld (never partial data).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import django_filters
from django.db.models import F, Q, QuerySet
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import generics, serializers, status, viewsets
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from common.api import Cursor, ErrorSerializer, FastJSONRenderer, cached_json, request_user
from reports.models import (
    AggregationRun,
    DimensionScore,
    QuestionScore,
    TeamRecommendation,
    TeamScore,
)
from reports.selectors import (
    inherited_practices,
    is_withheld,
    snapshot_version,
    survey_with_snapshot_version,
    team_scores,
    withheld_reason,
)
from reports.tasks import enqueue_survey_aggregation, enqueue_team_aggregation
from surveys.models import Survey, Team
from surveys.selectors import api_surveys, managed_team_ids, readable_team_ids

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from reports.selectors import VersionedSurvey


class TeamQuerySerializer(serializers.Serializer[Any]):
    team = serializers.SlugField(required=False, max_length=64, help_text="One team's slug.")


class DimensionScoreOut(serializers.Serializer[dict[str, Any]]):
    dimension = serializers.CharField(help_text="Dimension key.")
    name = serializers.CharField()
    score = serializers.FloatField(help_text="0-100.")
    level = serializers.IntegerField()
    disagreement = serializers.FloatField(
        allow_null=True, help_text="Mean population std of v over questions with n >= 2."
    )
    answered_ratio = serializers.FloatField()
    dont_know = serializers.IntegerField(
        help_text="Don't-know answers to the dimension's questions the team is asked "
        "(knowledge gaps; never scored)."
    )


class InheritedOut(serializers.Serializer[dict[str, Any]]):
    question = serializers.CharField(help_text="Question key (platform or org scope).")
    answered_by = serializers.CharField(help_text="Slug of the ancestor team that answers it.")
    mean = serializers.FloatField(
        allow_null=True,
        help_text="That team's question score Q in [0, 1]; null when it has no answer with a "
        "choice yet or its results are withheld (anonymous surveys).",
    )


class TeamScoreOut(serializers.Serializer[dict[str, Any]]):
    team = serializers.CharField(help_text="Team slug.")
    team_name = serializers.CharField()
    withheld = serializers.BooleanField(help_text="Always false here.")
    score = serializers.FloatField(allow_null=True, help_text="Overall 0-100.")
    level = serializers.IntegerField(allow_null=True, help_text="The weakest dimension's level.")
    weakest_dimension = serializers.CharField(allow_null=True)
    n_respondents = serializers.IntegerField()
    computed_at = serializers.DateTimeField()
    out_of_scope = serializers.IntegerField(
        help_text="Questions the team's profile puts out of scope (not asked, not scored)."
    )
    dimensions = DimensionScoreOut(many=True)
    inherited = InheritedOut(
        many=True,
        help_text="Platform and org questions an ancestor team answers for this team: "
        "context only, never part of its scores.",
    )


class WithheldTeamOut(serializers.Serializer[dict[str, Any]]):
    team = serializers.CharField(help_text="Team slug.")
    withheld = serializers.BooleanField(help_text="Always true here.")
    reason = serializers.ChoiceField(
        choices=["survey_open", "too_few_respondents"],
        help_text="Anonymous surveys: results are released when the survey closes, and only "
        "for teams with at least min_group_size respondents.",
    )
    n_respondents = serializers.IntegerField()
    min_group_size = serializers.IntegerField()


class RecommendationOut(serializers.Serializer[dict[str, Any]]):
    rank = serializers.IntegerField()
    question = serializers.CharField(help_text="Question key.")
    dimension = serializers.CharField(help_text="Dimension key.")
    priority = serializers.FloatField()
    current_score = serializers.IntegerField()
    next_score = serializers.IntegerField()
    text = serializers.CharField(help_text="The next step.")
    requires = serializers.ListField(child=serializers.CharField())


class TeamRecommendationsOut(serializers.Serializer[dict[str, Any]]):
    team = serializers.CharField(help_text="Team slug.")
    withheld = serializers.BooleanField(help_text="Always false here.")
    recommendations = RecommendationOut(many=True)


def _paginated(
    name: str, child: serializers.BaseSerializer[Any]
) -> type[serializers.Serializer[dict[str, Any]]]:
    return type(
        name,
        (serializers.Serializer,),
        {
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": child,
        },
    )


PaginatedScores = _paginated(
    "PaginatedTeamScores",
    PolymorphicProxySerializer(
        component_name="TeamScoreOrWithheld",
        serializers=[TeamScoreOut, WithheldTeamOut],
        resource_type_field_name=None,
        many=True,
    ),
)
PaginatedRecommendations = _paginated(
    "PaginatedTeamRecommendations",
    PolymorphicProxySerializer(
        component_name="TeamRecommendationsOrWithheld",
        serializers=[TeamRecommendationsOut, WithheldTeamOut],
        resource_type_field_name=None,
        many=True,
    ),
)


def _withheld(survey: Survey, team_score: dict[str, Any]) -> dict[str, Any]:
    return {
        "team": team_score["team_slug"],
        "withheld": True,
        "reason": withheld_reason(survey, team_score["n_respondents"]),
        "n_respondents": team_score["n_respondents"],
        "min_group_size": survey.min_group_size,
    }


def _children(
    survey: Survey,
    page: list[dict[str, Any]],
    model: type[DimensionScore] | type[TeamRecommendation] | type[QuestionScore],
    order: str,
    fields: dict[str, str],
) -> dict[int, list[dict[str, Any]]]:
    """Return, per team score of the page that is not withheld, its child rows as dicts.

    ``fields`` maps each output key to the model field it reads; one query for the page.
    """
    shown = [ts["pk"] for ts in page if not is_withheld(survey, ts["n_respondents"])]
    rows = (
        model.objects.filter(team_score_id__in=shown)
        .order_by("team_score_id", order)
        .values_list("team_score_id", *fields.values())
    )
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for team_score_id, *values in rows:
        grouped[team_score_id].append(dict(zip(fields, values, strict=True)))
    return grouped


def score_payload(survey: Survey, page: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the API rows for a page of team scores; withheld teams carry no scores."""
    dimensions = _children(
        survey,
        page,
        DimensionScore,
        "dimension__order",
        {
            "dimension": "dimension__key",
            "name": "dimension__name",
            "score": "score",
            "level": "level",
            "disagreement": "disagreement",
            "answered_ratio": "answered_ratio",
            "dont_know": "dont_know_count",
        },
    )
    shown = [ts["team_id"] for ts in page if not is_withheld(survey, ts["n_respondents"])]
    inherited = inherited_practices(survey, shown) if shown else {}
    return [
        _withheld(survey, ts)
        if is_withheld(survey, ts["n_respondents"])
        else {
            "team": ts["team_slug"],
            "team_name": ts["team__name"],
            "withheld": False,
            "score": ts["score"],
            "level": ts["level"],
            "weakest_dimension": ts["weakest_dimension__key"],
            "n_respondents": ts["n_respondents"],
            "computed_at": ts["computed_at"].isoformat().replace("+00:00", "Z"),
            "out_of_scope": ts["out_of_scope_count"],
            "dimensions": dimensions[ts["pk"]],
            "inherited": [
                {
                    "question": practice.question.key,
                    "answered_by": practice.answered_by.slug,
                    "mean": practice.mean,
                }
                for practice in inherited.get(ts["team_id"], [])
            ],
        }
        for ts in page
    ]


def recommendation_payload(survey: Survey, page: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the ranked recommendations of a page of team scores (withheld: none)."""
    ranked = _children(
        survey,
        page,
        TeamRecommendation,
        "rank",
        {
            "rank": "rank",
            "question": "question__key",
            "dimension": "question__dimension__key",
            "priority": "priority",
            "current_score": "current_score",
            "next_score": "next_score",
            "text": "text",
            "requires": "requires",
        },
    )
    return [
        _withheld(survey, ts)
        if is_withheld(survey, ts["n_respondents"])
        else {"team": ts["team_slug"], "withheld": False, "recommendations": ranked[ts["pk"]]}
        for ts in page
    ]


IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    str,
    OpenApiParameter.HEADER,
    description="The ETag of a page you hold: 304 without a body while it is unchanged.",
)
NOT_MODIFIED = OpenApiResponse(description="Unchanged since the ETag in If-None-Match.")


class _PerTeamView(generics.GenericAPIView[TeamScore]):
    """A survey's persisted per-team results, for the teams the user may read."""

    pagination_class = Cursor
    cursor_ordering = "team_slug"
    renderer_classes = [FastJSONRenderer]
    serializer_class = TeamQuerySerializer  # the query; responses are documented per view

    def cached_page(
        self,
        request: Request,
        survey_id: int,
        payload: Callable[[Survey, list[dict[str, Any]]], list[dict[str, Any]]],
    ) -> HttpResponseBase:
        """Answer one page of per-team results, from the cache while the snapshots stand.

        The cache key holds everything the page depends on: the URL (filters, cursor, page
        size, host of the links), the survey's anonymity settings, the teams the user may
        read, and the version of the survey's snapshots (every write bumps a revision;
        team renames change ``updated_at``). So a page is never served stale, and the work
        of building it (hundreds of rows) is done once per change, not once per request.
        """
        user = request_user(request)
        survey = self.page_survey(user, survey_id)
        query = TeamQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        # None: every team (admins), without a thousand-id IN list on large surveys.
        readable = None if user.is_staff else readable_team_ids(user, survey)
        slug = query.validated_data.get("team")
        if slug:  # resolved before the cache: whether it is a survey team can change
            teams = survey.teams.filter(slug=slug)
            team = (teams if readable is None else teams.filter(pk__in=readable)).first()
            if team is None:
                raise NotFound(f"No team '{slug}' you may read in this survey.")
            readable = {team.pk}
        key = (
            type(self).__name__,
            survey.pk,
            survey.anonymous,
            survey.status,  # closing an anonymous survey releases its results
            survey.min_group_size,
            survey.framework_loaded_at,
            tuple(sorted(readable)) if readable is not None else None,
            *survey.snapshot_version,
        )

        def build() -> Any:
            page = self.team_scores(survey, readable)
            return self.get_paginated_response(payload(survey, page)).data

        return cached_json(request, key, build)

    @staticmethod
    def page_survey(user: User, survey_id: int) -> VersionedSurvey:
        """Return the survey if ``user`` may see it (else 404), with ``framework_loaded_at``
        and ``snapshot_version``: one plain statement for admins, who see every survey."""
        if user.is_staff:
            any_survey = survey_with_snapshot_version(survey_id)
            if any_survey is None:
                raise NotFound("No survey matches the given query.")
            return any_survey
        surveys = api_surveys(user).annotate(framework_loaded_at=F("framework__loaded_at"))
        # Annotated with framework_loaded_at; snapshot_version is set next.
        survey = cast("VersionedSurvey", get_object_or_404(surveys, pk=survey_id))
        survey.snapshot_version = snapshot_version(survey)
        return survey

    def team_scores(self, survey: Survey, readable: set[int] | None) -> list[dict[str, Any]]:
        # Plain rows, not instances: a page is one query and no model construction.
        scores = (
            team_scores(survey, readable)
            .filter(is_rollup=False)  # parent-team roll-ups are not survey teams
            .annotate(team_slug=F("team__slug"))
            .values(
                "pk",
                "team_id",
                "team_slug",
                "team__name",
                "score",
                "level",
                "weakest_dimension__key",
                "n_respondents",
                "computed_at",
                "out_of_scope_count",
                "evidence_checked",
                "evidence_confirmed",
                "evidence_contradicted",
                "evidence_capped",
            )
        )
        page = self.paginate_queryset(scores)  # None only without a pagination_class
        return page if page is not None else list(scores)


class SurveyScoresView(_PerTeamView):
    @extend_schema(
        operation_id="survey_scores_list",
        parameters=[TeamQuerySerializer, IF_NONE_MATCH],
        responses={200: PaginatedScores, 304: NOT_MODIFIED},
        description="Per team: overall score and level, respondents, questions out of scope "
        "for its profile, per dimension score, level, disagreement, answered ratio and "
        "don't-know answers, and the platform/org questions an ancestor answers for it "
        "(`inherited`, context only). Teams of anonymous surveys with "
        'fewer respondents than `min_group_size` appear as `{"team", "withheld": true, '
        '"n_respondents", "min_group_size"}` with no scores.',
    )
    def get(self, request: Request, survey_id: int) -> HttpResponseBase:
        return self.cached_page(request, survey_id, score_payload)


class SurveyRecommendationsView(_PerTeamView):
    @extend_schema(
        operation_id="survey_recommendations_list",
        parameters=[TeamQuerySerializer, IF_NONE_MATCH],
        responses={200: PaginatedRecommendations, 304: NOT_MODIFIED},
        description="Per team: every question below full score, ranked by priority, never "
        "before its recommended prerequisites. Withheld teams as in scores.",
    )
    def get(self, request: Request, survey_id: int) -> HttpResponseBase:
        return self.cached_page(request, survey_id, recommendation_payload)


class AggregationRunSerializer(serializers.ModelSerializer[AggregationRun]):
    team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )

    class Meta:
        model = AggregationRun
        fields = [
            "id",
            "survey",
            "team",
            "status",
            "trigger",
            "queued_at",
            "started_at",
            "finished_at",
            "load_ms",
            "score_ms",
            "persist_ms",
            "teams_scored",
            "attempts",
            "error",
        ]


class AggregateSerializer(serializers.Serializer[Any]):
    team = serializers.SlugField(
        required=False, max_length=64, help_text="Score only this team (default: all teams)."
    )


class SurveyAggregateView(generics.GenericAPIView[Survey]):
    serializer_class = AggregateSerializer

    @extend_schema(
        operation_id="survey_aggregate",
        request=AggregateSerializer,
        responses={
            202: AggregationRunSerializer,
            503: OpenApiResponse(ErrorSerializer, description="The task broker is unreachable."),
        },
        description="Admins only: queue a scoring run for the survey (or one team) and "
        "answer 202 with the run; poll `aggregation-runs/{id}/`. While a run for the team "
        "is already queued, that run is returned. 503 when the broker is unreachable.",
    )
    def post(self, request: Request, survey_id: int) -> Response:
        user = request_user(request)
        survey = get_object_or_404(api_surveys(user), pk=survey_id)
        if not user.is_staff:
            raise PermissionDenied("Only admins may trigger aggregation.")
        body = AggregateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        slug = body.validated_data.get("team")
        if slug:
            team = survey.teams.filter(slug=slug).first()
            if team is None:
                raise serializers.ValidationError(
                    {"team": [f"Team '{slug}' is not part of this survey."]}
                )
            run = enqueue_team_aggregation(survey.pk, team.pk, trigger="api")
            if run is None:  # coalesced into a queued run, or the broker is down
                run = AggregationRun.objects.filter(
                    survey=survey, team=team, status=AggregationRun.Status.QUEUED
                ).first()
        else:
            run = enqueue_survey_aggregation(survey.pk, trigger="api")
        if run is None:
            return Response(
                {"detail": "The task broker is unreachable; try again.", "code": "unavailable"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        run.refresh_from_db()
        return Response(
            AggregationRunSerializer(run).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": f"/api/v1/aggregation-runs/{run.pk}/"},
        )


class AggregationRunFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="team__slug")

    class Meta:
        model = AggregationRun
        fields = ["survey", "team", "status"]


@extend_schema_view(
    list=extend_schema(
        description="Scoring runs, newest first: admins all, managers those of the teams "
        "they manage."
    ),
)
class AggregationRunViewSet(viewsets.ReadOnlyModelViewSet[AggregationRun]):
    queryset = AggregationRun.objects.none()  # for the schema; get_queryset narrows
    serializer_class = AggregationRunSerializer
    pagination_class = Cursor
    filterset_class = AggregationRunFilter

    def get_queryset(self) -> QuerySet[AggregationRun]:
        runs = AggregationRun.objects.select_related("team")
        managed = managed_team_ids(request_user(self.request))
        if managed is None:
            return runs
        # A run of an anonymous survey tells when someone of a team submitted (trigger
        # "submission", to the microsecond): with the results, that could single them out.
        return runs.filter(Q(team_id__in=managed)).exclude(survey__anonymous=True)

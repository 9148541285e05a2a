"""The API root: one router and the per-survey routes, everything under /api/v1/."""

from __future__ import annotations

from typing import Any

from django.urls import path, re_path
from drf_spectacular.utils import extend_schema
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.routers import DefaultRouter
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from actions.api import ActionViewSet
from campaigns.api import CampaignViewSet
from evidence.api import EvidenceSpecView, TeamEvidenceDetailView, TeamEvidenceView
from notifications.api import WebhookViewSet
from reports.api import schema  # noqa: F401  (registers the token scheme for OpenAPI)
from reports.api.evidence import SurveyEvidenceView
from reports.api.exports import (
    ActionExportView,
    AnswerExportView,
    ExportJobDownloadView,
    ExportJobsView,
    ExportJobView,
    ScoreExportView,
)
from reports.api.health import QuestionHealthView
from reports.api.ml_test_score import SurveyMlTestScoreView
from reports.api.scores import (
    AggregationRunViewSet,
    SurveyAggregateView,
    SurveyRecommendationsView,
    SurveyScoresView,
)
from surveys.api import (
    FrameworkViewSet,
    MembershipViewSet,
    SurveyResponsesView,
    SurveyViewSet,
    TeamProfileView,
    TeamViewSet,
)
from trackers.api import ActionPushView, TrackerConnectionViewSet


@extend_schema(exclude=True)
class NoSuchEndpoint(APIView):
    """Answer unknown /api/v1/ paths (and ids no route accepts) with a JSON 404."""

    permission_classes = [AllowAny]
    authentication_classes: list[type[BaseAuthentication]] = []
    throttle_classes: list[type[BaseThrottle]] = []

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        raise NotFound("No such API endpoint.")


router = DefaultRouter()
router.include_root_view = False
router.register("frameworks", FrameworkViewSet, basename="framework")
router.register("teams", TeamViewSet, basename="team")
router.register("memberships", MembershipViewSet, basename="membership")
router.register("surveys", SurveyViewSet, basename="survey")
router.register("aggregation-runs", AggregationRunViewSet, basename="aggregation-run")
router.register("actions", ActionViewSet, basename="action")
router.register("webhooks", WebhookViewSet, basename="webhook")
router.register("campaigns", CampaignViewSet, basename="campaign")
router.register("trackers", TrackerConnectionViewSet, basename="tracker")

urlpatterns = [
    path("evidence/spec/", EvidenceSpecView.as_view(), name="api-evidence-spec"),
    path("teams/<slug:slug>/evidence/", TeamEvidenceView.as_view(), name="api-team-evidence"),
    path(
        "teams/<slug:slug>/evidence/<int:snapshot_id>/",
        TeamEvidenceDetailView.as_view(),
        name="api-team-evidence-detail",
    ),
    path(
        "surveys/<int:survey_id>/responses/",
        SurveyResponsesView.as_view(),
        name="api-survey-responses",
    ),
    path(
        "surveys/<int:survey_id>/teams/<slug:slug>/profile/",
        TeamProfileView.as_view(),
        name="api-survey-team-profile",
    ),
    path("surveys/<int:survey_id>/scores/", SurveyScoresView.as_view(), name="api-survey-scores"),
    path(
        "surveys/<int:survey_id>/evidence/",
        SurveyEvidenceView.as_view(),
        name="api-survey-evidence",
    ),
    path(
        "surveys/<int:survey_id>/recommendations/",
        SurveyRecommendationsView.as_view(),
        name="api-survey-recommendations",
    ),
    path(
        "surveys/<int:survey_id>/ml-test-score/",
        SurveyMlTestScoreView.as_view(),
        name="api-survey-ml-test-score",
    ),
    path(
        "surveys/<int:survey_id>/aggregate/",
        SurveyAggregateView.as_view(),
        name="api-survey-aggregate",
    ),
    path(
        "frameworks/<slug:slug>/question-health/",
        QuestionHealthView.as_view(),
        name="api-question-health",
    ),
    path("exports/answers/", AnswerExportView.as_view(), name="api-export-answers"),
    path("exports/scores/", ScoreExportView.as_view(), name="api-export-scores"),
    path("exports/actions/", ActionExportView.as_view(), name="api-export-actions"),
    path("exports/", ExportJobsView.as_view(), name="api-export-jobs"),
    path("exports/<int:job_id>/", ExportJobView.as_view(), name="api-export-job"),
    path(
        "exports/<int:job_id>/download/",
        ExportJobDownloadView.as_view(),
        name="api-export-job-download",
    ),
    path("actions/<int:pk>/push/", ActionPushView.as_view(), name="api-action-push"),
    *router.urls,
    # [\s\S], not ".": a path with a newline (%0A) is an API path too, answered in JSON.
    # (Not the flag (?s): Django cannot reverse URLs through a pattern with flags.)
    re_path(r"^[\s\S]*$", NoSuchEndpoint.as_view(), name="api-not-found"),
]

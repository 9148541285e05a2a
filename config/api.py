"""The API root: everything under /api/v1/."""

from __future__ import annotations

from django.urls import path

from surveys.api import SurveyResponsesView

urlpatterns = [
    path(
        "surveys/<int:survey_id>/responses/",
        SurveyResponsesView.as_view(),
        name="api-survey-responses",
    ),
]

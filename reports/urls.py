from __future__ import annotations

from django.urls import path

from reports import action_views, views

urlpatterns = [
    path("", views.org_report, name="org-report"),
    path("heatmap.json", views.org_heatmap, name="org-heatmap"),
    path("question-health/", views.question_health, name="question-health"),
    path("teams/<slug:slug>/", views.team_report, name="team-report"),
    path("teams/<slug:slug>/targets/", views.team_targets, name="team-targets"),
    path("teams/<slug:slug>/actions/", views.team_action_create, name="team-action-create"),
    path(
        "teams/<slug:slug>/actions/<int:pk>/", views.team_action_change, name="team-action-change"
    ),
    path("actions/", action_views.org_actions, name="org-actions"),
    path("teams/<slug:slug>/report.pdf", views.team_report_pdf, name="team-report-pdf"),
    path(
        "teams/<slug:slug>/<str:kind>.<str:fmt>",
        views.team_export,
        name="team-export",
    ),
    path("teams/<slug:slug>/ml-test-score/", views.team_ml_test_score, name="team-ml-test-score"),
]

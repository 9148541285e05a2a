from __future__ import annotations

from django.urls import path

from surveys import views

urlpatterns = [
    path("", views.home, name="home"),
    path("i/<str:token>/", views.invitation_open, name="invitation-open"),
    path("session/", views.session_state, name="session-state"),
    path("signed-in/", views.signed_in, name="signed-in"),
    path("surveys/<int:survey_id>/<slug:team_slug>/", views.survey_start, name="survey-start"),
    path(
        "surveys/<int:survey_id>/<slug:team_slug>/review/",
        views.survey_review,
        name="survey-review",
    ),
    path("surveys/<int:survey_id>/<slug:team_slug>/done/", views.survey_done, name="survey-done"),
    path(
        "surveys/<int:survey_id>/<slug:team_slug>/profile/",
        views.survey_profile,
        name="survey-profile",
    ),
    path(
        "surveys/<int:survey_id>/<slug:team_slug>/invitations/",
        views.invitation_manage,
        name="survey-invitations",
    ),
    path(
        "surveys/<int:survey_id>/<slug:team_slug>/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="survey-invitation-revoke",
    ),
    path(
        "surveys/<int:survey_id>/<slug:team_slug>/d/<slug:dimension_key>/",
        views.survey_dimension,
        name="survey-dimension",
    ),
    path(
        "surveys/<int:survey_id>/<slug:team_slug>/d/<slug:dimension_key>/autosave/",
        views.survey_autosave,
        name="survey-autosave",
    ),
]

from __future__ import annotations

from django.urls import path

from console import views

urlpatterns = [
    path("", views.home, name="console"),
    path("memberships/import/", views.memberships_import, name="console-memberships-import"),
    path("surveys/", views.survey_list, name="console-surveys"),
    path("surveys/new/", views.survey_new, name="console-survey-new"),
    path("surveys/<int:survey_id>/", views.survey_detail, name="console-survey"),
    path("surveys/<int:survey_id>/status/", views.survey_status, name="console-survey-status"),
    path("surveys/<int:survey_id>/clone/", views.survey_clone, name="console-survey-clone"),
    path("surveys/<int:survey_id>/remind/", views.survey_remind, name="console-survey-remind"),
    path("campaigns/", views.campaign_list, name="console-campaigns"),
    path("campaigns/new/", views.campaign_new, name="console-campaign-new"),
    path("campaigns/<int:campaign_id>/", views.campaign_edit, name="console-campaign"),
    path(
        "campaigns/<int:campaign_id>/archive/",
        views.campaign_archive,
        name="console-campaign-archive",
    ),
    path("teams/", views.team_new, name="console-team-new"),
    path("teams/<slug:slug>/", views.team_detail, name="console-team"),
    path("teams/<slug:slug>/archive/", views.team_archive, name="console-team-archive"),
    path("teams/<slug:slug>/members/", views.team_member_add, name="console-team-member-add"),
    path(
        "teams/<slug:slug>/members/<int:membership_id>/",
        views.team_member,
        name="console-team-member",
    ),
]

from __future__ import annotations

from django.urls import path

from console import views

urlpatterns = [
    path("", views.home, name="console"),
    path("memberships/import/", views.memberships_import, name="console-memberships-import"),
    path("teams/new/", views.team_new, name="console-team-new"),
    path("teams/<slug:slug>/", views.team_detail, name="console-team"),
    path("teams/<slug:slug>/archive/", views.team_archive, name="console-team-archive"),
    path("teams/<slug:slug>/members/", views.team_member_add, name="console-team-member-add"),
    path(
        "teams/<slug:slug>/members/<int:membership_id>/",
        views.team_member,
        name="console-team-member",
    ),
]

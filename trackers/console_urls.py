"""/manage/trackers/: the console's "Issue trackers" pages."""

from __future__ import annotations

from django.urls import path

from trackers import console_views as views

urlpatterns = [
    path("", views.connection_list, name="console-trackers"),
    path("new/", views.connection_new, name="console-tracker-new"),
    path("<int:connection_id>/", views.connection_edit, name="console-tracker"),
    path("<int:connection_id>/test/", views.connection_test, name="console-tracker-test"),
    path("<int:connection_id>/delete/", views.connection_delete, name="console-tracker-delete"),
]

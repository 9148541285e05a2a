"""/trackers/: the trackers' webhooks and the team report's push button."""

from __future__ import annotations

from django.urls import path

from trackers import views

urlpatterns = [
    path("webhooks/<uuid:public_id>/", views.webhook, name="tracker-webhook"),
    path("actions/<int:action_id>/push/", views.action_push, name="tracker-action-push"),
]

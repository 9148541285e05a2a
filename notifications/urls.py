"""Two groups of pages: ``console`` under /manage/webhooks/ (the lead's console) and
``public`` under /notifications/ (config.urls mounts both)."""

from __future__ import annotations

from django.urls import path

from notifications import views

console = [
    path("", views.webhook_list, name="console-webhooks"),
    path("<int:webhook_id>/", views.webhook_detail, name="console-webhook"),
    path("<int:webhook_id>/delete/", views.webhook_delete, name="console-webhook-delete"),
    path(
        "<int:webhook_id>/deliveries/<int:delivery_id>/redeliver/",
        views.delivery_redeliver,
        name="console-webhook-redeliver",
    ),
]

public = [
    path("unsubscribe/<str:token>/", views.digest_unsubscribe, name="digest-unsubscribe"),
]

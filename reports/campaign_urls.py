from __future__ import annotations

from django.urls import path

from reports import campaign_views

urlpatterns = [
    path("", campaign_views.campaign_list, name="campaigns"),
    path("<int:campaign_id>/", campaign_views.campaign_detail, name="campaign"),
]

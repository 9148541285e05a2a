from __future__ import annotations

from django.urls import path

from console import views

urlpatterns = [
    path("", views.home, name="console"),
    path("memberships/import/", views.memberships_import, name="console-memberships-import"),
]

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts import views as account_views
from config import health, observability
from notifications import urls as notification_urls

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", observability.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("accounts/login/", account_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/", include("accounts.urls")),
    path("reports/", include("reports.urls")),
    path("manage/webhooks/", include(notification_urls.console)),
    path("campaigns/", include("reports.campaign_urls")),
    path("manage/", include("console.urls")),
    path("notifications/", include(notification_urls.public)),
    path("manage/trackers/", include("trackers.console_urls")),
    path("manage/", include("console.urls")),
    path("trackers/", include("trackers.urls")),
    path("", include("surveys.urls")),
]

handler400 = "config.errors.bad_request"

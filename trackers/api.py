"""The trackers API: connections (``/api/v1/trackers/``, admins and programme leads) and
the push of an action (``POST /api/v1/actions/{id}/push/``, whoever may change it).

Credentials are write-only: ``token`` and ``webhook_secret`` are accepted, never returned.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from actions.selectors import visible_actions
from common.api import Cursor, ErrorSerializer, SlugRelated, request_user
from surveys.api import RunsProgramme
from surveys.models import Team
from trackers import selectors, services
from trackers.models import TrackerConnection, TrackerLink
from trackers.services import TrackerError
from trackers.validation import MAX_SECRET, connection_clean

SETTINGS_FIELDS = ("provider", "name", "base_url", "target", "issue_type", "email", "team")

_TRACKER_ERRORS = {
    409: OpenApiResponse(
        ErrorSerializer,
        description="Cannot be done now: `no_connection` (no tracker applies to the team), "
        "`already_linked` (the action links elsewhere), `push_in_progress`, "
        "`not_configured` (no TRACKER_ENCRYPTION_KEY on the server), "
        "`credentials_unreadable`.",
    ),
    502: OpenApiResponse(
        ErrorSerializer,
        description="The tracker refused: `tracker_auth` (credentials), `tracker_not_found` "
        "(repository or project), `tracker_rejected` (its validation message), "
        "`tracker_unavailable`, `tracker_bad_response`.",
    ),
    503: OpenApiResponse(
        ErrorSerializer,
        description="`tracker_rate_limited`: the tracker's rate limit; `Retry-After` (and "
        "`retry_after` in the body) give the seconds to wait.",
    ),
}


class RetryAfterMixin:
    """Pass a tracker's rate limit on to the client as our Retry-After header."""

    def handle_exception(self, exc: Exception) -> Response:
        response: Response = super().handle_exception(exc)  # type: ignore[misc]
        if isinstance(exc, TrackerError) and exc.retry_after is not None:
            response["Retry-After"] = str(exc.retry_after)
        return response


class TrackerConnectionSerializer(serializers.ModelSerializer[TrackerConnection]):
    team = SlugRelated(
        slug_field="slug",
        queryset=Team.objects.all(),
        allow_null=True,
        required=False,
        help_text="The team (slug) it applies to, with the teams below it; null: every team.",
    )
    base_url = serializers.CharField(
        max_length=300,
        required=False,
        allow_blank=True,
        help_text="API root; empty: https://api.github.com or https://gitlab.com/api/v4 "
        "(Jira: required, https://<site>.atlassian.net).",
    )
    issue_type = serializers.CharField(
        max_length=60, required=False, allow_blank=True, help_text='Jira only; "Task" if empty.'
    )
    # Not an EmailField: "" (not Jira) would break its documented "email" format.
    email = serializers.CharField(
        max_length=254,
        required=False,
        allow_blank=True,
        help_text="Jira only: the e-mail address of the API token's account.",
    )
    token = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=MAX_SECRET,
        help_text="Write-only. Required to create; empty or absent keeps the stored one.",
    )
    webhook_secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=MAX_SECRET,
        help_text="Write-only, at least 16 characters; a new connection without one gets a "
        "random one (read it in the console). Empty or absent keeps the stored one.",
    )
    webhook_url = serializers.SerializerMethodField(
        help_text="Where the tracker's webhook posts to."
    )
    created_by = serializers.SlugRelatedField[Any](slug_field="username", read_only=True)
    linked_issues = serializers.SerializerMethodField()
    broken_issues = serializers.SerializerMethodField()

    class Meta:
        model = TrackerConnection
        fields = [
            "id",
            "provider",
            "name",
            "base_url",
            "target",
            "issue_type",
            "email",
            "team",
            "token",
            "webhook_secret",
            "webhook_url",
            "created_by",
            "created_at",
            "last_sync_at",
            "last_error",
            "last_error_at",
            "paused_until",
            "linked_issues",
            "broken_issues",
        ]
        read_only_fields = [
            "created_at",
            "last_sync_at",
            "last_error",
            "last_error_at",
            "paused_until",
        ]

    def get_webhook_url(self, connection: TrackerConnection) -> str:
        return services.webhook_url(connection)

    def get_linked_issues(self, connection: TrackerConnection) -> int:
        return int(getattr(connection, "linked", 0))

    def get_broken_issues(self, connection: TrackerConnection) -> int:
        return int(getattr(connection, "broken", 0))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        instance = self.instance if isinstance(self.instance, TrackerConnection) else None
        values: dict[str, Any] = (
            {name: getattr(instance, name) for name in SETTINGS_FIELDS} if instance else {}
        )
        values.update(attrs)
        try:
            return {"settings": connection_clean(values, instance=instance)}
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from None

    def create(self, validated_data: dict[str, Any]) -> TrackerConnection:
        return services.connection_create(
            values=validated_data["settings"], by=request_user(self.context["request"])
        )

    def update(
        self, instance: TrackerConnection, validated_data: dict[str, Any]
    ) -> TrackerConnection:
        services.connection_update(instance, values=validated_data["settings"])
        return instance


class ConnectionTestOut(serializers.Serializer[Any]):
    ok = serializers.BooleanField()
    detail = serializers.CharField(help_text="What the tracker showed, e.g. the repository.")


@extend_schema_view(
    list=extend_schema(description="Admins and programme leads: every connection."),
    create=extend_schema(
        description="Connect a tracker. 409 `not_configured` when the server has no "
        "TRACKER_ENCRYPTION_KEY.",
        responses={201: TrackerConnectionSerializer, 409: _TRACKER_ERRORS[409]},
    ),
    update=extend_schema(responses={200: TrackerConnectionSerializer, 409: _TRACKER_ERRORS[409]}),
    partial_update=extend_schema(
        responses={200: TrackerConnectionSerializer, 409: _TRACKER_ERRORS[409]}
    ),
    destroy=extend_schema(description="Its pushed issues are no longer synced."),
)
class TrackerConnectionViewSet(RetryAfterMixin, viewsets.ModelViewSet[TrackerConnection]):
    """Issue tracker connections: GitHub, GitLab, Jira Cloud."""

    queryset = TrackerConnection.objects.none()  # for the schema; get_queryset lists them
    serializer_class = TrackerConnectionSerializer
    permission_classes = [RunsProgramme]
    pagination_class = Cursor
    cursor_ordering = "id"

    def get_queryset(self) -> Any:
        return selectors.connections_listed()

    def perform_destroy(self, instance: TrackerConnection) -> None:
        services.connection_delete(instance)

    @extend_schema(
        request=None,
        responses={200: ConnectionTestOut, **_TRACKER_ERRORS},
        description="Read the repository or project with the stored credentials (a GET).",
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        detail = services.connection_test(self.get_object())
        return Response({"ok": True, "detail": detail})


class TrackerLinkSerializer(serializers.ModelSerializer[TrackerLink]):
    provider = serializers.CharField(source="connection.provider", read_only=True)
    key = serializers.CharField(
        source="display_key", read_only=True, help_text='"#12" (GitHub, GitLab) or "OPS-7".'
    )

    class Meta:
        model = TrackerLink
        fields = [
            "action",
            "connection",
            "provider",
            "status",
            "external_id",
            "key",
            "url",
            "external_state",
            "created_at",
            "last_synced_at",
        ]
        read_only_fields = fields


class ActionPushView(RetryAfterMixin, APIView):
    """POST /api/v1/actions/{id}/push/: the action as an issue of its team's tracker."""

    @extend_schema(
        operation_id="action_push",
        request=None,
        responses={
            201: TrackerLinkSerializer,
            200: OpenApiResponse(
                TrackerLinkSerializer, description="Pushed before: the existing link."
            ),
            403: OpenApiResponse(
                ErrorSerializer, description="You may read the action, not change it."
            ),
            **_TRACKER_ERRORS,
        },
        description="Create an issue for the action in the tracker connected for its team "
        "(the team's own connection, else the nearest team's above it, else the one for all "
        "teams), and link them: 201 with the link, 200 with the existing link when the "
        "action was pushed before (never two issues). 404 for an action you cannot see.",
    )
    def post(self, request: Request, pk: int) -> Response:
        user = request_user(request)
        action_ = visible_actions(user).filter(pk=pk).first()
        if action_ is None:
            raise NotFound("No such action.")
        result = services.action_push(action_, by=user)
        return Response(
            TrackerLinkSerializer(result.link).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )

"""Webhooks through the API: ``/api/v1/webhooks/`` (list, register), ``{id}/`` (read,
change, delete), ``{id}/deliveries/`` (the delivery log) and
``{id}/deliveries/{delivery_id}/redeliver/``. For admins and programme leads only
(surveys.api.RunsProgramme); everyone else gets 403.

The secret is write-only: answers carry ``secret_hint`` (its last four characters).
"""

from __future__ import annotations

from typing import Any, cast

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse

from common.api import Cursor, ErrorSerializer, request_user
from common.events import EVENTS
from notifications import rules, selectors, services
from notifications.models import Webhook, WebhookDelivery
from surveys.api import RunsProgramme


class WebhookSerializer(serializers.ModelSerializer[Webhook]):
    url = serializers.CharField(
        max_length=2000,
        help_text="Where events are POSTed: an http(s) URL whose host resolves to public "
        "internet addresses only; no user name or password in it.",
    )
    secret = serializers.CharField(
        write_only=True,
        trim_whitespace=False,
        help_text="16 to 256 characters; signs every request (X-Maturity-Signature). "
        "Never shown again: answers carry secret_hint.",
    )
    secret_hint = serializers.CharField(read_only=True, help_text="The secret's last 4 characters.")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENTS),
        allow_empty=False,
        max_length=len(EVENTS) * 2,
        help_text="The events to receive (at least one).",
    )
    format = serializers.ChoiceField(choices=Webhook.Format.choices, default=Webhook.Format.JSON)
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Webhook
        fields = [
            "id",
            "url",
            "secret",
            "secret_hint",
            "events",
            "format",
            "active",
            "created_by",
            "created_at",
            "consecutive_failures",
            "disabled_at",
            "disabled_reason",
        ]
        read_only_fields = [
            "created_at",
            "consecutive_failures",
            "disabled_at",
            "disabled_reason",
        ]

    def validate_url(self, value: str) -> str:
        problem = rules.url_problem(value)
        if problem is not None:
            raise serializers.ValidationError(problem)
        return value

    def validate_secret(self, value: str) -> str:
        problem = rules.secret_problem(value)
        if problem is not None:
            raise serializers.ValidationError(problem)
        return value

    def validate_events(self, value: list[str]) -> list[str]:
        return rules.ordered_events(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is None and "secret" not in attrs:
            raise serializers.ValidationError({"secret": ["This field is required."]})
        return attrs


class DeliverySerializer(serializers.ModelSerializer[WebhookDelivery]):
    requested_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    payload = serializers.JSONField(read_only=True, help_text="The event's payload (data).")

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "uuid",
            "event",
            "event_id",
            "occurred_at",
            "payload",
            "status",
            "attempts",
            "response_code",
            "error",
            "response_excerpt",
            "duration_ms",
            "created_at",
            "last_attempt_at",
            "next_attempt_at",
            "completed_at",
            "redelivery_of",
            "requested_by",
        ]
        read_only_fields = fields


_WHO = "Admins and programme leads only."


@extend_schema_view(
    list=extend_schema(description=f"Every webhook, newest first. {_WHO}"),
    create=extend_schema(
        description=f"Register a webhook (active). {_WHO} The URL's host is resolved: an "
        "address that is not public (loopback, private, link-local, ...) is refused with a 400."
    ),
    retrieve=extend_schema(description=_WHO),
    partial_update=extend_schema(
        description=f"Change url, secret, events, format or active. {_WHO} Making a disabled "
        "webhook active again clears its failure count."
    ),
    destroy=extend_schema(description=f"Delete the webhook and its delivery log. {_WHO}"),
)
class WebhookViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[Webhook],
):
    queryset = Webhook.objects.none()  # for the schema; get_queryset reads
    serializer_class = WebhookSerializer
    permission_classes = [RunsProgramme]
    pagination_class = Cursor
    cursor_ordering = "-id"
    # Changes are partial: there is no PUT.
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Webhook]:
        return selectors.webhooks()

    def perform_create(self, serializer: serializers.BaseSerializer[Webhook]) -> None:
        data = serializer.validated_data
        serializer.instance = services.webhook_create(
            url=data["url"],
            secret=data["secret"],
            events=data["events"],
            fmt=data.get("format", Webhook.Format.JSON),
            active=data.get("active", True),
            by=request_user(self.request),
        )

    def perform_update(self, serializer: serializers.BaseSerializer[Webhook]) -> None:
        serializer.instance = services.webhook_update(
            webhook=cast("Webhook", serializer.instance), changes=dict(serializer.validated_data)
        )

    def perform_destroy(self, instance: Webhook) -> None:
        services.webhook_delete(webhook=instance)

    @extend_schema(
        summary="A webhook's delivery log",
        description=f"Deliveries, newest first (kept WEBHOOK_LOG_DAYS days). {_WHO}",
        responses=DeliverySerializer(many=True),
    )
    @action(detail=True, methods=["get"], url_path="deliveries")
    def deliveries(self, request: Request, pk: str | None = None) -> ApiResponse:
        webhook = self.get_object()
        # The view's paginator, over another model than the view's.
        paginator = cast("Cursor", self.paginator)
        page = paginator.paginate_queryset(selectors.webhook_deliveries(webhook), request, self)
        return paginator.get_paginated_response(DeliverySerializer(page, many=True).data)

    @extend_schema(
        summary="Deliver an event again",
        description="A new delivery of the same event (same event id and body), sent at once "
        f"and retried like any other. 409 `inactive` when the webhook is not active. {_WHO}",
        request=None,
        parameters=[OpenApiParameter("delivery_id", OpenApiTypes.INT, OpenApiParameter.PATH)],
        responses={202: DeliverySerializer, 409: ErrorSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"deliveries/(?P<delivery_id>[0-9]+)/redeliver",
    )
    def redeliver(
        self, request: Request, pk: str | None = None, delivery_id: str | None = None
    ) -> ApiResponse:
        webhook = self.get_object()
        delivery = get_object_or_404(WebhookDelivery, pk=delivery_id, webhook=webhook)
        again = services.delivery_redeliver(delivery=delivery, by=request_user(request))
        return ApiResponse(DeliverySerializer(again).data, status=status.HTTP_202_ACCEPTED)

"""Improvement actions over the API: ``GET/POST /api/v1/actions/``,
``GET/PATCH /api/v1/actions/{id}/``.

Reads: the actions of teams the caller may read (actions.selectors). Writes go through
actions.services (the same rules as the team report's forms): 403 when the caller may
read the team but not track its actions, 400 with the field at fault otherwise. Actions
are never deleted (close them as ``wont_do`` with a reason); every change is audited.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse

from actions import selectors, services
from actions.models import Action
from common.api import Cursor, SlugRelated, request_user
from surveys.models import Survey, Team

User = get_user_model()


class ActionSerializer(serializers.ModelSerializer[Action]):
    team = serializers.SlugField(source="team.slug", read_only=True)
    survey = serializers.IntegerField(source="survey_id", read_only=True)
    question = serializers.SlugField(source="question.key", read_only=True)
    owner = serializers.CharField(
        source="owner.username", read_only=True, allow_null=True, default=None
    )
    external_url = serializers.CharField(
        read_only=True, help_text="An http(s) address (the tracker's issue), or empty."
    )
    overdue = serializers.SerializerMethodField()
    verified_survey = serializers.IntegerField(
        source="verified_survey_id", read_only=True, allow_null=True
    )

    class Meta:
        model = Action
        fields = [
            "id",
            "team",
            "survey",
            "question",
            "title",
            "owner",
            "due",
            "status",
            "wont_do_reason",
            "notes",
            "external_url",
            "overdue",
            "verification",
            "verified_survey",
            "baseline_score",
            "verified_score",
            "created_at",
            "updated_at",
            "done_at",
        ]
        read_only_fields = fields

    def get_overdue(self, action: Action) -> bool:
        return action.is_overdue()


def _owner_field() -> serializers.SlugRelatedField[Any]:
    return SlugRelated(
        slug_field="username",
        queryset=User.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        help_text="Username of a member of the team.",
    )


class ActionCreateSerializer(serializers.Serializer[dict[str, Any]]):
    team = SlugRelated(slug_field="slug", queryset=Team.objects.all(), help_text="Team slug.")
    survey = serializers.PrimaryKeyRelatedField(
        queryset=Survey.objects.all(), help_text="The round whose roadmap the action is from."
    )
    question = serializers.SlugField(max_length=64, help_text="Question key in that round.")
    owner = _owner_field()
    due = serializers.DateField(required=False, allow_null=True)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    notes = serializers.CharField(max_length=10000, required=False, allow_blank=True)
    external_url = serializers.CharField(max_length=500, required=False, allow_blank=True)


class ActionChangeSerializer(serializers.Serializer[dict[str, Any]]):
    title = serializers.CharField(max_length=200, required=False)
    owner = _owner_field()
    due = serializers.DateField(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=Action.Status.choices, required=False)
    wont_do_reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    notes = serializers.CharField(max_length=10000, required=False, allow_blank=True)
    external_url = serializers.CharField(max_length=500, required=False, allow_blank=True)


class ActionFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="team__slug", help_text="Team slug.")
    owner = django_filters.CharFilter(field_name="owner__username", help_text="Username.")
    status = django_filters.ChoiceFilter(choices=Action.Status.choices)
    overdue = django_filters.CharFilter(
        method="filter_overdue",
        help_text="true: open or in progress after the due date; false: the others.",
    )

    class Meta:
        model = Action
        fields = ["team", "survey", "status", "owner", "overdue"]

    def filter_overdue(self, queryset: QuerySet[Action], name: str, value: str) -> QuerySet[Action]:
        wanted = value.strip().lower()
        if wanted not in {"true", "false", "1", "0"}:
            raise serializers.ValidationError({"overdue": ["Must be true or false."]})
        overdue = selectors.overdue_q(timezone.localdate())
        return queryset.filter(overdue) if wanted in {"true", "1"} else queryset.exclude(overdue)


@extend_schema_view(
    list=extend_schema(summary="List improvement actions", description=__doc__),
    retrieve=extend_schema(summary="One improvement action"),
    create=extend_schema(
        summary="Create an action from a round's roadmap",
        request=ActionCreateSerializer,
        responses={201: ActionSerializer},
    ),
    partial_update=extend_schema(
        summary="Change an action (status, owner, due date, notes, link)",
        request=ActionChangeSerializer,
        responses={200: ActionSerializer},
    ),
)
class ActionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[Action],
):
    queryset = Action.objects.none()  # for the schema; get_queryset narrows
    serializer_class = ActionSerializer
    pagination_class = Cursor
    cursor_ordering = "id"
    filterset_class = ActionFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Action]:
        return selectors.visible_actions(request_user(self.request))

    def create(self, request: Request, *args: Any, **kwargs: Any) -> ApiResponse:
        user = request_user(request)
        incoming = ActionCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        team: Team = data["team"]
        if not _may_read_team(user, team):
            # A team the caller cannot see is no different from one that does not exist.
            raise serializers.ValidationError({"team": ["No such team."]})
        action = services.action_create(
            services.ActionInput(
                team=team,
                survey=data["survey"],
                question_key=data["question"],
                owner=data.get("owner"),
                due=data.get("due"),
                title=data.get("title", ""),
                notes=data.get("notes", ""),
                external_url=data.get("external_url", ""),
            ),
            by=user,
        )
        return ApiResponse(ActionSerializer(action).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> ApiResponse:
        action = self.get_object()
        incoming = ActionChangeSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        if not incoming.validated_data:
            raise serializers.ValidationError(
                {"non_field_errors": ["Send at least one field to change."]}
            )
        action = services.action_update(
            action, dict(incoming.validated_data), by=request_user(request)
        )
        return ApiResponse(ActionSerializer(action).data)


def _may_read_team(user: Any, team: Team) -> bool:
    """Whether ``user`` may read ``team``'s actions (actions.selectors.readable_team_ids)."""
    teams = selectors.readable_team_ids(user)
    return teams is None or team.pk in teams

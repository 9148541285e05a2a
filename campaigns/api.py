"""Campaigns over the API: ``/api/v1/campaigns/`` (list, create), ``/api/v1/campaigns/{id}/``
(read, PATCH) and ``/api/v1/campaigns/{id}/progress/``.

Admins and programme leads create and change campaigns; everyone reads the campaigns that
cover a team they may read (campaigns.selectors), and the progress of those teams only. A
campaign you may not read is a 404.
"""

from __future__ import annotations

from typing import Any, cast

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns import selectors, services
from campaigns.models import Campaign, CampaignTeamStatus
from common.api import Cursor, SlugRelated, request_user
from surveys.models import Team
from surveys.selectors import runs_programme

STATUSES = [*CampaignTeamStatus.Status.values, selectors.NOT_SHARED]


class CampaignOut(serializers.Serializer[Campaign]):
    """A campaign as the API shows it (the schema of campaign_payload)."""

    id = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField()
    # DRF's metaclass moves declared fields out of the class: this does not replace
    # Field.parent, as mypy believes (surveys.api.TeamSerializer does the same).
    parent = serializers.CharField(help_text="Slug of the parent team.")  # type: ignore[assignment]
    parent_name = serializers.CharField()
    framework = serializers.CharField(help_text="Slug of the goal's framework.")
    framework_version = serializers.IntegerField()
    goal_kind = serializers.ChoiceField(choices=Campaign.GoalKind.values)
    goal_key = serializers.CharField(help_text="The dimension's or the question's key.")
    goal_minimum = serializers.IntegerField(help_text="A level number, or a choice score.")
    goal = serializers.CharField(help_text="The goal in words.")
    due = serializers.DateField()
    archived = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    url = serializers.URLField(help_text="The campaign's page.")


def campaign_payload(campaign: Campaign, goal: selectors.Goal) -> dict[str, Any]:
    """The JSON of a campaign (CampaignOut)."""
    return {
        "id": campaign.pk,
        "title": campaign.title,
        "description": campaign.description,
        "parent": campaign.parent.slug,
        "parent_name": campaign.parent.name,
        "framework": campaign.framework.slug,
        "framework_version": campaign.framework.version,
        "goal_kind": campaign.goal_kind,
        "goal_key": campaign.goal_key,
        "goal_minimum": campaign.goal_minimum,
        "goal": str(goal),
        "due": campaign.due.isoformat(),
        "archived": campaign.archived_at is not None,
        "created_at": campaign.created_at.isoformat(),
        "url": selectors.campaign_url(campaign),
    }


class CampaignIn(serializers.Serializer[Any]):
    """A new campaign, or (PATCH) the fields to change."""

    title = serializers.CharField(max_length=200)
    description = serializers.CharField(
        max_length=services.DESCRIPTION_MAX, allow_blank=True, required=False, trim_whitespace=False
    )
    # See CampaignOut.parent.
    parent = SlugRelated(  # type: ignore[assignment]
        slug_field="slug",
        queryset=Team.objects.all(),
        help_text="Slug of the parent team: every team under it takes part.",
    )
    framework = serializers.SlugField(
        max_length=64,
        required=False,
        help_text="The goal's framework (slug). Omitted: the newest published version that "
        "has the goal's key.",
    )
    framework_version = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**31 - 1,
        help_text="With framework: that version; omitted, its newest with the key.",
    )
    goal_kind = serializers.ChoiceField(choices=Campaign.GoalKind.values)
    goal_key = serializers.SlugField(max_length=64)
    goal_minimum = serializers.IntegerField(
        min_value=0, max_value=32767, help_text="A level number, or a choice score."
    )
    due = serializers.DateField()
    archived = serializers.BooleanField(
        required=False, help_text="PATCH only: archive (true) or make active again (false)."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        campaign: Campaign | None = self.instance
        changes = {name: attrs[name] for name in CHANGEABLE if name in attrs}
        if campaign is None or attrs.keys() & GOAL_FIELDS:
            # The goal's framework: the one named (its version, or its newest with the
            # key), else the campaign's, else the newest published version with the key.
            slug = attrs.get("framework") or (campaign.framework.slug if campaign else "")
            version = attrs.get("framework_version")
            if version is not None and not slug:
                raise serializers.ValidationError({"framework": ["Name the framework too."]})
            kind = attrs.get("goal_kind", campaign.goal_kind if campaign else "")
            key = attrs.get("goal_key", campaign.goal_key if campaign else "")
            framework, errors = services.framework_for_goal(kind, key, slug=slug, version=version)
            if errors:
                raise serializers.ValidationError(errors)
            changes["framework"] = framework
        if campaign is not None:
            base = services.CampaignInput.of(campaign)
        else:
            base = services.CampaignInput(**{name: attrs[name] for name in REQUIRED})
        data, errors = services.campaign_problems(base.changed(changes), campaign=campaign)
        if errors:
            raise serializers.ValidationError(errors)
        return {"data": data, "archived": attrs.get("archived")}


# What a PATCH may change (besides the framework and archived), and what a POST requires.
CHANGEABLE = ("title", "description", "parent", "goal_kind", "goal_key", "goal_minimum", "due")
REQUIRED = ("title", "parent", "goal_kind", "goal_key", "goal_minimum", "due")
GOAL_FIELDS = {"framework", "framework_version", "goal_kind", "goal_key"}


class TeamProgressOut(serializers.Serializer[Any]):
    slug = serializers.CharField()
    name = serializers.CharField()
    status = serializers.ChoiceField(
        choices=STATUSES,
        help_text="meeting, not_meeting, not_assessed, withheld (an anonymous round's "
        "results are withheld: not yet assessed), not_shared (a member reading a round that "
        "does not share results with members).",
    )
    value = serializers.IntegerField(
        allow_null=True, help_text="The team's level (or choice); null unless assessed."
    )
    gap = serializers.IntegerField(
        allow_null=True, help_text="Levels (choices) short of the goal; 0 when meeting."
    )
    survey = serializers.IntegerField(allow_null=True, help_text="The round the status comes from.")


class BurnupOut(serializers.Serializer[Any]):
    survey = serializers.IntegerField()
    title = serializers.CharField()
    opens_at = serializers.DateTimeField()
    closes_at = serializers.DateTimeField(
        help_text="When the round closed, or closes (its opening when it has no end)."
    )
    meeting = serializers.IntegerField(help_text="Teams meeting the goal after this round.")
    total = serializers.IntegerField(help_text="Teams counted.")


class ProgressOut(serializers.Serializer[Any]):
    campaign = CampaignOut()
    computed_at = serializers.DateTimeField(
        allow_null=True, help_text="When progress was last computed; null: not yet."
    )
    meeting = serializers.IntegerField()
    not_meeting = serializers.IntegerField()
    not_assessed = serializers.IntegerField(help_text="No shown result (withheld included).")
    withheld = serializers.IntegerField(help_text="Of not_assessed, those withheld.")
    teams = TeamProgressOut(many=True)
    burnup = BurnupOut(many=True)


def progress_payload(campaign: Campaign, reader: selectors.Reader) -> dict[str, Any]:
    """The progress of ``campaign`` over the teams ``reader`` may read (ProgressOut)."""
    rows = selectors.team_rows(campaign, reader)
    counts = selectors.count_statuses(row.status for row in rows)
    goal = selectors.goals([campaign])[campaign.pk]
    computed_at = campaign.progress_computed_at
    return {
        "campaign": campaign_payload(campaign, goal),
        "computed_at": computed_at.isoformat() if computed_at else None,
        **counts.as_dict(),
        "teams": [
            {
                "slug": row.team_slug,
                "name": row.team_name,
                "status": row.status,
                "value": row.value,
                "gap": row.gap,
                "survey": row.survey_id,
            }
            for row in rows
        ],
        "burnup": [
            {
                "survey": point.survey.pk,
                "title": point.survey.title,
                "opens_at": point.survey.opens_at.isoformat(),
                "closes_at": selectors.round_end(point.survey).isoformat(),
                "meeting": point.meeting,
                "total": point.total,
            }
            for point in selectors.burnup(campaign, reader)
        ],
    }


class LeadsWrite(BasePermission):
    """Reads for every signed-in user (the queryset narrows); writes for admins and
    programme leads."""

    message = "Only admins and programme leads manage campaigns."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if request.method in SAFE_METHODS:
            return True
        # A PATCH of a campaign one cannot read is a 404 before it is a 403.
        return runs_programme(request.user) or bool(getattr(view, "kwargs", {}).get("pk"))

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return request.method in SAFE_METHODS or runs_programme(request.user)


ARCHIVED_PARAM = OpenApiParameter(
    "archived", bool, description="true: archived campaigns only; false: active ones only."
)


@extend_schema_view(
    list=extend_schema(
        description="Campaigns you may read: admins and programme leads all, others those "
        "covering a team they manage or belong to.",
        parameters=[ARCHIVED_PARAM],
        responses=CampaignOut(many=True),
    ),
    retrieve=extend_schema(responses=CampaignOut),
    create=extend_schema(
        description="Admins and programme leads. Its progress is computed from the stored "
        "scores right after (by a worker).",
        request=CampaignIn,
        responses={201: CampaignOut},
    ),
    partial_update=extend_schema(
        description="Admins and programme leads: change any field; `archived` archives it "
        "(or makes it active again).",
        request=CampaignIn,
        responses=CampaignOut,
    ),
)
class CampaignViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet[Campaign],
):
    queryset = Campaign.objects.none()  # for the schema; get_queryset narrows
    serializer_class = CampaignIn
    permission_classes = [LeadsWrite]
    pagination_class = Cursor
    cursor_ordering = "-id"
    lookup_value_regex = "[0-9]{1,18}"  # a larger number is no campaign's id: a 404
    filter_backends: list[type[Any]] = []
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Campaign]:
        return selectors.visible_campaigns(selectors.reader_for(request_user(self.request)))

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        campaigns = self.get_queryset()
        archived = request.query_params.get("archived")
        if archived is not None:
            value = archived.strip().lower()
            if value not in ("true", "false", "1", "0"):
                raise serializers.ValidationError({"archived": ["Must be true or false."]})
            campaigns = campaigns.filter(archived_at__isnull=value in ("false", "0"))
        page = cast(list[Campaign], self.paginate_queryset(campaigns))
        described = selectors.goals(page)
        return self.get_paginated_response(
            [campaign_payload(campaign, described[campaign.pk]) for campaign in page]
        )

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        campaign = self.get_object()
        return Response(campaign_payload(campaign, selectors.goals([campaign])[campaign.pk]))

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = CampaignIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = services.campaign_create(
            serializer.validated_data["data"], by=request_user(request)
        )
        if serializer.validated_data["archived"]:
            campaign = services.campaign_archive(campaign, by=request_user(request))
        goal = selectors.goals([campaign])[campaign.pk]
        return Response(campaign_payload(campaign, goal), status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        campaign = self.get_object()
        serializer = CampaignIn(campaign, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = request_user(request)
        data = serializer.validated_data["data"]
        campaign = services.campaign_update(campaign, data.as_changes(), by=user)
        archived = serializer.validated_data["archived"]
        if archived is not None:
            campaign = services.campaign_archive(campaign, by=user, archived=archived)
        campaign = self.get_queryset().get(pk=campaign.pk)
        return Response(campaign_payload(campaign, selectors.goals([campaign])[campaign.pk]))

    @extend_schema(
        description="The campaign's progress over the teams you may read: counts, each "
        "team's status, and the burn-up (teams meeting the goal after each round).",
        responses=ProgressOut,
    )
    @action(detail=True, methods=["get"])
    def progress(self, request: Request, pk: str | None = None) -> Response:
        campaign = self.get_object()
        reader = selectors.reader_for(request_user(request))
        return Response(progress_payload(campaign, reader))

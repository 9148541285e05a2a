from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from django.contrib import admin, messages
from django.db.models import Count, Model, Q, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from common.http import AuthenticatedHttpRequest
from common.text import text_problem
from maturity.models import Framework
from surveys import services
from surveys.models import (
    Answer,
    DimensionTarget,
    Erasure,
    Invitation,
    Membership,
    Response,
    Survey,
    Team,
)

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class MembershipInline(admin.TabularInline[Membership, Team]):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


def reason_form(
    request: HttpRequest,
    queryset: QuerySet[Model],
    *,
    action: str,
    title: str,
    explanation: str,
    **extra: object,
) -> tuple[str | None, TemplateResponse | None]:
    """Ask for a reason before a consequential admin action; return it once given.

    Returns (reason, None) when the form was submitted with a storable, non-empty reason,
    else (None, the page asking for it).
    """
    reason = request.POST.get("reason", "").strip()
    error = text_problem(reason, max_length=2000) if reason else None
    if "apply" in request.POST and reason and error is None:
        return reason, None
    if "apply" in request.POST and error is None:
        error = "Give a reason."
    context = {
        "title": title,
        "explanation": explanation,
        "queryset": queryset,
        "action": action,
        "reason": reason if error is None else "",
        "reason_required": True,
        "error": error,
        "submit_label": title,
        **extra,
    }
    return None, TemplateResponse(request, "admin/confirm_with_reason.html", context)


class TeamCounts(TypedDict):
    """What TeamAdmin's queryset annotates each team with."""

    members_total: int


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin[Team]):
    list_display = ("name", "slug", "parent", "member_count", "archived_at")
    search_fields = ("name", "slug")
    list_filter = ("parent", ("archived_at", admin.EmptyFieldListFilter))
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("archived_at",)
    inlines = [MembershipInline]
    actions = ["archive_teams"]

    @admin.action(description="Archive the selected teams (keep their history)")
    def archive_teams(self, request: HttpRequest, queryset: QuerySet[Team]) -> None:
        for team in queryset:
            services.team_archive(team=team)
        self.message_user(request, f"Archived {queryset.count()} team(s).", messages.SUCCESS)

    def has_delete_permission(self, request: HttpRequest, obj: Team | None = None) -> bool:
        # A team that took part in a round is history: archive it instead (the database
        # refuses the delete too, see Response.team).
        if obj is not None and (obj.responses.exists() or obj.team_scores.exists()):
            return False
        return super().has_delete_permission(request, obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return super().get_queryset(request).annotate(members_total=Count("memberships"))

    @admin.display(description="members", ordering="members_total")
    def member_count(self, obj: WithAnnotations[Team, TeamCounts]) -> int:
        return obj.members_total


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ("user", "team", "role", "joined_at")
    list_filter = ("role", "team")
    search_fields = ("user__username", "team__name")
    autocomplete_fields = ["user", "team"]


class SurveyCounts(TypedDict):
    """What SurveyAdmin's queryset annotates each survey with."""

    submitted_total: int  # counted (submitted) responses


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin[Survey]):
    list_display = (
        "title",
        "framework",
        "status",
        "opens_at",
        "closes_at",
        "anonymous",
        "submitted",
    )
    list_filter = ("status", "anonymous", "framework")
    search_fields = ("title",)
    filter_horizontal = ("teams",)
    actions = ["open_surveys", "close_surveys"]

    # The rules the API keeps hold here too (surveys.api.SurveySerializer): a survey opens
    # and closes through the actions (closing scores it and records when); a survey with
    # responses keeps its framework and its anonymity; only published frameworks, and no
    # archived team joins.
    def get_readonly_fields(self, request: HttpRequest, obj: Survey | None = None) -> list[str]:
        fixed = ["status", "closed_at", "created_at"]
        if obj is not None and obj.responses.exists():
            fixed += ["framework", "anonymous"]
        return fixed

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "framework":
            kwargs["queryset"] = Framework.objects.filter(published=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "teams":
            survey_id = (
                request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
            )
            taking = (
                Q(surveys__pk=survey_id) if survey_id and str(survey_id).isdigit() else Q(pk__in=[])
            )
            kwargs["queryset"] = Team.objects.filter(
                Q(archived_at__isnull=True) | taking
            ).distinct()
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Survey]:
        return (
            super()
            .get_queryset(request)
            .annotate(submitted_total=Count("responses", filter=Q(responses__status="submitted")))
        )

    @admin.display(description="submitted", ordering="submitted_total")
    def submitted(self, obj: WithAnnotations[Survey, SurveyCounts]) -> int:
        return obj.submitted_total

    @admin.action(description="Open the selected surveys")
    def open_surveys(self, request: HttpRequest, queryset: QuerySet[Survey]) -> None:
        for survey in queryset:
            try:
                services.survey_open(survey=survey)
            except services.SurveyError as error:
                self.message_user(request, f"{survey}: {error.message}", messages.ERROR)

    @admin.action(description="Close the selected surveys (and score them)")
    def close_surveys(self, request: HttpRequest, queryset: QuerySet[Survey]) -> None:
        for survey in queryset:
            services.survey_close(survey=survey)


class AnswerInline(admin.TabularInline[Answer, Response]):
    model = Answer
    extra = 0
    can_delete = False
    fields = ("question", "score", "na", "comment")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin[Response]):
    """Responses are read-only history: a counted one is withdrawn (with a reason, audited,
    and its team re-scored), never deleted."""

    list_display = ("id", "survey", "team", "respondent", "status", "submitted_at")
    list_filter = ("status", "survey", "team")
    search_fields = ("respondent__username", "team__name")
    readonly_fields = (
        "survey",
        "team",
        "respondent",
        "respondent_key",
        "status",
        "started_at",
        "updated_at",
        "submitted_at",
        "idempotency_key",
        "last_dimension",
        "withdrawn_at",
        "withdrawn_by",
        "withdrawn_reason",
    )
    exclude = ("idempotency_fingerprint",)
    inlines = [AnswerInline]
    actions = ["withdraw_responses"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Response | None = None) -> bool:
        return False

    @admin.action(description="Withdraw the selected counted responses (re-scores their teams)")
    def withdraw_responses(
        self, request: AuthenticatedHttpRequest, queryset: QuerySet[Response]
    ) -> TemplateResponse | None:
        counted = queryset.filter(status=Response.Status.SUBMITTED)
        reason, page = reason_form(
            request,
            counted,
            action="withdraw_responses",
            title="Withdraw responses",
            explanation="Withdrawn responses stop counting and stay stored; their teams are "
            "re-scored, also in closed rounds. Only counted responses can be withdrawn.",
        )
        if page is not None:
            return page
        withdrawn = 0
        for response in counted:
            try:
                services.response_withdraw(
                    response=response, withdrawn_by=request.user, reason=reason or ""
                )
            except services.SurveyError as error:
                self.message_user(request, f"{response}: {error.message}", messages.ERROR)
            else:
                withdrawn += 1
        self.message_user(request, f"Withdrew {withdrawn} response(s).", messages.SUCCESS)
        return None


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin[Invitation]):
    list_display = (
        "survey",
        "team",
        "created_by",
        "created_at",
        "expires_at",
        "uses",
        "max_uses",
        "revoked",
    )
    list_filter = ("revoked", "survey")
    readonly_fields = ("uses", "created_by", "created_at")
    # Secrets' hashes stay out of sight: the token's, and the invitee's address hash.
    exclude = ("token_hash", "invitee_key")


@admin.register(DimensionTarget)
class DimensionTargetAdmin(admin.ModelAdmin[DimensionTarget]):
    list_display = ("team", "dimension_key", "target_level", "set_by", "updated_at")
    list_filter = ("team",)


@admin.register(Erasure)
class ErasureAdmin(admin.ModelAdmin[Erasure]):
    list_display = (
        "performed_at",
        "performed_by",
        "responses_unlinked",
        "responses_withdrawn",
        "drafts_deleted",
    )
    readonly_fields = list_display + ("reason",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # erasures are made by `manage.py erase_person` or the users list action

    def has_delete_permission(self, request: HttpRequest, obj: Erasure | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Erasure | None = None) -> bool:
        return False

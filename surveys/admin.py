from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest

from surveys import services
from surveys.models import (
    Answer,
    DimensionTarget,
    Invitation,
    Membership,
    Response,
    Survey,
    Team,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "parent", "member_count")
    search_fields = ("name", "slug")
    list_filter = ("parent",)
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return super().get_queryset(request).annotate(members_total=Count("memberships"))

    @admin.display(description="members", ordering="members_total")
    def member_count(self, obj: Team) -> int:
        return obj.members_total


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "team", "role", "joined_at")
    list_filter = ("role", "team")
    search_fields = ("user__username", "team__name")
    autocomplete_fields = ["user", "team"]


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
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

    def get_queryset(self, request: HttpRequest) -> QuerySet[Survey]:
        return (
            super()
            .get_queryset(request)
            .annotate(submitted_total=Count("responses", filter=Q(responses__status="submitted")))
        )

    @admin.display(description="submitted", ordering="submitted_total")
    def submitted(self, obj: Survey) -> int:
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


class AnswerInline(admin.TabularInline):
    model = Answer
    extra = 0
    can_delete = False
    fields = ("question", "score", "na", "comment")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
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
    )
    inlines = [AnswerInline]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
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
    readonly_fields = ("token_hash", "uses", "created_by", "created_at")


@admin.register(DimensionTarget)
class DimensionTargetAdmin(admin.ModelAdmin):
    list_display = ("team", "dimension_key", "target_level", "set_by", "updated_at")
    list_filter = ("team",)

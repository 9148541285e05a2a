"""Admin pages for API tokens (revocable), the export audit log (read-only), runs, scores,
and the users list's personal-data erasure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from reports import services
from reports.authentication import api_token_revoke
from reports.models import (
    AggregationRun,
    ApiToken,
    DimensionScore,
    ExportAudit,
    ExportJob,
    QuestionHealth,
    TeamScore,
)
from surveys.admin import reason_form
from surveys.models import Response

if TYPE_CHECKING:
    from django.contrib.auth.models import User


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = [
        "name",
        "user",
        "prefix",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    readonly_fields = ["prefix", "key_hash", "created_at", "last_used_at", "revoked_at", "user"]
    fields = [
        "name",
        "user",
        "prefix",
        "key_hash",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are shown once: create them with `manage.py create_api_token`

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        tokens = list(queryset.filter(revoked_at__isnull=True))
        for token in tokens:
            api_token_revoke(token=token)
        self.message_user(request, f"Revoked {len(tokens)} token(s).", messages.SUCCESS)


@admin.register(ExportAudit)
class ExportAuditAdmin(admin.ModelAdmin[ExportAudit]):
    list_display = [
        "started_at",
        "actor",
        "via",
        "kind",
        "format",
        "filters",
        "status",
        "row_count",
    ]
    list_filter = ["kind", "format", "status", "via"]
    search_fields = ["actor"]
    date_hierarchy = "started_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ExportAudit | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ExportAudit | None = None) -> bool:
        return False


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin[ExportJob]):
    """Export jobs, read-only: the API creates them, workers run them, beat expires them."""

    list_display = [
        "created_at",
        "owner",
        "kind",
        "format",
        "params",
        "status",
        "rows_written",
        "size",
        "expires_at",
    ]
    list_filter = ["kind", "format", "status"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ExportJob | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ExportJob | None = None) -> bool:
        return False


class DimensionScoreInline(admin.TabularInline[DimensionScore, TeamScore]):
    model = DimensionScore
    extra = 0
    can_delete = False
    fields = ("dimension", "score", "level", "interval_low", "interval_high", "disagreement")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ComputedDataAdmin(admin.ModelAdmin[Any]):
    """Scores and runs are computed and published history: they are read here, never added,
    edited or deleted by hand (withdraw a response, archive a team, re-run aggregation)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(TeamScore)
class TeamScoreAdmin(ComputedDataAdmin):
    list_display = ("team", "survey", "score", "level", "n_respondents", "is_rollup", "computed_at")
    list_filter = ("survey", "is_rollup")
    search_fields = ("team__name",)
    readonly_fields = [f.name for f in TeamScore._meta.fields]
    inlines = [DimensionScoreInline]


@admin.register(AggregationRun)
class AggregationRunAdmin(ComputedDataAdmin):
    list_display = (
        "id",
        "survey",
        "team",
        "status",
        "trigger",
        "queued_at",
        "load_ms",
        "score_ms",
        "persist_ms",
        "teams_scored",
        "attempts",
    )
    list_filter = ("status", "trigger", "survey")
    readonly_fields = [f.name for f in AggregationRun._meta.fields]


@admin.register(QuestionHealth)
class QuestionHealthAdmin(ComputedDataAdmin):
    """Computed question health, read-only; its list links to the question-health page
    (a round's questions, flagged first, with what each flag means)."""

    list_display = (
        "question",
        "survey",
        "flags",
        "n_answers",
        "dont_know_rate",
        "agreement",
        "top_share",
        "item_rest",
        "computed_at",
    )
    list_filter = ("survey",)
    list_select_related = ("question", "survey")
    readonly_fields = [f.name for f in QuestionHealth._meta.fields]


class PersonEraseAdmin(UserAdmin["User"]):
    """Django's user admin with the personal-data erasure a GDPR request needs."""

    # The stubs cannot make ModelAdmin.actions a ClassVar (it holds a type variable), so
    # mypy takes this class attribute for an instance variable.
    actions = [*(UserAdmin.actions or []), "erase_people"]  # type: ignore[misc]

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        # Deleting someone who answered leaves their respondent key behind, which the audit
        # log can link back to them: people who answered are erased (the action), not deleted.
        if obj is not None and Response.objects.filter(respondent=obj).exists():
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # it would bypass has_delete_permission(obj)
        return actions

    @admin.action(description="Erase the selected people's personal data (GDPR)")
    def erase_people(
        self, request: HttpRequest, queryset: QuerySet[User]
    ) -> TemplateResponse | None:
        reason, page = reason_form(
            request,
            queryset,
            action="erase_people",
            title="Erase personal data",
            explanation="Each account is deleted; its survey answers and comments stay, under "
            "a random respondent key that nothing links to the person. Published numbers "
            "stay as they are unless you also withdraw their counted responses.",
            offer_withdraw=True,
        )
        if page is not None:
            return page
        withdraw = request.POST.get("withdraw") == "1"
        erased = 0
        for user in list(queryset):
            if user.pk == request.user.pk:
                self.message_user(request, "You cannot erase yourself here.", messages.ERROR)
                continue
            services.person_erase(
                user=user,
                performed_by=request.user.get_username(),
                withdraw=withdraw,
                reason=reason or "",
            )
            erased += 1
        self.message_user(request, f"Erased {erased} person(s).", messages.SUCCESS)
        return None


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), PersonEraseAdmin)

"""Admin: exemptions (granted with a reason, an approver and an expiry; audited), evidence
tokens (revocable; created with `manage.py create_evidence_token`), snapshots (read-only)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from evidence import services
from evidence.models import EvidenceToken, Exemption, Snapshot


class ExemptionForm(forms.ModelForm[Exemption]):
    class Meta:
        model = Exemption
        fields = ["team", "question_key", "reason", "expires_at"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.instance.pk is None and not self.errors:
            try:
                services.exemption_check(
                    question_key=data.get("question_key", ""),
                    reason=data.get("reason", ""),
                    expires_at=data.get("expires_at"),
                )
            except services.EvidenceError as error:
                field = error.field if error.field in self.fields else None
                self.add_error(field, error.message)
        return data


@admin.register(Exemption)
class ExemptionAdmin(admin.ModelAdmin[Exemption]):
    form = ExemptionForm
    list_display = ["team", "question_key", "reason", "approved_by", "expires_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["team__slug", "question_key", "reason"]
    actions = ["revoke"]

    def get_readonly_fields(self, request: HttpRequest, obj: Exemption | None = None) -> list[str]:
        if obj is None:
            return []
        # Granted exemptions are history: revoke one and grant another to change it.
        return ["team", "question_key", "reason", "expires_at", "approved_by", "revoked_at"]

    def save_model(self, request: HttpRequest, obj: Exemption, form: Any, change: bool) -> None:
        if change:
            return
        granted = services.exemption_grant(
            team=obj.team,
            question_key=obj.question_key,
            reason=obj.reason,
            approved_by=request.user,  # type: ignore[arg-type]
            expires_at=obj.expires_at,
        )
        obj.pk = granted.pk

    def has_delete_permission(self, request: HttpRequest, obj: Exemption | None = None) -> bool:
        return False

    @admin.action(description="Revoke the selected exemptions")
    def revoke(self, request: HttpRequest, queryset: QuerySet[Exemption]) -> None:
        rows = list(queryset.filter(revoked_at__isnull=True))
        for exemption in rows:
            services.exemption_revoke(exemption=exemption)
        self.message_user(request, f"Revoked {len(rows)} exemption(s).", messages.SUCCESS)


@admin.register(EvidenceToken)
class EvidenceTokenAdmin(admin.ModelAdmin[EvidenceToken]):
    list_display = [
        "team",
        "name",
        "prefix",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "team__slug"]
    readonly_fields = [
        "team",
        "name",
        "prefix",
        "created_by",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    exclude = ["key_hash"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are shown once: `manage.py create_evidence_token --team <slug>`

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[EvidenceToken]) -> None:
        tokens = list(queryset.filter(revoked_at__isnull=True))
        for token in tokens:
            services.evidence_token_revoke(token=token)
        self.message_user(request, f"Revoked {len(tokens)} token(s).", messages.SUCCESS)


@admin.register(Snapshot)
class SnapshotAdmin(admin.ModelAdmin[Snapshot]):
    list_display = ["team", "source", "kind", "received_at", "status", "commit"]
    list_filter = ["status", "kind"]
    search_fields = ["team__slug", "source", "commit", "content__sha256"]
    readonly_fields = [
        "team",
        "source",
        "content",
        "kind",
        "commit",
        "received_at",
        "uploaded_by",
        "token",
        "status",
        "error",
        "processed_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # computed from uploads

    def has_change_permission(self, request: HttpRequest, obj: Snapshot | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Snapshot | None = None) -> bool:
        # Evidence is history: a round's verdicts were computed from it (a deletion would
        # leave them standing with nothing behind them).
        return False

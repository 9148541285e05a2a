from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict, TypeVar

from django.contrib import admin
from django.db.models import Count, Model, QuerySet
from django.http import HttpRequest

from maturity.models import Choice, Dimension, Framework, Level, Question

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

ChildT = TypeVar("ChildT", bound=Model)
ParentT = TypeVar("ParentT", bound=Model)

# Framework content is loaded from YAML (manage.py load_framework); the admin is for browsing.


class ReadOnlyInline(admin.TabularInline[ChildT, ParentT]):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class LevelInline(ReadOnlyInline[Level, Framework]):
    model = Level
    fields = ("number", "name", "threshold", "description")
    readonly_fields = fields
    show_change_link = False


class DimensionInline(ReadOnlyInline[Dimension, Framework]):
    model = Dimension
    fields = ("order", "key", "name", "weight")
    readonly_fields = fields


class QuestionInline(ReadOnlyInline[Question, Dimension]):
    model = Question
    fk_name = "dimension"
    fields = ("order", "key", "text", "weight", "allow_na", "requires")
    readonly_fields = fields


class ChoiceInline(ReadOnlyInline[Choice, Question]):
    model = Choice
    fields = ("score", "label", "description", "next_step")
    readonly_fields = fields
    show_change_link = False


class FrameworkCounts(TypedDict):
    """What FrameworkAdmin's queryset annotates each framework with."""

    dimension_total: int


@admin.register(Framework)
class FrameworkAdmin(admin.ModelAdmin[Framework]):
    list_display = ("title", "slug", "version", "published", "dimension_count", "loaded_at")
    list_filter = ("published", "slug")
    search_fields = ("slug", "title")
    ordering = ("slug", "-version")
    readonly_fields = (
        "slug",
        "version",
        "content_hash",
        "evidence_policy",
        "checks_hash",
        "source",
        "loaded_at",
    )
    inlines = [LevelInline, DimensionInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Framework]:
        return super().get_queryset(request).annotate(dimension_total=Count("dimensions"))

    @admin.display(description="dimensions", ordering="dimension_total")
    def dimension_count(self, obj: WithAnnotations[Framework, FrameworkCounts]) -> int:
        return obj.dimension_total


@admin.register(Dimension)
class DimensionAdmin(admin.ModelAdmin[Dimension]):
    list_display = ("name", "key", "framework", "order", "weight")
    list_filter = ("framework",)
    search_fields = ("key", "name", "description")
    ordering = ("framework", "order")
    list_select_related = ("framework",)
    inlines = [QuestionInline]


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin[Question]):
    list_display = ("key", "short_text", "dimension", "weight", "allow_na", "framework")
    list_filter = ("framework", "dimension", "allow_na")
    search_fields = ("key", "text", "guidance")
    ordering = ("framework", "order")
    list_select_related = ("framework", "dimension")
    inlines = [ChoiceInline]

    @admin.display(description="text")
    def short_text(self, obj: Question) -> str:
        return obj.text if len(obj.text) <= 80 else obj.text[:77] + "..."

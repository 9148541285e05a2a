"""Survey content and campaigns over the API (DESIGN.md section 5).

Frameworks (read), teams, memberships, surveys (admins write; others read what they may)
and the submission endpoint POST /api/v1/surveys/{id}/responses/.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict, cast

import django_filters
import orjson
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import (
    NotFound,
    ParseError,
    PermissionDenied,
    UnsupportedMediaType,
)
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from common.api import (
    CsvParser,
    Cursor,
    ErrorSerializer,
    IsAdminOrReadOnly,
    SlugRelated,
    request_user,
)
from common.db import columns_of, fits_primary_key, instance_from_row
from common.text import storable
from maturity.models import Choice, Dimension, Framework, Level, Question
from maturity.scope import TeamPlan
from maturity.selectors import answer_rules
from surveys import services
from surveys.membership_import import (
    MAX_IMPORT_BYTES,
    MAX_IMPORT_ROWS,
    MembershipImport,
    memberships_import,
)
from surveys.models import Membership, Response, Survey, Team
from surveys.selectors import (
    api_surveys,
    api_teams,
    framework_outline,
    managed_team_ids,
    runs_programme,
    team_plan,
    team_profile,
)
from surveys.validation import (
    COMMENT_MAX_LENGTH,
    MODEL_KINDS,
    SERVING,
    SubmissionBody,
    answer_inputs,
    canonical,
    profile_problems,
    submission_body,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django_stubs_ext import WithAnnotations


# --- frameworks ------------------------------------------------------------------------------


class FrameworkOutline(TypedDict):
    """What FrameworkViewSet.get_object sets on the framework it returns, for
    FrameworkDetailSerializer: its dimensions with questions and choices, in order."""

    outline: list[Dimension]


if TYPE_CHECKING:  # WithAnnotations[Model, TypedDict] raises TypeError at run time (3.11)
    OutlinedFramework: TypeAlias = WithAnnotations[Framework, FrameworkOutline]


class ChoiceSerializer(serializers.ModelSerializer[Choice]):
    class Meta:
        model = Choice
        fields = ["score", "label", "description", "next_step", "evidence"]


class QuestionSerializer(serializers.ModelSerializer[Question]):
    choices = ChoiceSerializer(many=True, read_only=True)
    requires = serializers.ListField(child=serializers.CharField(), read_only=True)
    applies_when = serializers.DictField(
        read_only=True, help_text="Team-profile condition; {} when the question always applies."
    )
    refs = serializers.ListField(child=serializers.CharField(), read_only=True)
    replaces = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Question
        fields = [
            "key",
            "text",
            "guidance",
            "why",
            "weight",
            "allow_na",
            "order",
            "max_score",
            "scope",
            "applies_when",
            "refs",
            "replaces",
            "requires",
            "choices",
        ]


class DimensionSerializer(serializers.ModelSerializer[Dimension]):
    questions = QuestionSerializer(many=True, read_only=True)

    class Meta:
        model = Dimension
        fields = ["key", "name", "description", "weight", "order", "questions"]


class LevelSerializer(serializers.ModelSerializer[Level]):
    class Meta:
        model = Level
        fields = ["number", "name", "threshold", "description"]


class FrameworkSerializer(serializers.ModelSerializer[Framework]):
    dimension_count = serializers.IntegerField(read_only=True)
    question_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Framework
        fields = [
            "slug",
            "version",
            "title",
            "description",
            "published",
            "dimension_count",
            "question_count",
        ]


class FrameworkDetailSerializer(serializers.ModelSerializer[Framework]):
    levels = LevelSerializer(many=True, read_only=True)
    dimensions = DimensionSerializer(many=True, read_only=True, source="outline")

    class Meta:
        model = Framework
        fields = ["slug", "version", "title", "description", "published", "levels", "dimensions"]


class FrameworkQuerySerializer(serializers.Serializer[Any]):
    version = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)


@extend_schema_view(
    list=extend_schema(description="The latest published version of each framework."),
    retrieve=extend_schema(
        description="One framework with its levels, dimensions, questions and choices: the "
        "latest published version, or `?version=`.",
        parameters=[FrameworkQuerySerializer],
    ),
)
class FrameworkViewSet(viewsets.ReadOnlyModelViewSet[Framework]):
    queryset = Framework.objects.none()  # for the schema; get_queryset narrows
    serializer_class = FrameworkSerializer
    pagination_class = Cursor
    cursor_ordering = "slug"
    lookup_field = "slug"
    lookup_value_regex = "[-a-zA-Z0-9_]+"
    filterset_fields = ["slug"]

    def get_queryset(self) -> QuerySet[Framework]:
        latest = (
            Framework.objects.filter(slug=OuterRef("slug"), published=True)
            .order_by("-version")
            .values("pk")[:1]
        )
        return Framework.objects.filter(published=True, pk=Subquery(latest)).annotate(
            dimension_count=Count("dimensions", distinct=True),
            question_count=Count("questions", distinct=True),
        )

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Framework]]:
        return FrameworkDetailSerializer if self.action == "retrieve" else FrameworkSerializer

    def get_object(self) -> Framework:
        query = FrameworkQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        versions = Framework.objects.filter(slug=self.kwargs["slug"])
        version = query.validated_data.get("version")
        # The latest *published* version, for everyone; an admin may ask for an unpublished
        # one by its number (to review it before surveys use it).
        if version is None or not self.request.user.is_staff:
            versions = versions.filter(published=True)
        if version is not None:
            versions = versions.filter(version=version)
        found = versions.prefetch_related("levels").order_by("-version").first()
        if found is None:
            raise NotFound("No such framework (or version).")
        framework = cast("OutlinedFramework", found)  # it gets its outline here
        framework.outline = framework_outline(framework)
        return framework


# --- teams and memberships -------------------------------------------------------------------


class TeamSerializer(serializers.ModelSerializer[Team]):
    # DRF's metaclass moves declared fields out of the class, so this field does not
    # replace Field.parent (the serializer a field is bound to), as mypy believes.
    parent = SlugRelated(  # type: ignore[assignment]
        slug_field="slug",
        queryset=Team.objects.all(),
        allow_null=True,
        required=False,
        help_text="Slug of the parent team (org roll-ups).",
    )

    class Meta:
        model = Team
        fields = ["slug", "name", "parent"]

    def validate_parent(self, parent: Team | None) -> Team | None:
        problem = services.parent_problem(self.instance, parent)
        if problem:
            raise serializers.ValidationError(problem)
        return parent


class TeamFilter(django_filters.FilterSet):
    parent = django_filters.CharFilter(field_name="parent__slug")
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Team
        fields = ["parent", "name"]


@extend_schema_view(
    list=extend_schema(description="Teams you may see (admins: all)."),
    create=extend_schema(description="Admins only."),
    update=extend_schema(description="Admins only."),
    partial_update=extend_schema(description="Admins only."),
)
class TeamViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet[Team],
):
    queryset = Team.objects.none()  # for the schema; get_queryset narrows
    serializer_class = TeamSerializer
    permission_classes = [IsAdminOrReadOnly]
    pagination_class = Cursor
    cursor_ordering = "slug"
    lookup_field = "slug"
    lookup_value_regex = "[-a-zA-Z0-9_]+"
    filterset_class = TeamFilter

    def get_queryset(self) -> QuerySet[Team]:
        return api_teams(request_user(self.request)).select_related("parent")


class MembershipSerializer(serializers.ModelSerializer[Membership]):
    user = SlugRelated(slug_field="username", queryset=get_user_model().objects.all())
    team = SlugRelated(slug_field="slug", queryset=Team.objects.all())

    class Meta:
        model = Membership
        fields = ["id", "user", "team", "role", "joined_at"]


class MembershipFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="team__slug")
    user = django_filters.CharFilter(field_name="user__username")

    class Meta:
        model = Membership
        fields = ["team", "user", "role"]


class RunsProgramme(BasePermission):
    """Admins and programme leads (surveys.selectors.runs_programme)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return runs_programme(request.user)


def _flag(raw: str, name: str) -> bool:
    """Read a boolean query parameter: true/1/yes or false/0/no/empty; else a 400."""
    value = raw.strip().lower()
    if value in {"true", "1", "yes"}:
        return True
    if value in {"", "false", "0", "no"}:
        return False
    raise serializers.ValidationError({name: ["Must be true or false."]})


class MembershipImportUpload(serializers.Serializer[Any]):
    file = serializers.FileField(help_text="The CSV file.")


class ImportRowErrorOut(serializers.Serializer[Any]):
    line = serializers.IntegerField(help_text="Line of the file (1: the header; 0: the file).")
    column = serializers.CharField(help_text='"email", "team", "role" or "" (the row).')
    message = serializers.CharField()


class ImportRowOut(serializers.Serializer[Any]):
    line = serializers.IntegerField()
    email = serializers.CharField()
    team = serializers.CharField()
    role = serializers.CharField()
    action = serializers.ChoiceField(choices=["add", "change role", "unchanged"])
    new_account = serializers.BooleanField()
    previous_role = serializers.CharField()


class ImportCountsOut(serializers.Serializer[Any]):
    rows = serializers.IntegerField()
    added = serializers.IntegerField()
    roles_changed = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    accounts_created = serializers.IntegerField()


class MembershipImportOut(serializers.Serializer[Any]):
    applied = serializers.BooleanField(help_text="True when the import was written.")
    dry_run = serializers.BooleanField()
    counts = ImportCountsOut()
    ignored_columns = serializers.ListField(child=serializers.CharField())
    rows = ImportRowOut(many=True)


# "errors" would shadow Serializer.errors as a class attribute; the schema still needs it.
MembershipImportOut._declared_fields["errors"] = ImportRowErrorOut(many=True)


def import_payload(outcome: MembershipImport) -> dict[str, Any]:
    """The API's (and the console's) JSON of an import outcome (MembershipImportOut)."""
    return {
        "applied": outcome.applied,
        "dry_run": outcome.dry_run,
        "counts": outcome.counts,
        "ignored_columns": outcome.ignored_columns,
        "errors": [dataclasses.asdict(error) for error in outcome.errors],
        "rows": [dataclasses.asdict(row) for row in outcome.rows],
    }


@extend_schema_view(
    list=extend_schema(
        description="Memberships you may see: admins all, managers those of the teams they "
        "manage, everyone their own."
    ),
    create=extend_schema(description="Admins only."),
    update=extend_schema(description="Admins only."),
    partial_update=extend_schema(description="Admins only."),
    destroy=extend_schema(description="Admins only."),
)
class MembershipViewSet(viewsets.ModelViewSet[Membership]):
    queryset = Membership.objects.none()  # for the schema; get_queryset narrows
    serializer_class = MembershipSerializer
    permission_classes = [IsAdminOrReadOnly]
    pagination_class = Cursor
    cursor_ordering = "id"
    filterset_class = MembershipFilter

    def get_queryset(self) -> QuerySet[Membership]:
        user = request_user(self.request)
        memberships = Membership.objects.select_related("user", "team")
        if user.is_staff:
            return memberships
        managed = managed_team_ids(user) or set()
        return memberships.filter(Q(team_id__in=managed) | Q(user=user))

    @extend_schema(
        summary="Import memberships from CSV",
        description=(
            "Admins and programme leads. A CSV of `email,team,role` (header first; role "
            "`member` or `manager`, empty: member), as a `text/csv` body or a multipart field "
            "`file`. "
            "Every row is checked before anything is written: any wrong row answers 400 with "
            "every problem and its line, and nothing is written. Adds memberships and changes "
            "roles, never removes; an address without an account gets one (no usable "
            "password). `?dry_run=true` checks and answers what would happen without writing. "
            f"At most {MAX_IMPORT_ROWS:,} rows and {MAX_IMPORT_BYTES:,} bytes a file."
        ),
        request={"text/csv": OpenApiTypes.STR, "multipart/form-data": MembershipImportUpload},
        parameters=[OpenApiParameter("dry_run", bool, description="Check only; write nothing.")],
        responses={
            200: MembershipImportOut,
            # Row errors (nothing written), or a request with no CSV or a bad dry_run.
            400: PolymorphicProxySerializer(
                component_name="MembershipImportRefused",
                serializers=[MembershipImportOut, ErrorSerializer],
                resource_type_field_name=None,
            ),
        },
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[CsvParser, MultiPartParser],
        permission_classes=[RunsProgramme],
    )
    def import_csv(self, request: Request) -> ApiResponse:
        dry_run = _flag(request.query_params.get("dry_run", ""), "dry_run")
        data = request.data
        if not isinstance(data, bytes):
            upload = data.get("file") if hasattr(data, "get") else None
            if upload is None or isinstance(upload, str):
                raise ParseError(
                    'Send the CSV as a text/csv body or as the multipart field "file".'
                )
            data = upload.read(MAX_IMPORT_BYTES + 1)
        outcome = memberships_import(data, dry_run=dry_run)
        return ApiResponse(
            import_payload(outcome),
            status=status.HTTP_400_BAD_REQUEST if outcome.errors else status.HTTP_200_OK,
        )


# --- surveys ---------------------------------------------------------------------------------


class SurveySerializer(serializers.ModelSerializer[Survey]):
    framework = serializers.SlugField(source="framework.slug", help_text="Framework slug.")
    framework_version = serializers.IntegerField(
        source="framework.version",
        required=False,
        min_value=1,
        max_value=2**31 - 1,
        help_text="Defaults to the latest published version.",
    )
    teams = SlugRelated(slug_field="slug", many=True, queryset=Team.objects.all(), required=False)

    class Meta:
        model = Survey
        fields = [
            "id",
            "title",
            "description",
            "framework",
            "framework_version",
            "teams",
            "opens_at",
            "closes_at",
            "status",
            "anonymous",
            "min_group_size",
            "members_see_results",
            "carry_forward",
            "created_at",
        ]
        read_only_fields = ["status", "created_at"]
        extra_kwargs = {"min_group_size": {"min_value": 1}}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        survey: Survey | None = self.instance
        errors: dict[str, list[str]] = {}
        wanted = attrs.pop("framework", None)
        if wanted is not None:
            # framework_version alone (a PATCH) means another version of the same framework.
            slug = wanted.get("slug") or (survey.framework.slug if survey else None)
            versions = Framework.objects.filter(slug=slug, published=True)
            if "version" in wanted:
                versions = versions.filter(version=wanted["version"])
            framework = versions.order_by("-version").first()
            if framework is None:
                errors["framework"] = ["No such published framework (or version)."]
            else:
                attrs["framework"] = framework
        for name, messages in services.survey_problems(survey, attrs).items():
            errors.setdefault(name, messages)
        if survey is None and "framework" not in attrs and "framework" not in errors:
            errors["framework"] = ["This field is required."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class SurveyFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="teams__slug")

    class Meta:
        model = Survey
        fields = ["status", "anonymous", "team"]


@extend_schema_view(
    list=extend_schema(
        description="Surveys you may see: admins all, others the open and closed surveys of "
        "their teams and the teams they manage."
    ),
    create=extend_schema(description="Admins only. The survey starts as a draft."),
    update=extend_schema(description="Admins only."),
    partial_update=extend_schema(description="Admins only."),
    open=extend_schema(request=None, description="Admins only: open (or reopen) the survey."),
    close=extend_schema(
        request=None,
        description="Admins only: close the survey; every team is scored once more.",
    ),
)
class SurveyViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet[Survey],
):
    queryset = Survey.objects.none()  # for the schema; get_queryset narrows
    serializer_class = SurveySerializer
    permission_classes = [IsAdminOrReadOnly]
    pagination_class = Cursor
    filterset_class = SurveyFilter

    def get_queryset(self) -> QuerySet[Survey]:
        surveys = api_surveys(request_user(self.request))
        return surveys.select_related("framework").prefetch_related("teams")

    @action(detail=True, methods=["post"])
    def open(self, request: Request, pk: str | None = None) -> ApiResponse:
        survey = self.get_object()
        services.survey_open(survey=survey)  # a broken rule is answered by the handler
        return ApiResponse(self.get_serializer(survey).data)

    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str | None = None) -> ApiResponse:
        survey = self.get_object()
        services.survey_close(survey=survey)
        return ApiResponse(self.get_serializer(survey).data)


# --- responses -------------------------------------------------------------------------------


class AnswerInSerializer(serializers.Serializer[Any]):
    question = serializers.CharField(max_length=64, help_text="Question key.")
    choice = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=32767,
        help_text="Choice score; null with na or dont_know.",
    )
    na = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Not applicable: only where the question's allow_na is true, and then with "
        "the reason in comment.",
    )
    dont_know = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Don't know: not scored, counted as a knowledge gap. Exactly one of choice, "
        "na and dont_know.",
    )
    comment = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=COMMENT_MAX_LENGTH
    )


class ResponseInSerializer(serializers.Serializer[Any]):
    team = serializers.SlugField(max_length=64)
    # many=True makes a ListSerializer, which takes max_length (DRF's LIST_SERIALIZER_KWARGS);
    # the stubs check the arguments against AnswerInSerializer instead.
    answers = AnswerInSerializer(many=True, allow_empty=False, max_length=1000)  # type: ignore[call-arg]
    respondent = serializers.CharField(
        required=False,
        max_length=150,
        help_text="Admins only: username (named surveys) or an opaque external id (anonymous).",
    )


# The survey, its framework and its team ``slug``, with whether the requester is a member,
# in one statement. Raw SQL, measured: the same read through the ORM (a join through the
# survey's teams plus an Exists) costs 1.1 ms more CPU to build than to run, on every
# submission (benchmarks/exports.py --api-only). Tables and columns come from the models.
_TARGET_COLUMNS = ", ".join(
    columns_of(model, alias) for model, alias in ((Survey, "s"), (Framework, "f"), (Team, "t"))
)
_TARGET_SQL = (
    f"SELECT {_TARGET_COLUMNS}, EXISTS (SELECT 1"  # noqa: S608 - names from the models
    f" FROM {Membership._meta.db_table} m"
    " WHERE m.team_id = t.id AND m.user_id = %s)"
    f" FROM {Survey._meta.db_table} s"
    f" JOIN {Framework._meta.db_table} f ON f.id = s.framework_id"
    f" JOIN {Survey.teams.through._meta.db_table} st ON st.survey_id = s.id"
    f" JOIN {Team._meta.db_table} t ON t.id = st.team_id"
    " WHERE s.id = %s AND t.slug = %s"
)
_WIDTHS = [len(model._meta.concrete_fields) for model in (Survey, Framework, Team)]


class RequesterMembership(TypedDict):
    """Whether the requesting user is a member of a team: set on the team by the reads
    below, so that the submission's member check (services.submission_respondent) spares
    a query."""

    requester_is_member: bool


if TYPE_CHECKING:  # WithAnnotations[Model, TypedDict] raises TypeError at run time (3.11)
    MemberCheckedTeam: TypeAlias = WithAnnotations[Team, RequesterMembership]


def submission_target(
    survey_id: int, slug: object, user: User
) -> tuple[Survey, MemberCheckedTeam] | None:
    """Return survey ``survey_id`` (its framework loaded) and its team ``slug``, if plainly
    allowed; the team carries ``requester_is_member``.

    Plainly allowed: ``user`` is an admin, or a member of that team and the survey is no
    draft, so the survey is one ``api_surveys`` gives them. Anything else (including a slug
    that is not one) returns None, and the caller takes the general path that words the
    error (404, 400 or 403).
    """
    if type(slug) is not str or not storable(slug) or not fits_primary_key(Survey, survey_id):
        return None  # validated_submission words what is wrong with the slug
    with connection.cursor() as cursor:
        cursor.execute(_TARGET_SQL, [user.pk, survey_id, slug])
        row = cursor.fetchone()
    if row is None:
        return None
    ends = [sum(_WIDTHS[: i + 1]) for i in range(3)]
    survey = instance_from_row(Survey, row[: ends[0]])
    survey.framework = instance_from_row(Framework, row[ends[0] : ends[1]])
    team = cast("MemberCheckedTeam", instance_from_row(Team, row[ends[1] : ends[2]]))
    team.requester_is_member = bool(row[ends[2]])
    if user.is_staff or (team.requester_is_member and survey.status != Survey.Status.DRAFT):
        return survey, team
    return None


def survey_team(survey: Survey, slug: str, user: User) -> MemberCheckedTeam | None:
    """Return the survey's team ``slug``, annotated with whether ``user`` is a member."""
    return (
        survey.teams.filter(slug=slug)
        .annotate(
            requester_is_member=Exists(
                Membership.objects.filter(team_id=OuterRef("pk"), user_id=user.pk)
            )
        )
        .first()
    )


def validated_submission(
    data: Any, survey: Survey, user: User, team: Team | None = None
) -> tuple[Team, SubmissionBody, list[services.AnswerInput], TeamPlan]:
    """Check a submission body and its answers against the survey and the questions the
    team is asked (returned too); raise a 400 with field errors (``{"team": [...],
    "answers": [{...}, {}]}``) when anything is wrong.

    ``team``, when the caller found it already (submission_target), spares a query.
    """
    body, errors = submission_body(data)
    if body is None:
        raise serializers.ValidationError(errors)
    if team is None or team.slug != body.team:
        team = survey_team(survey, body.team, user)
    if team is None:
        raise serializers.ValidationError(
            {"team": [f"Team '{body.team}' is not part of this survey."]}
        )
    plan = team_plan(survey, team)
    answers, answer_errors = answer_inputs(body.answers, answer_rules(survey.framework), plan)
    if answer_errors:
        raise serializers.ValidationError({"answers": answer_errors})
    return team, body, answers, plan


class ResponseOutSerializer(serializers.ModelSerializer[Response]):
    team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    answer_count = serializers.SerializerMethodField()

    class Meta:
        model = Response
        fields = ["id", "survey", "team", "status", "started_at", "submitted_at", "answer_count"]

    def get_answer_count(self, response: Response) -> int:
        known = getattr(response, "answer_count", None)  # set by a submission just made
        return known if known is not None else response.answers.count()


def _idempotency_key(request: Request) -> str | None:
    """Return the request's Idempotency-Key header, if any; a 400 when it cannot be one."""
    key = request.headers.get("Idempotency-Key") or None
    if key is not None and len(key) > 255:
        raise serializers.ValidationError({"Idempotency-Key": ["At most 255 characters."]})
    if not storable(key):
        raise serializers.ValidationError({"Idempotency-Key": ["Null characters are not allowed."]})
    return key


def request_fingerprint(data: Any) -> str:
    """Return the sha256 of a parsed request body in canonical JSON (keys sorted).

    Two requests with the same content have the same fingerprint whatever their key order
    or whitespace; stored with an Idempotency-Key, it tells a retry from a different
    submission that reuses the key.
    """
    if hasattr(data, "lists"):  # a form-encoded QueryDict: every value of every key
        data = {key: values for key, values in data.lists()}
    canonical = orjson.dumps(data, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(canonical).hexdigest()


class SurveyResponsesView(APIView):
    @extend_schema(
        operation_id="survey_responses_create",
        request=ResponseInSerializer,
        responses={
            201: ResponseOutSerializer,
            409: OpenApiResponse(
                ErrorSerializer,
                description="The survey is closed (`closed`), or another submitter used the "
                "Idempotency-Key (`idempotency_key_in_use`).",
            ),
            422: OpenApiResponse(
                ErrorSerializer,
                description="The Idempotency-Key was used before with a different request "
                "body (`idempotency_key_reused`).",
            ),
        },
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="A replay with the same key and body returns the first result "
                "(header `Idempotent-Replayed: true`) and writes nothing; the same key with "
                "another body is a 422 `idempotency_key_reused`. At most 255 characters.",
            )
        ],
        description="Submit a complete response for a team. Resubmitting replaces the "
        "respondent's earlier response. 400 with field errors or "
        '`{"code": "incomplete", "missing": [keys]}`, 403 for a team you are not in, 409 '
        "when the survey is closed (`closed`) or another submitter used the Idempotency-Key "
        "(`idempotency_key_in_use`).",
    )
    def post(self, request: Request, survey_id: int) -> ApiResponse:
        try:
            data, unparsable = request.data, None
        except (ParseError, UnsupportedMediaType) as error:  # answered after a 404, as before
            data, unparsable = None, error
        slug = data.get("team") if isinstance(data, dict) else None
        user = request_user(request)
        target = submission_target(survey_id, slug, user)
        team: Team | None
        if target is None:
            surveys = api_surveys(user).select_related("framework")
            survey, team = get_object_or_404(surveys, pk=survey_id), None
            if unparsable is not None:
                raise unparsable
        else:
            survey, team = target
        idempotency_key = _idempotency_key(request)
        team, body, answers, plan = validated_submission(data, survey, user, team)
        result = services.response_submit_as(
            survey=survey,
            team=team,
            requester=user,
            answers=answers,
            on_behalf=body.respondent,
            idempotency_key=idempotency_key,
            idempotency_fingerprint=request_fingerprint(data) if idempotency_key else "",
            plan=plan,
        )
        return self._created(result.response, replayed=result.replayed)

    # One serializer renders every response, as a list serializer's child does: building
    # a ModelSerializer's fields anew on each request cost more than the rendering.
    _out = ResponseOutSerializer()

    @classmethod
    def _created(cls, response: Response, *, replayed: bool) -> ApiResponse:
        """Answer 201 with the response (``Idempotent-Replayed: true`` for a replay)."""
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        return ApiResponse(
            cls._out.to_representation(response), status=status.HTTP_201_CREATED, headers=headers
        )


# --- team profiles ---------------------------------------------------------------------------


class TeamProfileSerializer(serializers.Serializer[Any]):
    """A team's profile in a survey, with how many questions it leaves the team."""

    survey = serializers.IntegerField()
    team = serializers.CharField(help_text="Team slug.")
    status = serializers.ChoiceField(
        choices=["none", "proposed", "confirmed"],
        help_text="`none`: no profile (every question is asked); `proposed`: declared by a "
        "respondent, applies until a manager confirms or edits it; `confirmed`.",
    )
    serving = serializers.ListField(child=serializers.ChoiceField(choices=SERVING))
    model_kinds = serializers.ListField(child=serializers.ChoiceField(choices=MODEL_KINDS))
    gpu = serializers.BooleanField()
    regulated = serializers.BooleanField()
    declared_by = serializers.CharField(
        allow_null=True, help_text="Username; null in anonymous surveys and when unknown."
    )
    confirmed_by = serializers.CharField(allow_null=True, help_text="Username of the manager.")
    confirmed_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)
    asked = serializers.IntegerField(help_text="Questions the team's respondents answer.")
    inherited = serializers.IntegerField(
        help_text="Platform and org questions a team above it answers for it."
    )
    out_of_scope = serializers.IntegerField(help_text="Questions its profile excludes.")


class TeamProfileInSerializer(serializers.Serializer[Any]):
    serving = serializers.ListField(
        child=serializers.ChoiceField(choices=SERVING),
        max_length=len(SERVING),
        help_text="How its models are used; `none` (not served) stands alone.",
    )
    model_kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=MODEL_KINDS), max_length=len(MODEL_KINDS)
    )
    gpu = serializers.BooleanField(required=False, default=False)
    regulated = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        if isinstance(self.initial_data, dict):
            for name in sorted(set(self.initial_data) - set(self.fields), key=str)[:10]:
                errors[str(name)[:64]] = ["Unknown field."]
        errors.update(profile_problems(attrs["serving"], attrs["model_kinds"]))
        if errors:
            raise serializers.ValidationError(errors)
        attrs["serving"] = canonical(attrs["serving"], SERVING)
        attrs["model_kinds"] = canonical(attrs["model_kinds"], MODEL_KINDS)
        return attrs


def profile_payload(survey: Survey, team: Team) -> dict[str, Any]:
    """Return what the profile endpoint answers for ``team`` in ``survey``."""
    profile = team_profile(survey, team)
    plan = team_plan(survey, team)
    status_ = "none"
    if profile is not None:
        status_ = "confirmed" if profile.confirmed_at else "proposed"
    return {
        "survey": survey.pk,
        "team": team.slug,
        "status": status_,
        "serving": profile.serving if profile else [],
        "model_kinds": profile.model_kinds if profile else [],
        "gpu": profile.gpu if profile else False,
        "regulated": profile.regulated if profile else False,
        "declared_by": _username(profile.declared_by if profile else None),
        "confirmed_by": _username(profile.confirmed_by if profile else None),
        "confirmed_at": profile.confirmed_at if profile else None,
        "updated_at": profile.updated_at if profile else None,
        "asked": len(plan.asked),
        "inherited": len(plan.inherited),
        "out_of_scope": len(plan.out_of_scope),
    }


def _username(user: User | None) -> str | None:
    return user.get_username() if user is not None else None


# The slug as the URL's slug converter takes it (drf-spectacular documents it as any string).
TEAM_SLUG = OpenApiParameter(
    "slug", str, OpenApiParameter.PATH, pattern=r"^[-a-zA-Z0-9_]+$", description="Team slug."
)


class TeamProfileView(APIView):
    """GET/PUT /api/v1/surveys/{survey_id}/teams/{slug}/profile/."""

    def _target(self, request: Request, survey_id: int, slug: str) -> tuple[Survey, Team]:
        """Return the survey and its team ``slug`` if the requester may read the profile;
        else a 404, as for anything one may not see."""
        user = request_user(request)
        if fits_primary_key(Survey, survey_id):
            survey = api_surveys(user).select_related("framework").filter(pk=survey_id).first()
            team = survey.teams.filter(slug=slug).first() if survey is not None else None
            if survey is not None and team is not None:
                if services.user_can_read_profile(user, team):
                    return survey, team
        raise NotFound("No such survey team for you.")

    @extend_schema(
        operation_id="survey_team_profile_retrieve",
        parameters=[TEAM_SLUG],
        responses={200: TeamProfileSerializer},
        description="The team's profile in this survey (serving, model kinds, gpu, "
        "regulated) and how many questions it leaves the team: `asked`, `inherited` from a "
        "team above it, `out_of_scope`. `status` is `none` when no profile was declared "
        "(every question is asked). Members of the team, its managers and admins.",
    )
    def get(self, request: Request, survey_id: int, slug: str) -> ApiResponse:
        survey, team = self._target(request, survey_id, slug)
        return ApiResponse(TeamProfileSerializer(profile_payload(survey, team)).data)

    @extend_schema(
        operation_id="survey_team_profile_update",
        parameters=[TEAM_SLUG],
        request=TeamProfileInSerializer,
        responses={
            200: TeamProfileSerializer,
            403: OpenApiResponse(
                ErrorSerializer,
                description="Members read the profile; only its managers "
                "and admins write it (`permission_denied`).",
            ),
            409: OpenApiResponse(ErrorSerializer, description="The survey is closed (`closed`)."),
        },
        description="Set the team's profile as its manager or an admin; it is confirmed (a "
        "respondent's proposal too). 400 with field errors for unknown fields or values, an "
        "empty list, or `none` combined with another serving value. The team is re-scored: "
        "answers to questions that fall out of scope stay stored and no longer count.",
    )
    def put(self, request: Request, survey_id: int, slug: str) -> ApiResponse:
        survey, team = self._target(request, survey_id, slug)
        user = request_user(request)
        if not services.user_manages_team(user, team):
            raise PermissionDenied(
                "Only a manager of this team or an admin may change its profile."
            )
        body = TeamProfileInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.profile_set(
            survey=survey,
            team=team,
            values=services.ProfileInput(**body.validated_data),
            set_by=user,
        )
        return ApiResponse(TeamProfileSerializer(profile_payload(survey, team)).data)

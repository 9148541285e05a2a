"""Survey content and campaigns over the API (DESIGN.md section 5).

Frameworks (read), teams, memberships, surveys (admins write; others read what they may)
and the submission endpoint POST /api/v1/surveys/{id}/responses/.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import django_filters
import orjson
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.shortcuts import get_object_or_404
from django.utils.crypto import salted_hmac
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
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
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from common.api import (
    Cursor,
    ErrorSerializer,
    IsAdminOrReadOnly,
    SlugRelated,
)
from common.db import JoinedRow, fits_primary_key
from common.text import storable
from maturity.models import Choice, Dimension, Framework, Level, Question
from maturity.selectors import AnswerRules, answer_rules
from surveys import services
from surveys.models import Membership, Response, Survey, Team
from surveys.selectors import api_surveys, api_teams, framework_outline, managed_team_ids
from surveys.validation import COMMENT_MAX_LENGTH, answer_problems

User = get_user_model()


def rule_violation(error: services.SurveyError, status_code: int = 400) -> ApiResponse:
    """Answer a domain rule violation as ``{"detail", "code"}``."""
    return ApiResponse({"detail": error.message, "code": error.code}, status=status_code)


# --- frameworks ------------------------------------------------------------------------------


class ChoiceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Choice
        fields = ["score", "label", "description", "next_step"]


class QuestionSerializer(serializers.ModelSerializer):
    choices = ChoiceSerializer(many=True, read_only=True)
    requires = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Question
        fields = [
            "key",
            "text",
            "guidance",
            "weight",
            "allow_na",
            "order",
            "max_score",
            "requires",
            "choices",
        ]


class DimensionSerializer(serializers.ModelSerializer):
    questions = QuestionSerializer(many=True, read_only=True)

    class Meta:
        model = Dimension
        fields = ["key", "name", "description", "weight", "order", "questions"]


class LevelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Level
        fields = ["number", "name", "threshold", "description"]


class FrameworkSerializer(serializers.ModelSerializer):
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


class FrameworkDetailSerializer(serializers.ModelSerializer):
    levels = LevelSerializer(many=True, read_only=True)
    dimensions = DimensionSerializer(many=True, read_only=True, source="outline")

    class Meta:
        model = Framework
        fields = ["slug", "version", "title", "description", "published", "levels", "dimensions"]


class FrameworkQuerySerializer(serializers.Serializer):
    version = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)


@extend_schema_view(
    list=extend_schema(description="The latest published version of each framework."),
    retrieve=extend_schema(
        description="One framework with its levels, dimensions, questions and choices: the "
        "latest published version, or `?version=`.",
        parameters=[FrameworkQuerySerializer],
    ),
)
class FrameworkViewSet(viewsets.ReadOnlyModelViewSet):
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

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return FrameworkDetailSerializer if self.action == "retrieve" else FrameworkSerializer

    def get_object(self) -> Framework:
        query = FrameworkQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        versions = Framework.objects.filter(slug=self.kwargs["slug"])
        if not self.request.user.is_staff:
            versions = versions.filter(published=True)
        version = query.validated_data.get("version")
        if version is not None:
            versions = versions.filter(version=version)
        framework = versions.prefetch_related("levels").order_by("-version").first()
        if framework is None:
            raise NotFound("No such framework (or version).")
        framework.outline = framework_outline(framework)
        return framework


# --- teams and memberships -------------------------------------------------------------------


class TeamSerializer(serializers.ModelSerializer):
    parent = SlugRelated(
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
        team = self.instance
        ancestor = parent
        while team is not None and ancestor is not None:
            if ancestor.pk == team.pk:
                raise serializers.ValidationError("A team cannot be its own ancestor.")
            ancestor = ancestor.parent
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
    viewsets.GenericViewSet,
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
        return api_teams(self.request.user).select_related("parent")


class MembershipSerializer(serializers.ModelSerializer):
    user = SlugRelated(slug_field="username", queryset=User.objects.all())
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
class MembershipViewSet(viewsets.ModelViewSet):
    queryset = Membership.objects.none()  # for the schema; get_queryset narrows
    serializer_class = MembershipSerializer
    permission_classes = [IsAdminOrReadOnly]
    pagination_class = Cursor
    cursor_ordering = "id"
    filterset_class = MembershipFilter

    def get_queryset(self) -> QuerySet[Membership]:
        user = self.request.user
        memberships = Membership.objects.select_related("user", "team")
        if user.is_staff:
            return memberships
        managed = managed_team_ids(user) or set()
        return memberships.filter(Q(team_id__in=managed) | Q(user=user))


# --- surveys ---------------------------------------------------------------------------------


class SurveySerializer(serializers.ModelSerializer):
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
            "created_at",
        ]
        read_only_fields = ["status", "created_at"]
        extra_kwargs = {"min_group_size": {"min_value": 1}}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        survey: Survey | None = self.instance
        errors: dict[str, list[str]] = {}
        wanted = attrs.pop("framework", None)
        if wanted is not None:
            versions = Framework.objects.filter(slug=wanted["slug"], published=True)
            if "version" in wanted:
                versions = versions.filter(version=wanted["version"])
            framework = versions.order_by("-version").first()
            if framework is None:
                errors["framework"] = ["No such published framework (or version)."]
            else:
                attrs["framework"] = framework
        opens_at = attrs.get("opens_at", survey.opens_at if survey else None)
        closes_at = attrs.get("closes_at", survey.closes_at if survey else None)
        if opens_at and closes_at and closes_at <= opens_at:
            errors["closes_at"] = ["Must be after opens_at."]
        already = set(survey.teams.values_list("pk", flat=True)) if survey else set()
        archived = sorted(
            team.slug
            for team in attrs.get("teams", [])
            if team.archived_at is not None and team.pk not in already
        )
        if archived:
            errors["teams"] = [f"Archived teams cannot join a survey: {archived}."]
        if survey is not None and survey.responses.exists():
            if "framework" in attrs and attrs["framework"].pk != survey.framework_id:
                errors["framework"] = ["The survey has responses: its framework is fixed."]
            if "anonymous" in attrs and attrs["anonymous"] != survey.anonymous:
                errors["anonymous"] = ["The survey has responses: anonymity is fixed."]
            if "teams" in attrs:
                kept = {team.pk for team in attrs["teams"]}
                answered = set(survey.responses.values_list("team__slug", "team_id"))
                dropped = sorted(slug for slug, pk in answered if pk not in kept)
                if dropped:
                    errors["teams"] = [f"Teams with responses cannot be removed: {dropped}."]
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
    viewsets.GenericViewSet,
):
    queryset = Survey.objects.none()  # for the schema; get_queryset narrows
    serializer_class = SurveySerializer
    permission_classes = [IsAdminOrReadOnly]
    pagination_class = Cursor
    filterset_class = SurveyFilter

    def get_queryset(self) -> QuerySet[Survey]:
        return api_surveys(self.request.user).select_related("framework").prefetch_related("teams")

    @action(detail=True, methods=["post"])
    def open(self, request: Request, pk: str | None = None) -> ApiResponse:
        survey = self.get_object()
        try:
            services.survey_open(survey=survey)
        except services.SurveyError as error:
            return rule_violation(error)
        return ApiResponse(self.get_serializer(survey).data)

    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str | None = None) -> ApiResponse:
        survey = self.get_object()
        services.survey_close(survey=survey)
        return ApiResponse(self.get_serializer(survey).data)


# --- responses -------------------------------------------------------------------------------


class AnswerInSerializer(serializers.Serializer):
    question = serializers.CharField(max_length=64, help_text="Question key.")
    choice = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=32767,
        help_text="Choice score; null with na.",
    )
    na = serializers.BooleanField(required=False, default=False)
    comment = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=COMMENT_MAX_LENGTH
    )


class ResponseInSerializer(serializers.Serializer):
    team = serializers.SlugField(max_length=64)
    answers = AnswerInSerializer(many=True, allow_empty=False, max_length=1000)
    respondent = serializers.CharField(
        required=False,
        max_length=150,
        help_text="Admins only: username (named surveys) or an opaque external id (anonymous).",
    )

    def validate_team(self, slug: str) -> Any:
        team = survey_team(self.context["survey"], slug, self.context["user"])
        if team is None:
            raise serializers.ValidationError(f"Team '{slug}' is not part of this survey.")
        return team

    def validate_answers(self, answers: list[dict[str, Any]]) -> list[services.AnswerInput]:
        return answer_inputs(answers, answer_rules(self.context["survey"].framework))


_TARGET = JoinedRow((Survey, "s"), (Framework, "f"), (Team, "t"))
_TARGET_SQL = (
    f"SELECT {_TARGET.select_list}, EXISTS (SELECT 1"  # noqa: S608 - our table names
    f" FROM {Membership._meta.db_table} m WHERE m.team_id = t.id AND m.user_id = %s)"
    f" FROM {Survey._meta.db_table} s"
    f" JOIN {Framework._meta.db_table} f ON f.id = s.framework_id"
    f" JOIN {Survey.teams.through._meta.db_table} st ON st.survey_id = s.id"
    f" JOIN {Team._meta.db_table} t ON t.id = st.team_id"
    " WHERE s.id = %s AND t.slug = %s"
)


def _survey_and_team(survey_id: int, slug: str, user: Any) -> tuple[Survey, Team] | None:
    """Return survey ``survey_id`` (its framework loaded) and its team ``slug``, if any.

    No permission check. The team carries ``requester_is_member``. One plain statement:
    the ORM's version (the survey, a join through its teams plus an Exists) cost ~2 ms
    more to build than to run, on every submission.
    """
    if not fits_primary_key(Survey, survey_id):
        return None
    with connection.cursor() as cursor:
        cursor.execute(_TARGET_SQL, [user.pk, survey_id, slug])
        row = cursor.fetchone()
    if row is None:
        return None
    (survey, framework, team), (is_member,) = _TARGET.read(row)
    survey.framework = framework
    team.requester_is_member = bool(is_member)
    return survey, team


def survey_team(survey: Survey, slug: str, user: Any) -> Team | None:
    """Return the survey's team ``slug``, annotated with whether ``user`` is a member."""
    found = _survey_and_team(survey.pk, slug, user)
    return found[1] if found else None


def submission_target(survey_id: int, slug: str, user: Any) -> tuple[Survey, Team] | None:
    """Return the survey (its framework loaded) and its team ``slug``, if plainly allowed.

    Plainly allowed: ``user`` is an admin, or a member of that team and the survey is no
    draft, so the survey is one ``api_surveys`` gives them. Anything else returns None,
    and the caller takes the general path that words the error (404, 400 or 403).
    """
    found = _survey_and_team(survey_id, slug, user)
    if found is None:
        return None
    survey, team = found
    if user.is_staff or (team.requester_is_member and survey.status != Survey.Status.DRAFT):
        return found
    return None


def answer_inputs(answers: list[dict[str, Any]], rules: AnswerRules) -> list[services.AnswerInput]:
    """Check answers (already of the right types) against the framework; raise field errors.

    Errors come as one dict per answer, in order (``{}`` for a good one), as DRF reports
    errors of a list of objects.
    """
    errors: list[dict[str, list[str]]] = []
    seen: set[str] = set()
    result = []
    for answer in answers:
        error: dict[str, list[str]] = {}
        question = rules.questions.get(answer["question"])
        choice, na = answer.get("choice"), answer.get("na", False)
        comment = answer.get("comment", "")
        if question is None:
            error["question"] = [f"Unknown question key '{answer['question']}'."]
        elif answer["question"] in seen:
            error["question"] = [f"Question '{answer['question']}' is answered twice."]
        else:
            error = answer_problems(
                question, rules.offered[question.pk], choice=choice, na=na, comment=comment
            )
        errors.append(error)
        if not error:
            seen.add(question.key)
            result.append(
                services.AnswerInput(question=question, score=choice, na=na, comment=comment)
            )
    if any(errors):
        raise serializers.ValidationError(errors)
    return result


_SLUG = re.compile(r"[-a-zA-Z0-9_]+")


def _text(value: Any, max_length: int, *, blank: bool) -> bool:
    """Tell whether DRF's CharField would take ``value`` unchanged (no coercion, no trim)."""
    return (
        type(value) is str
        and len(value) <= max_length
        and (blank or value != "")
        and value == value.strip()
        and storable(value)
    )


def plain_submission(data: Any) -> dict[str, Any] | None:
    """Return a submission body as ResponseInSerializer would validate it, if it is plain.

    Plain means every value already has the exact type and form the serializer would
    produce (strings untrimmed by it, integers as integers, booleans as booleans), so
    validating it with DRF's field machinery would change nothing. That costs
    several milliseconds for 50 answers, so plain bodies, which is what clients send, skip
    it. Anything else returns None and goes through the serializer, which words the errors.
    The answers are checked against the framework by ``answer_inputs`` in both cases.
    """
    if type(data) is not dict:
        return None
    team, answers = data.get("team"), data.get("answers")
    if not (type(team) is str and len(team) <= 64 and _SLUG.fullmatch(team)):
        return None
    if "respondent" in data and not _text(data["respondent"], 150, blank=False):
        return None
    if type(answers) is not list or not 1 <= len(answers) <= 1000:
        return None
    plain = []
    for answer in answers:
        if type(answer) is not dict:
            return None
        question = answer.get("question")
        choice = answer.get("choice")
        na = answer.get("na", False)
        comment = answer.get("comment", "")
        if not (
            _text(question, 64, blank=False)
            and (choice is None or (type(choice) is int and 0 <= choice <= 32767))
            and type(na) is bool
            and _text(comment, COMMENT_MAX_LENGTH, blank=True)
        ):
            return None
        plain.append({"question": question, "choice": choice, "na": na, "comment": comment})
    body = {"team": team, "answers": plain}
    if "respondent" in data:
        body["respondent"] = data["respondent"]
    return body


class ResponseOutSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    answer_count = serializers.SerializerMethodField()

    class Meta:
        model = Response
        fields = ["id", "survey", "team", "status", "started_at", "submitted_at", "answer_count"]

    def get_answer_count(self, response: Response) -> int:
        known = getattr(response, "answer_count", None)  # set by a submission just made
        return known if known is not None else response.answers.count()


# HTTP status of the domain errors a submission can raise; any other code is a 400.
SUBMISSION_ERROR_STATUS = {
    "closed": status.HTTP_409_CONFLICT,
    "idempotency_key_reused": status.HTTP_422_UNPROCESSABLE_ENTITY,
}


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
            plain, unparsable = plain_submission(request.data), None
        except (ParseError, UnsupportedMediaType) as error:  # answered after a 404, as before
            plain, unparsable = None, error
        target = submission_target(survey_id, plain["team"], request.user) if plain else None
        if target is None:
            surveys = api_surveys(request.user).select_related("framework")
            survey = get_object_or_404(surveys, pk=survey_id)
            if unparsable is not None:
                raise unparsable
        else:
            survey = target[0]
        idempotency_key = request.headers.get("Idempotency-Key") or None
        if idempotency_key is not None and len(idempotency_key) > 255:
            return ApiResponse(
                {"Idempotency-Key": ["At most 255 characters."]}, status=status.HTTP_400_BAD_REQUEST
            )
        if not storable(idempotency_key):
            return ApiResponse(
                {"Idempotency-Key": ["Null characters are not allowed."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        fingerprint = request_fingerprint(request.data) if idempotency_key else ""
        if idempotency_key:
            try:
                earlier = services.response_replay(survey, idempotency_key, fingerprint)
            except services.SurveyError as error:
                return rule_violation(error, status.HTTP_422_UNPROCESSABLE_ENTITY)
            if earlier is not None:
                return self._replayed(request.user, survey, earlier)
        data = self._validated(request, survey, plain, target[1] if target else None)
        team = data["team"]
        respondent, respondent_key = self._respondent(request, survey, team, data)
        try:
            result = services.response_submit(
                survey=survey,
                team=team,
                respondent=respondent,
                respondent_key=respondent_key,
                answers=data["answers"],
                idempotency_key=idempotency_key,
                idempotency_fingerprint=fingerprint,
            )
        except services.SurveyError as error:
            if error.code == "incomplete":
                body = {"detail": error.message, "code": error.code, "missing": error.details}
                return ApiResponse(body, status=status.HTTP_400_BAD_REQUEST)
            return rule_violation(error, SUBMISSION_ERROR_STATUS.get(error.code, 400))
        if result.replayed:  # a concurrent request with the key stored it first
            return self._replayed(request.user, survey, result.response)
        return self._created(result.response, replayed=False)

    @staticmethod
    def _validated(
        request: Request, survey: Survey, plain: dict[str, Any] | None, team: Team | None
    ) -> dict[str, Any]:
        """Return the submission's validated data: a team, AnswerInputs, maybe a respondent.

        ``plain`` is the body if plain_submission took it, ``team`` its team if
        submission_target found it.
        """
        if plain is not None and team is None:
            team = survey_team(survey, plain["team"], request.user)
        if team is None:  # not plain, or an unknown team: the serializer words the errors
            context = {"survey": survey, "user": request.user}
            serializer = ResponseInSerializer(data=request.data, context=context)
            serializer.is_valid(raise_exception=True)
            return serializer.validated_data
        try:
            answers = answer_inputs(plain["answers"], answer_rules(survey.framework))
        except serializers.ValidationError as error:
            raise serializers.ValidationError({"answers": error.detail}) from None
        return {**plain, "team": team, "answers": answers}

    @classmethod
    def _replayed(cls, user: Any, survey: Survey, earlier: Response) -> ApiResponse:
        """Answer a replay: the first result, to whoever submitted it or an admin only."""
        if user.is_staff or earlier.respondent_key == services.respondent_key_for(user, survey):
            return cls._created(earlier, replayed=True)
        error = services.SurveyError(
            "This Idempotency-Key was already used for another submission; use a new key.",
            code="idempotency_key_in_use",
        )
        return rule_violation(error, status.HTTP_409_CONFLICT)

    # One serializer renders every response, as a list serializer's child does: building
    # a ModelSerializer's fields anew on each request cost more than the rendering.
    _out = ResponseOutSerializer()

    @classmethod
    def _created(cls, response: Response, *, replayed: bool) -> ApiResponse:
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        return ApiResponse(
            cls._out.to_representation(response), status=status.HTTP_201_CREATED, headers=headers
        )

    @staticmethod
    def _respondent(request: Request, survey: Survey, team: Any, data: dict) -> tuple[Any, str]:
        on_behalf = data.get("respondent")
        if on_behalf:
            if not request.user.is_staff:
                raise serializers.ValidationError(
                    {"respondent": ["Only admins may submit on behalf of others."]}
                )
            if survey.anonymous:
                digest = salted_hmac("surveys.external", f"{survey.pk}:{on_behalf}").hexdigest()
                return None, f"x:{digest[:32]}"
            user = User.objects.filter(username=on_behalf).first()
            if user is None:
                raise serializers.ValidationError({"respondent": [f"No user '{on_behalf}'."]})
            return user, services.respondent_key_for(user, survey)
        if not team.requester_is_member:
            raise PermissionDenied(f"You are not a member of team '{team.slug}'.")
        user = None if survey.anonymous else request.user
        return user, services.respondent_key_for(request.user, survey)

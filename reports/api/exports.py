"""GET /api/v1/exports/answers/ and /exports/scores/: admins only, streamed, audited."""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from reports.api.common import IsAdmin
from reports.exports import ANSWER_COLUMNS, FORMATS, SCORE_COLUMNS, ExportRequest, export_start
from reports.models import ApiToken
from surveys.models import Survey


class ExportQuerySerializer(serializers.Serializer):
    survey = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="Survey id.")
    team = serializers.SlugField(required=False, max_length=64, help_text="One team's slug.")
    since = serializers.DateTimeField(
        required=False,
        help_text="ISO 8601. Answers submitted (scores computed) at or after this time.",
    )
    format = serializers.ChoiceField(choices=FORMATS, default="csv")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        survey = Survey.objects.filter(pk=attrs["survey"]).first()
        if survey is None:
            raise serializers.ValidationError({"survey": [f"No survey {attrs['survey']}."]})
        attrs["survey"] = survey
        slug = attrs.get("team")
        if slug:
            team = survey.teams.filter(slug=slug).first()
            if team is None:
                raise serializers.ValidationError(
                    {"team": [f"Team '{slug}' is not part of this survey."]}
                )
            attrs["team"] = team
        return attrs


class JsonErrorsOnly(BaseContentNegotiation):
    """Answer errors in JSON whatever ``Accept`` says; ``?format=`` picks the file type."""

    def select_parser(self, request: Request, parsers: list) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(
        self, request: Request, renderers: list, format_suffix: str | None = None
    ) -> tuple[Any, str]:
        return JSONRenderer(), JSONRenderer.media_type


def _row_schema(columns: list[str], types: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {name: types.get(name, {"type": "string"}) for name in columns},
            "required": columns,
        },
    }


_NULLABLE_INT = {"type": "integer", "nullable": True}
_NULLABLE_NUMBER = {"type": "number", "nullable": True}
_NULLABLE_STRING = {"type": "string", "nullable": True}
_ANSWER_TYPES = {
    "survey_id": {"type": "integer"},
    "response_id": {"type": "integer"},
    "submitted_at": {"type": "string", "format": "date-time"},
    "choice_label": _NULLABLE_STRING,
    "score": _NULLABLE_INT,
    "max_score": {"type": "integer"},
    "na": {"type": "boolean"},
}
_SCORE_TYPES = {
    "survey_id": {"type": "integer"},
    "score": _NULLABLE_NUMBER,
    "level": _NULLABLE_INT,
    "n_respondents": {"type": "integer"},
    "disagreement": _NULLABLE_NUMBER,
}


def _responses(columns: list[str], types: dict[str, Any]) -> dict[Any, Any]:
    described = ", ".join(columns)
    return {
        (200, "text/csv"): OpenApiResponse(
            OpenApiTypes.STR, description=f"CSV with a header row: {described}."
        ),
        (200, "application/json"): OpenApiResponse(
            _row_schema(columns, types), description="A JSON array of row objects."
        ),
        (200, "application/x-ndjson"): OpenApiResponse(
            OpenApiTypes.STR, description="One JSON object per line."
        ),
        (
            200,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ): OpenApiResponse(OpenApiTypes.BINARY, description="XLSX, one header row per sheet."),
        (200, "application/vnd.apache.parquet"): OpenApiResponse(
            OpenApiTypes.BINARY, description="Parquet with typed columns, in row groups."
        ),
    }


class _ExportView(APIView):
    kind = ""
    permission_classes = [IsAdmin]
    content_negotiation_class = JsonErrorsOnly

    def get(self, request: Request) -> StreamingHttpResponse:
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        export_request = ExportRequest(kind=self.kind, **query.validated_data)
        token = request.auth if isinstance(request.auth, ApiToken) else None
        export = export_start(export_request, user=request.user, token=token)
        response = StreamingHttpResponse(export.stream(), content_type=export.content_type)
        response["Content-Disposition"] = f'attachment; filename="{export_request.filename()}"'
        response["X-Export-Id"] = str(export.audit.pk)
        return response


_COMMON = (
    "Admins only. Streamed in constant memory; `format` is csv (default), json (one array), "
    "ndjson, xlsx or parquet. Only counted (submitted) responses; teams withheld for "
    "anonymity have no rows. Every export is recorded in the audit log (header "
    "`X-Export-Id`)."
)


class AnswerExportView(_ExportView):
    kind = "answers"

    @extend_schema(
        operation_id="export_answers",
        parameters=[ExportQuerySerializer],
        responses=_responses(ANSWER_COLUMNS, _ANSWER_TYPES),
        description=f"One row per counted answer. {_COMMON} `respondent` is the username in "
        "named surveys and a pseudonym, stable within the survey, in anonymous ones.",
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        return super().get(request)


class ScoreExportView(_ExportView):
    kind = "scores"

    @extend_schema(
        operation_id="export_scores",
        parameters=[ExportQuerySerializer],
        responses=_responses(SCORE_COLUMNS, _SCORE_TYPES),
        description="Per team one `overall` row and one row per dimension, from the "
        f"persisted scores; `score` has 2 decimals, `disagreement` 4. {_COMMON}",
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        return super().get(request)

"""GET /api/v1/exports/answers/ and /exports/scores/: admins only, streamed, audited."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from common.api import IsAdmin
from reports.exports import ANSWER_COLUMNS, FORMATS, SCORE_COLUMNS, ExportRequest, export_start
from reports.models import ApiToken
from surveys.models import Survey


class ExportQuerySerializer(serializers.Serializer[Any]):
    survey = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="Survey id.")
    team = serializers.SlugField(required=False, max_length=64, help_text="One team's slug.")
    since = serializers.DateTimeField(
        required=False,
        help_text="ISO 8601. Answers submitted (scores computed) at or after this time.",
    )
    format = serializers.ChoiceField(choices=FORMATS, default="csv")
    bom = serializers.BooleanField(
        required=False,
        default=False,
        help_text="CSV only: start the file with a UTF-8 byte order mark, so that Excel "
        "reads it as UTF-8. A 400 with any other format.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["bom"] and attrs["format"] != "csv":
            raise serializers.ValidationError({"bom": ["bom applies to csv only."]})
        survey = Survey.objects.filter(pk=attrs["survey"]).first()
        if survey is None:
            raise serializers.ValidationError({"survey": [f"No survey {attrs['survey']}."]})
        since = attrs.get("since")
        if survey.anonymous and since is not None and since != _utc_day(since):
            # Rows appearing and vanishing as `since` moves would time a response to the
            # second, which anonymous exports never do (issue 13).
            midnight = f"{_utc_day(since):%Y-%m-%dT%H:%M:%SZ}"
            raise serializers.ValidationError(
                {
                    "since": [
                        "This survey is anonymous: exports carry no time finer than the day, "
                        f"so since must be a UTC midnight, e.g. {midnight}."
                    ]
                }
            )
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


def _utc_day(moment: datetime) -> datetime:
    """Return the UTC midnight that starts ``moment``'s UTC day (an aware datetime)."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


class JsonErrorsOnly(BaseContentNegotiation):
    """Answer errors in JSON whatever ``Accept`` says; ``?format=`` picks the file type."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
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
    "response_id": {"type": "integer", "nullable": True},  # null in anonymous surveys
    # the UTC day only in anonymous surveys
    "submitted_at": {
        "anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]
    },
    "choice_label": _NULLABLE_STRING,
    "score": _NULLABLE_INT,
    "max_score": {"type": "integer"},
    "na": {"type": "boolean"},
    "dont_know": {"type": "boolean"},
}
_SCORE_TYPES = {
    "survey_id": {"type": "integer"},
    "score": _NULLABLE_NUMBER,
    "level": _NULLABLE_INT,
    "n_respondents": {"type": "integer"},
    "disagreement": _NULLABLE_NUMBER,
    "dont_know": {"type": "integer"},
}


def _responses(columns: list[str], types: dict[str, Any]) -> dict[Any, Any]:
    described = ", ".join(columns)
    return {
        (200, "text/csv"): OpenApiResponse(
            OpenApiTypes.STR,
            description=f"CSV with a header row: {described}. UTF-8, rows end with LF, "
            "quoting as RFC 4180; a text cell starting with =, +, -, @, tab or CR gets a "
            "leading ' (CSV injection). `bom=true` starts the file with a UTF-8 BOM.",
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
        ): OpenApiResponse(
            OpenApiTypes.BINARY,
            description="XLSX, one header row per sheet; text is always a string cell, "
            "with OOXML _xHHHH_ escapes for CR and characters XML cannot hold.",
        ),
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
        if export.audit is not None:  # export_start always records one
            response["X-Export-Id"] = str(export.audit.pk)
        return response


_COMMON = (
    "Admins only. Streamed in constant memory; `format` is csv (default), json (one array), "
    "ndjson, xlsx or parquet; JSON, NDJSON and Parquet carry text exactly as stored. Only "
    "counted (submitted) responses; teams withheld for "
    "anonymity have no rows. Every export is recorded in the audit log (header "
    "`X-Export-Id`)."
)


class AnswerExportView(_ExportView):
    kind = "answers"

    @extend_schema(
        operation_id="export_answers",
        parameters=[ExportQuerySerializer],
        responses=_responses(ANSWER_COLUMNS, _ANSWER_TYPES),
        description=f"One row per counted answer. {_COMMON} `replaces`: the keys the "
        "question replaces from earlier framework versions, joined by spaces. `dont_know`: "
        'the answer was "don\'t know" (no choice, not N/A). `respondent` is the username in '
        "named surveys; in anonymous ones it is a pseudonym, stable within one survey and "
        "team and different between teams, `submitted_at` is the UTC day (YYYY-MM-DD) and "
        "`since` must be a UTC midnight.",
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
        "persisted scores; `score` has 2 decimals, `disagreement` 4; `dont_know` counts the "
        "don't-know answers (per dimension, and all of the team's for `overall`). "
        f"{_COMMON}",
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        return super().get(request)

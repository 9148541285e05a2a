"""Exports over the API, admins only, audited.

GET /api/v1/exports/answers/ and /exports/scores/ stream a file in the response, up to
EXPORT_SYNC_MAX_ROWS rows (a 413 above); POST /api/v1/exports/ creates an export job that a
worker writes into a file, GET /api/v1/exports/{id}/ shows its progress and a signed
download URL, GET /api/v1/exports/{id}/download/?token= gives the file.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.http import FileResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import ErrorSerializer, IsAdmin, request_user
from reports.exports import (
    ACTION_COLUMNS,
    ANSWER_COLUMNS,
    CONTENT_TYPES,
    FORMATS,
    KINDS,
    SCORE_COLUMNS,
    ExportRequest,
    export_download_token,
    export_download_token_valid,
    export_job_create,
    export_rows_upper_bound,
    export_start,
)
from reports.models import ApiToken, ExportJob
from reports.tasks import enqueue_export_job
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


class TooLargeSerializer(serializers.Serializer[dict[str, Any]]):
    detail = serializers.CharField()
    code = serializers.CharField(help_text="export_too_large")
    rows_estimated = serializers.IntegerField(
        help_text="An upper bound of the export's rows (counted responses x questions)."
    )
    max_rows = serializers.IntegerField(help_text="EXPORT_SYNC_MAX_ROWS.")
    jobs_url = serializers.CharField(help_text="Where to POST an export job instead.")
    job = serializers.DictField(help_text="The body to POST there for this export.")


def too_large(export_request: ExportRequest, rows: int) -> Response:
    """Answer 413: the export is larger than a request may stream; say what to do instead."""
    limit = settings.EXPORT_SYNC_MAX_ROWS
    job = {"kind": export_request.kind, **export_request.params()}
    return Response(
        {
            "detail": f"This export has up to {rows:,} rows, more than the {limit:,} that a "
            "request may stream (EXPORT_SYNC_MAX_ROWS). Create an export job instead: POST "
            "/api/v1/exports/ with the body in `job`, then poll the job for its download URL "
            "(or narrow the export with team or since).",
            "code": "export_too_large",
            "rows_estimated": rows,
            "max_rows": limit,
            "jobs_url": "/api/v1/exports/",
            "job": job,
        },
        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    )


def _responses(columns: list[str], types: dict[str, Any]) -> dict[Any, Any]:
    described = ", ".join(columns)
    return {
        (413, "application/json"): OpenApiResponse(
            TooLargeSerializer,
            description="More rows than EXPORT_SYNC_MAX_ROWS (an upper bound estimated "
            "before streaming): create an export job (POST /api/v1/exports/) instead.",
        ),
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

    def get(self, request: Request) -> HttpResponseBase:
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        export_request = ExportRequest(kind=self.kind, **query.validated_data)
        rows = export_rows_upper_bound(export_request)
        if rows > settings.EXPORT_SYNC_MAX_ROWS:
            return too_large(export_request, rows)
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
    "`X-Export-Id`). Exports of more rows than EXPORT_SYNC_MAX_ROWS (an upper bound, "
    "estimated before streaming) are a 413 pointing to export jobs (`POST /api/v1/exports/`)."
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
    def get(self, request: Request) -> HttpResponseBase:
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
    def get(self, request: Request) -> HttpResponseBase:
        return super().get(request)


_ACTION_TYPES = {
    "action_id": {"type": "integer"},
    "survey_id": {"type": "integer"},
    "owner": {"type": "string", "nullable": True},
    "due": {"type": "string", "format": "date", "nullable": True},
    "baseline_score": _NULLABLE_INT,
    "verified_score": _NULLABLE_INT,
    "verified_survey_id": _NULLABLE_INT,
    "created_at": {"type": "string", "format": "date-time"},
    "updated_at": {"type": "string", "format": "date-time"},
    "done_at": {"type": "string", "format": "date-time", "nullable": True},
}


class ActionExportView(_ExportView):
    kind = "actions"

    @extend_schema(
        operation_id="export_actions",
        parameters=[ExportQuerySerializer],
        responses=_responses(ACTION_COLUMNS, _ACTION_TYPES),
        description="One row per improvement action created from the round's roadmap "
        "(`since`: changed at or after), with its status, the next round's verdict "
        "(`verification`: verified, not_reflected or empty) and the choices it compared "
        f"(`baseline_score` -> `verified_score`). {_COMMON}",
    )
    def get(self, request: Request) -> HttpResponseBase:
        return super().get(request)


# --- export jobs -----------------------------------------------------------------------------


class ExportJobCreateSerializer(ExportQuerySerializer):
    """The body of POST /api/v1/exports/: the synchronous endpoints' query, plus the kind."""

    kind = serializers.ChoiceField(choices=KINDS, help_text="answers, scores or actions.")


class ExportJobSerializer(serializers.ModelSerializer[ExportJob]):
    owner: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    params = serializers.DictField(
        help_text="The export's filters as requested: survey, team, since, format, bom."
    )
    rows_estimated = serializers.IntegerField(
        allow_null=True,
        help_text="Rows the export will have: an upper bound when created, counted when it starts.",
    )
    rows_written = serializers.IntegerField(help_text="Rows written so far (the progress).")
    size = serializers.IntegerField(allow_null=True, help_text="Bytes of the file, once done.")
    download_url = serializers.SerializerMethodField(
        help_text="Signed; needs the same credentials as this endpoint. Null unless done."
    )
    download_url_expires_at = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = [
            "id",
            "owner",
            "kind",
            "format",
            "params",
            "status",
            "rows_estimated",
            "rows_written",
            "size",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "expires_at",
            "download_url",
            "download_url_expires_at",
        ]

    def _download(self, job: ExportJob) -> tuple[str, Any] | None:
        if job.status != ExportJob.Status.DONE:
            return None
        cached = self.context.setdefault("downloads", {})
        if job.pk not in cached:
            cached[job.pk] = export_download_token(job)
        return cached[job.pk]

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_download_url(self, job: ExportJob) -> str | None:
        download = self._download(job)
        if download is None:
            return None
        path = f"/api/v1/exports/{job.pk}/download/?token={download[0]}"
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_download_url_expires_at(self, job: ExportJob) -> str | None:
        download = self._download(job)
        return None if download is None else download[1].isoformat()


def visible_job(request: Request, job_id: int) -> ExportJob:
    """Return the job, if the user may read it: admins (staff users) only, as every export
    is theirs only; a job's owner who is no longer an admin may not. Else 404."""
    user = request_user(request)
    job = ExportJob.objects.select_related("owner").filter(pk=job_id).first()
    if job is None or not user.is_staff:
        raise NotFound("No such export job.")
    return job


class ExportJobsView(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        operation_id="export_job_create",
        request=ExportJobCreateSerializer,
        responses={
            202: ExportJobSerializer,
            503: OpenApiResponse(ErrorSerializer, description="The task broker is unreachable."),
        },
        description="Admins only. Create an export job: a worker writes the export (any "
        "`kind`, `format` and filter the synchronous endpoints take, validated the same way) "
        "into a file in the export storage, audited as every export is. Answers 202 with "
        "the job (header `Location`); poll `GET /api/v1/exports/{id}/` for its progress "
        "and, once `done`, a signed download URL. Files are deleted `EXPORT_FILE_SECONDS` "
        "after they are written.",
    )
    def post(self, request: Request) -> Response:
        body = ExportJobCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        export_request = ExportRequest(kind=data.pop("kind"), **data)
        token = request.auth if isinstance(request.auth, ApiToken) else None
        job = export_job_create(export_request, owner=request_user(request), token=token)
        enqueue_export_job(job)  # on commit: at once here (no transaction around requests)
        job.refresh_from_db()
        if job.status == ExportJob.Status.FAILED and not job.started_at:
            return Response(
                {"detail": f"{job.error}. Try again.", "code": "unavailable"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        return Response(
            ExportJobSerializer(job, context={"request": request}).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": f"/api/v1/exports/{job.pk}/"},
        )


class ExportJobView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="export_job_retrieve",
        responses={200: ExportJobSerializer, 404: ErrorSerializer},
        description="Admins only (others: 404). The job's status (`queued`, `running`, "
        "`done`, `failed` with `error`, `expired` once its file is deleted), its progress "
        "(`rows_written` of `rows_estimated`) and, once done, `download_url`: signed, valid "
        "until `download_url_expires_at` (EXPORT_DOWNLOAD_URL_SECONDS, at most until the "
        "file expires); every read gives a fresh one.",
    )
    def get(self, request: Request, job_id: int) -> Response:
        job = visible_job(request, job_id)
        return Response(ExportJobSerializer(job, context={"request": request}).data)


class DownloadQuerySerializer(serializers.Serializer[Any]):
    token = serializers.CharField(
        max_length=200, help_text="The signed token of the job's `download_url`."
    )


class ExportJobDownloadView(APIView):
    permission_classes = [IsAuthenticated]
    content_negotiation_class = JsonErrorsOnly

    @extend_schema(
        operation_id="export_job_download",
        parameters=[DownloadQuerySerializer],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The file, with the Content-Type of its format and a "
                "Content-Disposition naming it.",
            ),
            (400, "application/json"): OpenApiResponse(ErrorSerializer),
            (403, "application/json"): OpenApiResponse(
                ErrorSerializer,
                description="`download_url_invalid`: the token is not this job's, or it has "
                "expired; read the job again for a fresh URL.",
            ),
            (404, "application/json"): OpenApiResponse(ErrorSerializer),
            (409, "application/json"): OpenApiResponse(
                ErrorSerializer, description="`not_ready`: the job is not done (yet)."
            ),
            (410, "application/json"): OpenApiResponse(
                ErrorSerializer, description="`expired`: the file has been deleted."
            ),
        },
        description="Admins only (others: 404), with a token from the job's `download_url`.",
    )
    def get(self, request: Request, job_id: int) -> HttpResponseBase:
        job = visible_job(request, job_id)
        query = DownloadQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        if not export_download_token_valid(job, query.validated_data["token"]):
            raise PermissionDenied(
                "This download URL is not valid or has expired: read the job again "
                "(GET /api/v1/exports/{id}/) for a fresh one.",
                code="download_url_invalid",
            )
        if job.status == ExportJob.Status.EXPIRED:
            return Response(
                {
                    "detail": "The file of this export job has expired and was deleted.",
                    "code": "expired",
                },
                status=status.HTTP_410_GONE,
            )
        if job.status != ExportJob.Status.DONE or not job.file:
            return Response(
                {"detail": f"The export job is {job.status}, not done.", "code": "not_ready"},
                status=status.HTTP_409_CONFLICT,
            )
        return FileResponse(
            job.file.open("rb"),
            as_attachment=True,
            filename=job.file.name.rsplit("/", 1)[-1],
            content_type=CONTENT_TYPES[job.format],
        )

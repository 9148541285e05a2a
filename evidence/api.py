"""Evidence API: upload a snapshot, follow it, and the upload spec for scripts.

``POST /api/v1/teams/{slug}/evidence/`` takes multipart/form-data with a file field
``archive`` (a ``git archive --format=tar.gz``) or ``manifest`` (JSON, see
maturity.evidence.snapshot), and an optional ``repository``; it answers 202 with the
snapshot, which the worker then processes. Team-scoped evidence tokens
(``Authorization: Token mte_...``) may upload for their team only; signed-in members,
managers and admins for their teams.
"""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import ErrorSerializer, JSONParser
from evidence import services
from evidence.models import EvidenceToken, Snapshot
from evidence.selectors import content_problems
from maturity.evidence import snapshot as snapshots
from surveys.models import Team


class EvidenceTokenAuthentication(BaseAuthentication):
    """``Authorization: Token mte_<prefix>.<secret>``: a team-scoped evidence token.

    Other keys are left to the next authentication class (the API token one). The request
    has no user (AnonymousUser); ``request.auth`` is the token, which names its team.
    """

    def authenticate(self, request: Request) -> tuple[AnonymousUser, EvidenceToken] | None:
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != b"token":
            return None
        key = parts[1].decode("ascii", errors="replace")
        if not services.is_evidence_key(key):
            return None
        try:
            token = services.evidence_token_check(key)
        except services.EvidenceError as error:
            raise exceptions.AuthenticationFailed(error.message, code=error.code) from None
        return AnonymousUser(), token

    def authenticate_header(self, request: Request) -> str:
        return 'Token realm="api"'


def _authentication() -> list[type[BaseAuthentication]]:
    """The evidence token first, then the API's usual authentication classes."""
    from django.utils.module_loading import import_string

    paths = cast("list[str]", settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"])
    return [EvidenceTokenAuthentication, *(import_string(path) for path in paths)]


class SignedInOrEvidenceToken(BasePermission):
    message = "Sign in, or give an API token or a team's evidence token."

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, EvidenceToken) or bool(
            request.user and request.user.is_authenticated
        )


def _team_for(request: Request, slug: str) -> Team:
    """The team ``slug`` if the requester may upload for it; 404 for teams one cannot see,
    403 for an evidence token of another team."""
    token = request.auth if isinstance(request.auth, EvidenceToken) else None
    if token is not None:
        if token.team.slug != slug:
            raise exceptions.PermissionDenied(
                f"This evidence token uploads for team '{token.team.slug}' only."
            )
        return token.team
    team = Team.objects.filter(slug=slug).first()
    if team is None or not services.user_may_upload(request.user, team):
        raise exceptions.NotFound("No such team for you.")
    return team


class SnapshotSerializer(serializers.ModelSerializer[Snapshot]):
    team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    sha256 = serializers.CharField(source="content.sha256", read_only=True)
    n_files = serializers.IntegerField(source="content.n_files", read_only=True)
    n_kept = serializers.IntegerField(source="content.n_kept", read_only=True)
    url = serializers.SerializerMethodField()
    problems = serializers.SerializerMethodField(
        help_text='Files the collectors could not read ("path: why"); their facts are unknown.'
    )

    class Meta:
        model = Snapshot
        fields = [
            "id",
            "team",
            "source",
            "kind",
            "commit",
            "status",
            "error",
            "received_at",
            "processed_at",
            "sha256",
            "n_files",
            "n_kept",
            "problems",
            "url",
        ]
        read_only_fields = fields

    def get_problems(self, snapshot: Snapshot) -> list[str]:
        # A list view reads every row's problems in one query (context "problems").
        found = self.context.get("problems")
        if found is None:
            found = content_problems([snapshot.content_id])
        problems: list[str] = found.get(snapshot.content_id, [])
        return problems

    def get_url(self, snapshot: Snapshot) -> str:
        return f"/api/v1/teams/{snapshot.team.slug}/evidence/{snapshot.pk}/"


UPLOAD_REQUEST = inline_serializer(
    "EvidenceUpload",
    {
        "archive": serializers.FileField(required=False, help_text="git archive --format=tar.gz"),
        "manifest": serializers.FileField(
            required=False, help_text="maturity-evidence/1 manifest (JSON)"
        ),
        "repository": serializers.CharField(required=False, max_length=100),
    },
)


class TeamEvidenceView(APIView):
    """GET (list) and POST (upload) /api/v1/teams/{slug}/evidence/."""

    permission_classes = [SignedInOrEvidenceToken]
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_authenticators(self) -> list[BaseAuthentication]:
        return [auth() for auth in _authentication()]

    @extend_schema(
        operation_id="team_evidence_list",
        responses={200: SnapshotSerializer(many=True)},
        description="The team's 50 newest evidence snapshots with their processing status.",
    )
    def get(self, request: Request, slug: str) -> Response:
        team = _team_for(request, slug)
        rows = list(Snapshot.objects.filter(team=team).select_related("team", "content")[:50])
        problems = content_problems(row.content_id for row in rows)
        return Response(SnapshotSerializer(rows, many=True, context={"problems": problems}).data)

    @extend_schema(
        operation_id="team_evidence_upload",
        request={"multipart/form-data": UPLOAD_REQUEST},
        responses={
            202: SnapshotSerializer,
            400: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description='A refused upload, nothing stored: `{"detail", "code", '
                '"path"}` where `code` names the rule broken (`path_traversal`, `symlink`, '
                "`too_many_entries`, `too_large_expanded`, `unsafe_yaml`, `bad_manifest`, "
                "`empty_snapshot`, ...) and `path` the entry; or field errors "
                '(`{"repository": [...]}`, `{"non_field_errors": [...]}` when not exactly '
                "one of `archive` and `manifest` is sent).",
            ),
            403: OpenApiResponse(ErrorSerializer, description="A token of another team."),
        },
        description="Upload one repository's evidence for the team: a `git archive` tar.gz "
        "(field `archive`) or a manifest of paths, sha256 and the contents of small "
        "configuration files (field `manifest`), so source code need not leave the company. "
        "Answers 202 with the snapshot; the worker collects its facts and evaluates the "
        "framework's checks, then re-scores the team's open rounds. Limits: "
        "EVIDENCE_MAX_COMPRESSED_BYTES (default 50 MB), EVIDENCE_MAX_EXPANDED_BYTES "
        "(500 MB), EVIDENCE_MAX_ENTRIES (100,000).",
    )
    def post(self, request: Request, slug: str) -> Response:
        team = _team_for(request, slug)
        limits = services.upload_limits()
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > limits.max_compressed + 1_000_000:
            raise services.EvidenceError(
                f"The upload is larger than the limit of {limits.max_compressed} bytes "
                "(EVIDENCE_MAX_COMPRESSED_BYTES).",
                code="too_large_compressed",
            )
        manifest, kind = _read_upload(request, limits)
        repository = request.data.get("repository", "")
        if not isinstance(repository, str) or len(repository) > 100:
            raise serializers.ValidationError({"repository": ["At most 100 characters."]})
        token = request.auth if isinstance(request.auth, EvidenceToken) else None
        snapshot = services.snapshot_store(
            team=team,
            manifest=manifest,
            kind=kind,
            source=repository,
            uploaded_by=None if token is not None else request.user,  # type: ignore[arg-type]
            token=token,
        )
        body = SnapshotSerializer(snapshot).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


def _read_upload(request: Request, limits: snapshots.Limits) -> tuple[snapshots.Manifest, str]:
    """Return the upload's normalised manifest and its kind; EvidenceError on a refusal."""
    if request.content_type.startswith("application/json"):
        import json

        raw: Any = json.dumps(request.data).encode()
        kind = Snapshot.Kind.MANIFEST
    else:
        archive, manifest = request.FILES.get("archive"), request.data.get("manifest")
        if (archive is None) == (manifest is None):
            raise serializers.ValidationError(
                {"non_field_errors": ["Send exactly one of the fields `archive` and `manifest`."]}
            )
        if archive is not None:
            if archive.size is not None and archive.size > limits.max_compressed:
                raise services.EvidenceError(
                    f"The archive is larger than the limit of {limits.max_compressed} bytes "
                    "(EVIDENCE_MAX_COMPRESSED_BYTES).",
                    code="too_large_compressed",
                )
            try:
                return snapshots.manifest_from_archive(archive, limits), Snapshot.Kind.ARCHIVE
            except snapshots.SnapshotError as error:
                raise _refused(error) from None
        raw = manifest.read() if hasattr(manifest, "read") else str(manifest).encode()  # type: ignore[union-attr]
        kind = Snapshot.Kind.MANIFEST
    try:
        return snapshots.manifest_from_json(raw, limits), kind
    except snapshots.SnapshotError as error:
        raise _refused(error) from None


def _refused(error: snapshots.SnapshotError) -> services.EvidenceError:
    return services.EvidenceError(
        error.message, code=error.code, extra={"path": error.path} if error.path else None
    )


class TeamEvidenceDetailView(APIView):
    """GET /api/v1/teams/{slug}/evidence/{id}/: one snapshot, to follow its processing."""

    permission_classes = [SignedInOrEvidenceToken]

    def get_authenticators(self) -> list[BaseAuthentication]:
        return [auth() for auth in _authentication()]

    @extend_schema(operation_id="team_evidence_retrieve", responses={200: SnapshotSerializer})
    def get(self, request: Request, slug: str, snapshot_id: int) -> Response:
        team = _team_for(request, slug)
        snapshot = get_object_or_404(
            Snapshot.objects.select_related("team", "content"), team=team, pk=snapshot_id
        )
        return Response(SnapshotSerializer(snapshot).data)


class EvidenceSpecView(APIView):
    """GET /api/v1/evidence/spec/: what an upload may hold (the one kept-file list)."""

    permission_classes = [SignedInOrEvidenceToken]

    def get_authenticators(self) -> list[BaseAuthentication]:
        return [auth() for auth in _authentication()]

    @extend_schema(
        operation_id="evidence_spec",
        responses={
            200: inline_serializer(
                "EvidenceSpec",
                {
                    "format": serializers.CharField(),
                    "kept_patterns": serializers.ListField(child=serializers.CharField()),
                    "max_kept_bytes": serializers.IntegerField(),
                    "limits": serializers.DictField(child=serializers.IntegerField()),
                },
            )
        },
        description="The manifest format, the globs of files whose content an upload keeps "
        "(everything else is listed by path and sha256 only) and the size limits; "
        "`scripts/maturity-evidence` reads it before building a manifest.",
    )
    def get(self, request: Request) -> Response:
        limits = services.upload_limits()
        return Response(
            {
                "format": snapshots.FORMAT,
                "kept_patterns": list(snapshots.KEPT_PATTERNS),
                "max_kept_bytes": snapshots.MAX_KEPT_BYTES,
                "limits": limits.as_dict(),
            }
        )

"""OpenAPI additions: the token scheme and the error responses every operation can give."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import Direction, OpenApiResponse

from common.api import ErrorSerializer

_ERRORS = {
    "400": OpenApiResponse(
        OpenApiTypes.OBJECT,
        description='Invalid input: `{"field": ["message", ...], ...}` (nested like the '
        'request body), or `{"detail": ..., "code": ...}` for a rule violation.',
    ),
    "401": OpenApiResponse(
        ErrorSerializer,
        description="The token sent is invalid, expired (`token_expired`) or revoked "
        "(`token_revoked`). Answered with `WWW-Authenticate: Token`.",
    ),
    "403": OpenApiResponse(
        ErrorSerializer,
        description="No credentials (`not_authenticated`), or not allowed "
        "(`permission_denied`, e.g. a non-admin writing).",
    ),
    "404": OpenApiResponse(
        ErrorSerializer, description="Not found, or not visible to you (`not_found`)."
    ),
    "406": OpenApiResponse(ErrorSerializer, description="Unacceptable `Accept` header."),
    "429": OpenApiResponse(
        ErrorSerializer, description="Throttled (`throttled`); see `Retry-After`."
    ),
}
_WRITE_ERRORS = {
    "405": OpenApiResponse(ErrorSerializer, description="Method not allowed."),
    "415": OpenApiResponse(ErrorSerializer, description="Send `application/json`."),
}


class ApiAutoSchema(AutoSchema):
    """Document the JSON error responses on every API operation."""

    def _get_response_bodies(self, direction: Direction = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction=direction)
        if not self.path.startswith("/api/v1/"):
            return responses
        errors = dict(_ERRORS)
        if self.method not in ("GET", "HEAD", "OPTIONS"):
            errors |= _WRITE_ERRORS
        for code, response in errors.items():
            if code not in responses:
                # drf-spectacular leaves this (private) method unannotated.
                responses[code] = self._get_response_for_code(response, code, None, direction)
        return responses


# drf-spectacular's extension registry (OpenApiGeneratorExtension.__init_subclass__) is
# unannotated.
class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "reports.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`; create a key with "
            "`manage.py create_api_token <username>`.",
        }


class EvidenceTokenScheme(OpenApiAuthenticationExtension):
    target_class = "evidence.api.EvidenceTokenAuthentication"
    name = "evidenceTokenAuth"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token mte_<key>`: a team-scoped evidence token, which can only "
            "upload evidence for its team; create one with "
            "`manage.py create_evidence_token --team <slug>`.",
        }

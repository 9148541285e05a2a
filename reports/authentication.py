"""API tokens: creation, revocation, lookup and the DRF authentication class.

A key is ``<prefix>.<secret>``: the 8-hex-digit prefix finds the row, the sha256 of the
whole key is compared in constant time. Keys carry 256 random bits, so a fast hash is
sound; only the prefix and the hash are stored, and the key is shown once.
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from common.db import columns_of, instance_from_row
from common.tokens import key_digest, new_key, revoke
from evidence.services import is_evidence_key
from reports.models import ApiToken

if TYPE_CHECKING:
    from django.contrib.auth.models import User

KEYWORD = "Token"
# last_used_at is written at most this often per token, so reads do not become writes.
LAST_USED_RESOLUTION = timedelta(seconds=60)


_digest = key_digest


def api_token_create(
    *, user: User, name: str = "", expires_in: timedelta | None = None
) -> tuple[ApiToken, str]:
    """Create a token for ``user``; return it with its key (shown once, never stored)."""
    prefix, key = new_key(lambda taken: ApiToken.objects.filter(prefix=taken).exists())
    token = ApiToken.objects.create(
        name=name or "api",
        user=user,
        prefix=prefix,
        key_hash=_digest(key),
        expires_at=timezone.now() + expires_in if expires_in is not None else None,
    )
    return token, key


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke a token now; revoking twice keeps the first time."""
    revoke(token)
    return token


# One statement per API request: the user (read as the ORM would) with what the checks
# need of the token. Time comparisons happen in the database, on the stored values, so no
# column needs converting. A queryset with select_related, or raw(), costs about half a
# millisecond more CPU to build, on every request.
_KEY_LOOKUP_SQL = (
    "SELECT {user_columns}, t.id, t.name, t.key_hash, t.revoked_at IS NOT NULL,"
    " (t.expires_at IS NOT NULL AND t.expires_at <= %s),"
    " (t.last_used_at IS NULL OR t.last_used_at < %s)"
    " FROM {tokens} t JOIN {users} u ON u.id = t.user_id WHERE t.prefix = %s"
)


@cache
def _key_lookup() -> tuple[type[User], int, str]:
    """Return the user model, its number of columns, and the lookup statement."""
    user_model = get_user_model()
    sql = _KEY_LOOKUP_SQL.format(
        user_columns=columns_of(user_model, "u"),
        tokens=ApiToken._meta.db_table,
        users=user_model._meta.db_table,
    )
    return user_model, len(user_model._meta.concrete_fields), sql


def api_token_check(key: str) -> ApiToken:
    """Return the usable token for ``key`` or raise AuthenticationFailed saying why not.

    Whether a token is expired or revoked is only told to a caller holding its full key.
    The returned token holds its id, name, prefix and user; other fields load on access.
    """
    if is_evidence_key(key):
        raise exceptions.AuthenticationFailed(
            "This is a team's evidence token: it can only upload evidence "
            "(POST /api/v1/teams/{slug}/evidence/). Use an API token here.",
            code="evidence_token",
        )
    prefix, dot, _ = key.partition(".")
    row = None
    now = timezone.now()
    user_model, width, sql = _key_lookup()
    if dot and len(prefix) == 8:
        adapt = connection.ops.adapt_datetimefield_value
        with connection.cursor() as cursor:
            cursor.execute(sql, [adapt(now), adapt(now - LAST_USED_RESOLUTION), prefix])
            row = cursor.fetchone()
    if row is None:
        # Compare all the same, so that timing does not tell known prefixes apart.
        hmac.compare_digest("0" * 64, _digest(key))
        raise exceptions.AuthenticationFailed("Invalid token.", code="invalid_token")
    user = instance_from_row(user_model, row[:width])
    token_id, name, key_hash, revoked, expired, last_used_stale = row[width:]
    if not hmac.compare_digest(key_hash, _digest(key)):
        raise exceptions.AuthenticationFailed("Invalid token.", code="invalid_token")
    if revoked:
        raise exceptions.AuthenticationFailed("This token has been revoked.", code="token_revoked")
    if expired:
        raise exceptions.AuthenticationFailed("This token has expired.", code="token_expired")
    if not user.is_active:
        raise exceptions.AuthenticationFailed("User inactive or deleted.", code="user_inactive")
    token = ApiToken.from_db(
        connection.alias,
        ["id", "name", "user_id", "prefix", "key_hash"],
        [token_id, name, user.pk, prefix, key_hash],
    )
    token.user = user
    if last_used_stale:
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
    return token


class ApiTokenAuthentication(BaseAuthentication):
    """Authenticate ``Authorization: Token <key>``; bad, expired or revoked keys get 401."""

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Invalid token header: give 'Token <key>'.", code="invalid_token"
            )
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.", code="invalid_token") from None
        token = api_token_check(key)
        return token.user, token

    def authenticate_header(self, request: Request) -> str | None:
        # A client that sent a token learns it was refused (401 + WWW-Authenticate); a
        # client that sent nothing gets 403 "not_authenticated", as with session auth,
        # which the submission endpoint has always answered.
        parts = get_authorization_header(request).split()
        if parts and parts[0].lower() == KEYWORD.lower().encode():
            return f'{KEYWORD} realm="api"'
        return None

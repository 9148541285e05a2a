"""What every API view shares: JSON errors, parsing, pagination, throttles, permissions,
page caching. Domain-neutral: it imports no app.

This module must not import ``rest_framework.views`` at import time: DRF resolves the
classes named in REST_FRAMEWORK while it defines APIView.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, QuerySet
from django.http import HttpResponse, HttpResponseNotModified
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, pagination, parsers, serializers
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle as BaseAnonRateThrottle
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle
from rest_framework.throttling import UserRateThrottle as BaseUserRateThrottle

from common.cache import PAGE_KEY_PREFIX, cached_build, version_digest
from common.errors import ApplicationError
from common.text import storable

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

_ModelT = TypeVar("_ModelT", bound=Model)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """Turn every error into JSON: ``{"detail", "code"}`` or ``{field: [messages]}``.

    Business-rule errors (ApplicationError) get their status here, the one place that maps
    them; errors DRF does not know (bugs) are logged and answered with a JSON 500.
    """
    from django.core.exceptions import PermissionDenied
    from django.http import Http404
    from rest_framework.views import exception_handler, set_rollback

    if isinstance(exc, ApplicationError):  # a broken business rule, raised by a service
        set_rollback()
        return Response(exc.body(), status=exc.status_code)
    # As DRF's handler does, but before it, so that the code below sees DRF's exceptions.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    response = exception_handler(exc, context)
    if response is None:
        logger.exception("API error in %s", context.get("view"), exc_info=exc)
        set_rollback()
        return Response({"detail": "Internal server error.", "code": "server_error"}, status=500)
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        if not isinstance(data, dict):
            response.data = {"non_field_errors": data}
        return response
    if isinstance(data, dict) and "detail" in data and "code" not in data:
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
        data["code"] = codes if isinstance(codes, str) else "error"
    return response


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "request_too_large"


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, bounded: a body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413, and
    nesting deeper than Python's recursion limit a 400.

    DRF reads the whole stream, whatever its size (Django's own limit applies only to
    ``request.body``), and the standard library's decoder raises RecursionError, not
    ValueError, on a body like ``[[[[...]]]]`` 10,000 deep, which DRF does not catch.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        from django.conf import settings

        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(body) > limit:
            raise RequestTooLarge(f"The request body is larger than {limit} bytes.")
        try:
            return super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None


class CsvParser(parsers.BaseParser):
    """A ``text/csv`` body, as bytes (the view decodes it), bounded like JSONParser."""

    media_type = "text/csv"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        from django.conf import settings

        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(body) > limit:
            raise RequestTooLarge(f"The request body is larger than {limit} bytes.")
        return body


class Cursor(CursorPagination):
    """Cursor pagination; views set ``ordering`` to a unique field."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = "-id"

    def get_ordering(self, request: Request, queryset: Any, view: Any) -> tuple[str, ...]:
        ordering = getattr(view, "cursor_ordering", self.ordering)
        return (ordering,) if isinstance(ordering, str) else tuple(ordering)

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        self._queryset = queryset  # for decode_cursor's check of the position
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request: Request) -> int:
        """Return ``?page_size=`` (1..max_page_size), the default when absent; else a 400.

        DRF ignores a value it cannot read (``false``, ``-1``, ``abc``) and silently serves
        the default page: a client with a bug would never notice.
        """
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        # The length first: int() refuses a string of over 4,300 digits (a 500, not a 400).
        short = len(raw) <= len(str(self.max_page_size))
        if not (raw.isascii() and raw.isdigit() and short and 1 <= int(raw) <= self.max_page_size):
            raise exceptions.ValidationError(
                {
                    self.page_size_query_param: [
                        f"Must be a whole number from 1 to {self.max_page_size}."
                    ]
                }
            )
        return int(raw)

    def decode_cursor(self, request: Request) -> pagination.Cursor | None:
        """Return the request's cursor; a 400 (``cursor``) for one that is not ours.

        A cursor is base64 text a client can forge: besides DRF's own checks, its position
        must be a value the ordering field accepts (``p=abc`` on an id ordering was a 500).
        """
        encoded = request.query_params.get(self.cursor_query_param)
        try:
            # DRF decodes leniently: text that is not base64 at all reads as an empty cursor.
            if encoded is not None:
                base64.b64decode(encoded.encode("ascii"), validate=True)
            cursor = super().decode_cursor(request)
        except (exceptions.NotFound, ValueError):
            cursor = None
            valid = False
        else:
            # DRF's stubs type the position as int; DRF decodes it from the cursor's query
            # string, so it is text (or None).
            valid = cursor is None or self._position_is_valid(cursor.position)  # type: ignore[arg-type]
        if not valid:
            raise exceptions.ValidationError({self.cursor_query_param: ["Invalid cursor."]})
        return cursor

    def _position_is_valid(self, position: str | None) -> bool:
        if position is None:
            return True
        if not storable(position) or len(position) > 1000:
            return False
        field = self.ordering[0].lstrip("-")
        try:
            self._queryset.filter(**{f"{field}__gt": position}).query.__str__()
        except (ValueError, TypeError, DjangoValidationError, EmptyResultSet):
            return False
        return True


@dataclass(frozen=True)
class WindowCount:
    """The counter one request increments for one throttle: the window's cache key, how long
    the window lasts (seconds), and how many requests it allows."""

    key: str
    seconds: int
    limit: int


class CountingRateThrottle(SimpleRateThrottle):
    """Count requests per fixed window with one atomic increment, instead of DRF's history.

    DRF's SimpleRateThrottle reads and rewrites the list of every request time in the
    window (two cache round trips and a pickle of up to ``num_requests`` floats per
    request). This keeps one counter per (key, window): an INCR and an EXPIRE in a Redis
    pipeline, or the local cache without Redis. A client can send up to twice the rate
    across a window boundary, as with any fixed window. When Redis is unreachable the
    request is let through and the outage logged: throttling must not turn a Redis outage
    into an API outage. ApiRateThrottle takes several such counters in one round trip.

    Scope and cache key come from a subclass, or from DRF's UserRateThrottle or
    AnonRateThrottle after this class in its bases; SimpleRateThrottle.__init__ reads the
    scope's rate into ``num_requests`` and ``duration``.
    """

    # Set by SimpleRateThrottle.__init__ from the rate ("100/min" -> 100, 60); None when the
    # scope's rate is None (not limited). DRF's stubs do not declare them.
    num_requests: int | None
    duration: int | None
    # When the window of the last counted request ends (timer() seconds); set by counter().
    window_ends: float

    def counter(self, request: Request, view: Any) -> WindowCount | None:
        """Return the counter this request increments, or None when it is not limited."""
        if self.num_requests is None or self.duration is None:  # no rate for this scope
            return None
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return None
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_ends = (window + 1) * self.duration
        return WindowCount(f"maturity:{self.key}:{window}", self.duration, self.num_requests)

    def allow_request(self, request: Request, view: Any) -> bool:
        return not _over_limit([self], request, view)

    def wait(self) -> float:
        return max(0.0, self.window_ends - self.timer())


def _over_limit(
    throttles: Sequence[CountingRateThrottle], request: Request, view: Any
) -> list[CountingRateThrottle]:
    """Count the request against each throttle; return those whose limit it exceeds."""
    counted = [(throttle, throttle.counter(request, view)) for throttle in throttles]
    windows = [(throttle, window) for throttle, window in counted if window is not None]
    if not windows:
        return []
    try:
        counts = _increment([(window.key, window.seconds) for _, window in windows])
    except Exception as error:  # noqa: BLE001 - any cache failure: fail open, loudly
        scopes = ", ".join(str(throttle.scope) for throttle, _ in windows)
        logger.warning("throttles %s not counted: %s", scopes, error)
        return []
    return [
        throttle
        for (throttle, window), count in zip(windows, counts, strict=True)
        if count > window.limit
    ]


def _increment(counters: list[tuple[str, int]]) -> list[int]:
    """Add one to each (key, window seconds) counter; return the new counts."""
    from django.conf import settings

    if settings.REDIS_URL:
        from common.redis import redis_client

        pipe = redis_client(settings.REDIS_URL).pipeline(transaction=False)
        for key, ttl in counters:
            pipe.incr(key)
            pipe.expire(key, ttl + 1)
        # redis-py leaves Pipeline.execute unannotated.
        results = pipe.execute()  # type: ignore[no-untyped-call]
        return [int(count) for count in results[::2]]
    return [_increment_local(key, ttl) for key, ttl in counters]


def _increment_local(key: str, ttl: int) -> int:
    if cache.add(key, 1, ttl + 1):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, ttl + 1)
        return 1


class UserRateThrottle(CountingRateThrottle, BaseUserRateThrottle):
    """Limit each user (all their tokens and sessions together)."""


class AnonRateThrottle(CountingRateThrottle, BaseAnonRateThrottle):
    """Limit anonymous clients per address."""


class TokenRateThrottle(CountingRateThrottle):
    """Limit each API token on its own (the "user" throttle limits the user's sum)."""

    scope = "token"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        # request.auth is the token a token authentication set (a model row with a pk);
        # sessions set none.
        token_id = getattr(request.auth, "pk", None)
        if token_id is None:
            return None
        # API tokens and team-scoped evidence tokens are rows of different tables.
        ident = f"{request.auth._meta.label_lower}:{token_id}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class ApiRateThrottle(BaseThrottle):
    """The API's limits together: per user (per address when anonymous) and per token.

    Each counts as on its own, and a request over any of them is refused (429, with
    Retry-After until the latest of their windows ends); all their counters are taken in
    one Redis round trip per request.
    """

    parts: tuple[type[CountingRateThrottle], ...] = (
        UserRateThrottle,
        AnonRateThrottle,
        TokenRateThrottle,
    )

    def __init__(self) -> None:
        self.throttles = [part() for part in self.parts]
        self.exceeded: list[CountingRateThrottle] = []

    def allow_request(self, request: Request, view: Any) -> bool:
        self.exceeded = _over_limit(self.throttles, request, view)
        return not self.exceeded

    def wait(self) -> float | None:
        return max((throttle.wait() for throttle in self.exceeded), default=None)


def request_user(request: Request) -> User:
    """Return the signed-in user of an API request; raise NotAuthenticated without one.

    Every API view that asks for the user requires one (DEFAULT_PERMISSION_CLASSES is
    IsAuthenticated; IsAdmin and IsAdminOrReadOnly require one too), so the permission
    check has refused such a request before the view runs: this makes that fact known to
    the type checker (``request.user`` is ``User | AnonymousUser`` to it), checked.
    """
    user = request.user
    if not user.is_authenticated:
        raise exceptions.NotAuthenticated()
    return user


class IsAdminOrReadOnly(BasePermission):
    """Reads for every signed-in user (views narrow the queryset); writes for admins.

    Writes to one object pass here and are refused by the object check, so that an object
    the user cannot see is a 404 before it is a 403.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if request.method in SAFE_METHODS or request.user.is_staff:
            return True
        return bool(getattr(view, "kwargs", {}).get(getattr(view, "lookup_field", "pk")))

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return request.method in SAFE_METHODS or bool(request.user.is_staff)


class IsAdmin(BasePermission):
    """Admins (staff users) only."""

    message = "Only admins may do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


# django-filter ships no type information, so mypy sees DjangoFilterBackend as Any.
class SafeFilterBackend(DjangoFilterBackend):  # type: ignore[misc]
    """django-filter, with query values the database cannot take refused as a 400."""

    def filter_queryset(
        self, request: Request, queryset: QuerySet[_ModelT], view: Any
    ) -> QuerySet[_ModelT]:
        bad = {
            name: ["Null characters and lone surrogates are not allowed."]
            for name, values in request.query_params.lists()
            if not all(storable(value) for value in values)
        }
        if bad:
            raise exceptions.ValidationError(bad)
        filtered: QuerySet[_ModelT] = super().filter_queryset(request, queryset, view)
        return filtered


class SlugRelated(serializers.SlugRelatedField[_ModelT]):
    """A SlugRelatedField that refuses values the database cannot take before the lookup."""

    def to_internal_value(self, data: Any) -> _ModelT:
        if not storable(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class FastJSONRenderer(JSONRenderer):
    """JSON through orjson, for the large read payloads (scores, recommendations)."""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        return orjson.dumps(data, default=str)


def cached_json(
    request: Request, version: tuple[object, ...], build: Callable[[], Any]
) -> HttpResponse:
    """Answer ``build()`` as JSON, cached under the request's URL and ``version``.

    ``version`` must hold everything besides the URL that the body depends on. The body
    carries an ETag, and a client sending it back in If-None-Match gets a 304 without a
    body. When the cache is unreachable the body is built each time (cached_build).
    """
    digest = version_digest(request.build_absolute_uri(), version)
    etag = f'"{digest[:40]}"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Authorization, Cookie"}
    if etag in request.headers.get("If-None-Match", ""):
        return HttpResponseNotModified(headers=headers)
    body = cached_build(f"{PAGE_KEY_PREFIX}{digest}", lambda: orjson.dumps(build(), default=str))
    return HttpResponse(body, content_type="application/json", headers=headers)


class ErrorSerializer(serializers.Serializer[dict[str, Any]]):
    """The shape of every non-validation error."""

    detail = serializers.CharField()
    code = serializers.CharField()

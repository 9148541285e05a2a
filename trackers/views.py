"""The trackers' webhooks (``POST /trackers/webhooks/<uuid>/``) and the team report's push
button (``POST /trackers/actions/<id>/push/``)."""

from __future__ import annotations

import logging
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from actions.selectors import visible_actions
from common.http import AuthenticatedHttpRequest
from trackers import services, webhooks
from trackers.models import TrackerConnection, TrackerLink
from trackers.services import TrackerError

logger = logging.getLogger(__name__)

# Larger deliveries are refused (413): an issue event is a few tens of kilobytes.
WEBHOOK_MAX_BYTES = 1024 * 1024


def _answer(status: int, message: str, **extra: str) -> JsonResponse:
    return JsonResponse({"detail": message, **extra}, status=status)


def _body(request: HttpRequest) -> bytes:
    """The raw body, at most WEBHOOK_MAX_BYTES; WebhookRefused (413, 400) otherwise."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not (declared.isascii() and declared.isdigit()):
        raise webhooks.WebhookRefused(400, "The Content-Length header is not a number.")
    if int(declared) > WEBHOOK_MAX_BYTES:
        raise webhooks.WebhookRefused(413, f"The body is larger than {WEBHOOK_MAX_BYTES} bytes.")
    body = request.read(WEBHOOK_MAX_BYTES + 1)
    if len(body) > WEBHOOK_MAX_BYTES:
        raise webhooks.WebhookRefused(413, f"The body is larger than {WEBHOOK_MAX_BYTES} bytes.")
    return body


@csrf_exempt
def webhook(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """Receive a tracker's webhook for the connection ``public_id`` (no login, no CSRF: the
    signature or token proves the sender; trackers.webhooks).

    Answers JSON: 200 ``{"status": "updated" | "unchanged" | "broken"}``; 202 ``{"status":
    "ignored"}`` for an event that changes nothing here (a ping, another kind of event, an
    issue no action is linked to); 403 for a missing or wrong signature; 404 for an
    unknown connection; 400 for a body that is not the documented JSON; 413 over 1 MB;
    405 for anything but POST; 503 when the connection's secret cannot be decrypted.
    """
    if request.method != "POST":
        response = _answer(405, "Webhooks are POSTed.")
        response["Allow"] = "POST"
        return response
    connection = TrackerConnection.objects.filter(public_id=public_id).first()
    if connection is None:
        return _answer(404, "No such webhook.")
    try:
        secret = services.webhook_secret(connection)
    except TrackerError as error:
        logger.error("tracker %s: webhook secret unreadable (%s)", connection.pk, error.code)
        return _answer(503, "This webhook cannot be verified now.")
    try:
        body = _body(request)
        webhooks.verify(connection.provider, secret, body, request.headers)
        event = webhooks.parse(connection.provider, body, request.headers)
    except webhooks.WebhookRefused as refused:
        return _answer(refused.status, refused.message)
    if event is None:
        return JsonResponse({"status": "ignored"}, status=202)
    result = services.webhook_apply(connection, event)
    return JsonResponse({"status": result}, status=202 if result == "ignored" else 200)


@login_required
@require_POST
def action_push(request: AuthenticatedHttpRequest, action_id: int) -> HttpResponse:
    """Push an action to its team's tracker (services.action_push) from the team report's
    button; back to the action on the report with a message saying what happened.

    404 for an action the person cannot see, 403 for one they may not change.
    """
    action = get_object_or_404(visible_actions(request.user), pk=action_id)
    try:
        result = services.action_push(action, by=request.user)
    except TrackerError as error:
        if error.code == "forbidden":
            raise PermissionDenied(error.message) from None
        messages.error(request, error.message)
    else:
        messages.success(request, _pushed(result.link, created=result.created))
    report = reverse("team-report", kwargs={"slug": action.team.slug})
    return redirect(f"{report}#action-{action.pk}")


def _pushed(link: TrackerLink, *, created: bool) -> str:
    where = link.connection.get_provider_display()
    if created:
        return f"Pushed to {where} as {link.display_key}: {link.url}"
    return f"Already in {where} as {link.display_key}: {link.url}"

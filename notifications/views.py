"""Pages of the notifications app: the console's Webhooks pages (/manage/webhooks/, for
those who run the programme, as the rest of the console) and the weekly digest's
one-click unsubscribe (/notifications/unsubscribe/<token>/, for whoever holds the link).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from common.http import AuthenticatedHttpRequest
from notifications import selectors, services
from notifications.forms import WebhookForm
from notifications.models import Webhook, WebhookDelivery
from notifications.services import NotificationError
from surveys.decorators import lead_required

View = Callable[..., HttpResponse]
DELIVERIES_PER_PAGE = 50


def _list_page(request: HttpRequest, form: WebhookForm, status: int = 200) -> HttpResponse:
    context = {"webhooks": selectors.webhooks(), "form": form}
    return render(request, "notifications/webhooks.html", context, status=status)


@lead_required
def webhook_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Every webhook; register one (POST)."""
    if request.method != "POST":
        return _list_page(request, WebhookForm(initial={"format": "json", "active": True}))
    form = WebhookForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            webhook = services.webhook_create(
                url=data["url"],
                secret=data["secret"],
                events=data["events"],
                fmt=data["format"],
                active=data["active"],
                by=request.user,
            )
        except NotificationError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, "Webhook registered.")
            return redirect("console-webhook", webhook_id=webhook.pk)
    return _list_page(request, form, status=400)


def _detail_page(
    request: HttpRequest, webhook: Webhook, *, form: WebhookForm | None = None, status: int = 200
) -> HttpResponse:
    deliveries = Paginator(selectors.webhook_deliveries(webhook), DELIVERIES_PER_PAGE)
    context = {
        "webhook": webhook,
        "form": form or WebhookForm(webhook=webhook, initial=WebhookForm.initial_of(webhook)),
        "deliveries": deliveries.get_page(request.GET.get("page")),
        "log_days": settings.WEBHOOK_LOG_DAYS,
    }
    return render(request, "notifications/webhook.html", context, status=status)


@lead_required
def webhook_detail(request: AuthenticatedHttpRequest, webhook_id: int) -> HttpResponse:
    """A webhook: its settings (change them with POST) and its delivery log."""
    webhook = get_object_or_404(Webhook.objects.select_related("created_by"), pk=webhook_id)
    if request.method != "POST":
        return _detail_page(request, webhook)
    form = WebhookForm(request.POST, webhook=webhook)
    if form.is_valid():
        try:
            services.webhook_update(webhook=webhook, changes=form.changes())
        except NotificationError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, "Webhook saved.")
            return redirect("console-webhook", webhook_id=webhook.pk)
    return _detail_page(request, webhook, form=form, status=400)


@lead_required
@require_POST
def webhook_delete(request: AuthenticatedHttpRequest, webhook_id: int) -> HttpResponse:
    """Delete a webhook and its delivery log."""
    webhook = get_object_or_404(Webhook, pk=webhook_id)
    services.webhook_delete(webhook=webhook)
    messages.success(request, "Webhook deleted.")
    return redirect("console-webhooks")


@lead_required
@require_POST
def delivery_redeliver(
    request: AuthenticatedHttpRequest, webhook_id: int, delivery_id: int
) -> HttpResponse:
    """Deliver a delivery's event again (a new delivery of the same event): also the way to
    send a test once the webhook has received something."""
    delivery = get_object_or_404(WebhookDelivery, pk=delivery_id, webhook_id=webhook_id)
    try:
        services.delivery_redeliver(delivery=delivery, by=request.user)
    except NotificationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{delivery.event} is being delivered again.")
    return redirect("console-webhook", webhook_id=webhook_id)


# The link of the digest e-mail, and RFC 8058's one-click POST that mail programs send
# without cookies or a CSRF token: the signed token in the URL is the proof (only the
# recipient has it), and all it can do is turn that person's digest off.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def digest_unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: ask to confirm (link checkers follow links; they must not unsubscribe anyone);
    POST: turn the token's person's weekly digest off. An invalid token is a 404 page."""
    user_id = services.unsubscribe_user_id(token)
    user = get_user_model().objects.filter(pk=user_id).first() if user_id is not None else None
    if user is None:
        return render(request, "notifications/unsubscribe.html", {"invalid": True}, status=404)
    if request.method == "POST":
        services.digest_unsubscribe(user=user)
        return render(request, "notifications/unsubscribe.html", {"done": True, "person": user})
    return render(request, "notifications/unsubscribe.html", {"person": user})

"""The console's "Issue trackers" pages (/manage/trackers/): list, connect, edit, test and
delete the connections, for those who run the programme (surveys.selectors.runs_programme;
anyone else signed in gets 403)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from common.http import AuthenticatedHttpRequest
from surveys.decorators import lead_required
from trackers import crypto, selectors, services
from trackers.forms import ConnectionForm
from trackers.models import TrackerConnection
from trackers.services import TrackerError

View = Callable[..., HttpResponse]


@lead_required
def connection_list(request: HttpRequest) -> HttpResponse:
    """Every connection, with its scope, health and issue counts."""
    context = {
        "connections": selectors.connections_listed(),
        "not_configured": None if crypto.encryption_ready() else crypto.NOT_CONFIGURED,
    }
    return render(request, "trackers/connections.html", context)


def _form_page(
    request: HttpRequest,
    form: ConnectionForm,
    connection: TrackerConnection | None = None,
    *,
    status: int = 200,
) -> HttpResponse:
    context: dict[str, object] = {"form": form, "connection": connection}
    if connection is not None:
        context["webhook_url"] = services.webhook_url(connection)
        try:
            context["webhook_secret"] = services.webhook_secret(connection)
        except TrackerError as error:
            context["secret_problem"] = error.message
    return render(request, "trackers/connection_form.html", context, status=status)


@never_cache
@lead_required
def connection_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Connect a tracker (refused with a message while TRACKER_ENCRYPTION_KEY is unset)."""
    if request.method != "POST":
        return _form_page(request, ConnectionForm())
    form = ConnectionForm(request.POST)
    if form.is_valid() and form.settings is not None:
        try:
            connection = services.connection_create(values=form.settings, by=request.user)
        except TrackerError as error:
            form.add_error(error.field, error.message)
        else:
            messages.success(
                request,
                f'"{connection.name}" is connected. Test it, then set up the webhook below.',
            )
            return redirect("console-tracker", connection_id=connection.pk)
    return _form_page(request, form, status=400)


@never_cache  # the page shows the webhook secret
@lead_required
def connection_edit(request: HttpRequest, connection_id: int) -> HttpResponse:
    """A connection: its settings (POST saves them), its webhook address and secret."""
    connection = get_object_or_404(TrackerConnection, pk=connection_id)
    if request.method != "POST":
        return _form_page(request, ConnectionForm(instance=connection), connection)
    form = ConnectionForm(request.POST, instance=connection)
    if form.is_valid() and form.settings is not None:
        try:
            services.connection_update(connection, values=form.settings)
        except TrackerError as error:
            form.add_error(error.field, error.message)
        else:
            messages.success(request, f'"{connection.name}" saved.')
            return redirect("console-tracker", connection_id=connection.pk)
    connection.refresh_from_db()
    return _form_page(request, form, connection, status=400)


@lead_required
@require_POST
def connection_test(request: HttpRequest, connection_id: int) -> HttpResponse:
    """Read the connection's repository or project with its credentials; say what came back."""
    connection = get_object_or_404(TrackerConnection, pk=connection_id)
    try:
        found = services.connection_test(connection)
    except TrackerError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, found)
    return redirect("console-tracker", connection_id=connection.pk)


@lead_required
@require_POST
def connection_delete(request: HttpRequest, connection_id: int) -> HttpResponse:
    """Delete a connection: its issues are no longer synced."""
    connection = get_object_or_404(TrackerConnection, pk=connection_id)
    services.connection_delete(connection)
    messages.success(
        request, f'"{connection.name}" deleted: its issues are no longer synced to actions.'
    )
    return redirect("console-trackers")

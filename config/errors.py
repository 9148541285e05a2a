"""The 400 answer: JSON for scripts that asked for JSON, the site's page otherwise."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.views import defaults

from config.csrf import wants_json


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Answer a request Django could not read (handler400).

    An oversized body (DATA_UPLOAD_MAX_MEMORY_SIZE, DATA_UPLOAD_MAX_NUMBER_FIELDS) is found
    when something first reads the form, usually the CSRF check before any view runs, so
    the autosave's own ``too_large`` answer (README, "Taking a survey") is given here too: a
    script that asked for JSON, and any client of the autosave endpoint (which answers
    JSON whatever goes wrong), gets ``{"code": "too_large", "detail"}`` (any other bad
    request ``bad_request``); a browser gets the site's 400 page.
    """
    if not (wants_json(request) or _is_autosave(request)):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig | TooManyFieldsSent):
        body = {"code": "too_large", "detail": "The page sent more than an autosave can take."}
    else:
        body = {"code": "bad_request", "detail": "The request could not be read."}
    response = JsonResponse(body, status=400)
    response["Cache-Control"] = "no-store"
    return response


def _is_autosave(request: HttpRequest) -> bool:
    try:
        return resolve(request.path_info).url_name == "survey-autosave"
    except Resolver404:
        return False

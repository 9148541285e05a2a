"""The checks of a tracker connection's settings, shared by the console's form and the API.

``connection_clean`` takes the values a person typed (merged over the connection being
edited) and returns them normalised, or raises Django's ValidationError with a message per
field. Outbound addresses are admin-configured, and still: http(s) only, no credentials,
query or fragment in them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email

from common import ssrf
from common.text import text_problem
from surveys.models import Team
from trackers.models import TrackerConnection

Provider = TrackerConnection.Provider

DEFAULT_BASE_URLS: dict[str, str] = {
    Provider.GITHUB: "https://api.github.com",
    Provider.GITLAB: "https://gitlab.com/api/v4",
}
DEFAULT_ISSUE_TYPE = "Task"
MIN_WEBHOOK_SECRET = 16
MAX_SECRET = 1000

_GITHUB_TARGET = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}")
_GITLAB_PATH_PART = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}"
_GITLAB_TARGET = re.compile(rf"[0-9]{{1,18}}|{_GITLAB_PATH_PART}(?:/{_GITLAB_PATH_PART}){{1,19}}")
_JIRA_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,49}")
_SECRET_CHARACTERS = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces

MOVED_NEEDS_TOKEN = "A new API address needs the token again: enter it."  # noqa: S105
TARGET_HELP = {
    Provider.GITHUB: "owner/repository, e.g. acme/ml-platform",
    Provider.GITLAB: "the project's numeric id or its path, e.g. acme/ml/platform",
    Provider.JIRA: "the project key, e.g. MLOPS",
}


def clean_base_url(provider: str, value: str) -> str:
    """Return the API root for ``provider`` (the default when blank), without a trailing
    slash. Raises ValidationError for anything but a plain http(s) address."""
    value = value.strip() or DEFAULT_BASE_URLS.get(provider, "")
    if not value:
        raise ValidationError("Enter the site's address, e.g. https://your-site.atlassian.net.")
    problem = text_problem(value, max_length=300)
    if problem:
        raise ValidationError(problem)
    try:
        parts = urlsplit(value)
        URLValidator(schemes=["http", "https"])(value)
    except (ValueError, ValidationError):
        raise ValidationError("Enter an http(s) address, e.g. https://api.github.com.") from None
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValidationError("Leave credentials out of the address: enter them below.")
    if parts.query or parts.fragment:
        raise ValidationError("The address takes no query (?...) or fragment (#...).")
    if not settings.TRACKER_ALLOW_PRIVATE:
        try:  # the host's addresses must all be public (common.ssrf)
            ssrf.check_url(value, allow_private=False)
        except ssrf.UrlRefused as error:
            raise ValidationError(str(error)) from None
    return value.rstrip("/")


def clean_target(provider: str, value: str) -> str:
    """Return the repository, project or project key, checked against ``provider``'s
    form (TARGET_HELP). Raises ValidationError."""
    value = value.strip()
    if provider == Provider.GITLAB:
        value = value.strip("/")
    patterns = {
        Provider.GITHUB: _GITHUB_TARGET,
        Provider.GITLAB: _GITLAB_TARGET,
        Provider.JIRA: _JIRA_KEY,
    }
    if provider not in Provider.values:
        raise ValidationError("Choose GitHub, GitLab or Jira first.")
    kind = Provider(provider)
    if not patterns[kind].fullmatch(value):
        raise ValidationError(f"Enter {TARGET_HELP[kind]}.")
    return value


def clean_secret(value: str, *, what: str, min_length: int = 1) -> str:
    """Return a token or secret as typed; printable ASCII without spaces, ``min_length``
    to MAX_SECRET characters. Raises ValidationError naming ``what``."""
    if not _SECRET_CHARACTERS.fullmatch(value) or len(value) > MAX_SECRET:
        raise ValidationError(
            f"The {what} is printable characters without spaces, at most {MAX_SECRET}."
        )
    if len(value) < min_length:
        raise ValidationError(f"The {what} needs at least {min_length} characters.")
    return value


def _team_free(team: Team | None, instance: TrackerConnection | None) -> Team | None:
    taken = TrackerConnection.objects.filter(team=team)
    if instance is not None:
        taken = taken.exclude(pk=instance.pk)
    if taken.exists():
        if team is None:
            raise ValidationError("A connection for all teams exists already: edit that one.")
        raise ValidationError(f"{team.name} has a connection already: edit that one.")
    return team


@dataclass(frozen=True)
class ConnectionSettings:
    """A connection's settings as checked by connection_clean; ``token`` and
    ``webhook_secret`` in plain text, "" to keep the stored ones (a new connection without
    a webhook secret gets a random one)."""

    provider: str
    name: str
    base_url: str
    target: str
    issue_type: str
    email: str
    team: Team | None
    token: str
    webhook_secret: str


def connection_clean(
    values: dict[str, Any], *, instance: TrackerConnection | None
) -> ConnectionSettings:
    """Check and normalise a connection's settings.

    ``values``: provider, name, base_url, target, issue_type, email, team (a Team or None),
    token and webhook_secret ("" keeps the stored one; a token is required for a new
    connection, and for a new API address: a stored token never goes to another host).
    Returns them cleaned: the default base URL filled in, the issue type "Task" and an
    e-mail required for Jira, both blank for the others. Raises
    ValidationError({field: [message]}).
    """
    cleaned = dict(values)
    errors: dict[str, list[str]] = {}
    provider = str(values.get("provider") or "")

    def check(field: str, run: Any) -> None:
        try:
            cleaned[field] = run()
        except ValidationError as error:
            errors.setdefault(field, []).extend(error.messages)

    if instance is not None and provider != instance.provider:
        errors["provider"] = ["The provider cannot change: add another connection instead."]
    check("base_url", lambda: clean_base_url(provider, str(values.get("base_url") or "")))
    check("target", lambda: clean_target(provider, str(values.get("target") or "")))
    is_jira = provider == Provider.JIRA
    issue_type = str(values.get("issue_type") or "").strip()
    cleaned["issue_type"] = (issue_type or DEFAULT_ISSUE_TYPE) if is_jira else ""
    check("issue_type", lambda: _issue_type(cleaned["issue_type"]))
    email = str(values.get("email") or "").strip()
    if is_jira and not email:
        errors["email"] = ["Jira needs the e-mail address of the API token's account."]
    elif is_jira:
        check("email", lambda: _email(email))
    cleaned["email"] = email if is_jira else ""
    token = str(values.get("token") or "")
    moved = instance is not None and cleaned.get("base_url", instance.base_url) != instance.base_url
    if (instance is None or moved) and not token:
        # A stored token only ever goes to the address it was entered for: whoever moves a
        # connection elsewhere must know the token (or the old one would go to the new host).
        errors["token"] = ["Enter the API token." if instance is None else MOVED_NEEDS_TOKEN]
    elif token:
        check("token", lambda: clean_secret(token, what="token"))
    secret = str(values.get("webhook_secret") or "")
    if secret:
        check(
            "webhook_secret",
            lambda: clean_secret(secret, what="webhook secret", min_length=MIN_WEBHOOK_SECRET),
        )
    check("team", lambda: _team_free(values.get("team"), instance))
    name = str(values.get("name") or "").strip()
    if not name:
        errors["name"] = ["Give the connection a name."]
    elif problem := text_problem(name, max_length=100):
        errors["name"] = [problem]
    if errors:
        raise ValidationError(errors)
    return ConnectionSettings(
        provider=provider,
        name=name,
        base_url=cleaned["base_url"],
        target=cleaned["target"],
        issue_type=cleaned["issue_type"],
        email=cleaned["email"],
        team=cleaned["team"],
        token=token,
        webhook_secret=secret,
    )


def _issue_type(value: str) -> str:
    problem = text_problem(value, max_length=60)
    if problem:
        raise ValidationError(problem)
    return value


def _email(value: str) -> str:
    problem = text_problem(value, max_length=254)
    if problem:
        raise ValidationError(problem)
    validate_email(value)
    return value

"""Fixtures of the trackers tests: the fake trackers, an action, connections to them."""

from __future__ import annotations

import pytest

from actions.services import ActionInput, action_create
from tests.trackers.fake_tracker import FakeTracker
from trackers import services
from trackers.validation import connection_clean

GITHUB_TOKEN = "github_pat_11ABCDEFG0123456789_secretpart"
GITLAB_TOKEN = "glpat-abcdefghijklmnop1234"
JIRA_TOKEN = "ATATT3xFfGF0jira-token-0123456789"
JIRA_EMAIL = "bot@example.com"
WEBHOOK_SECRET = "a-webhook-secret-of-good-length"


@pytest.fixture
def fake():
    """The fake trackers, with one GitHub repository, GitLab project and Jira project."""
    with FakeTracker() as tracker:
        tracker.add_repo("acme/ml-platform", GITHUB_TOKEN)
        tracker.gitlab_project = tracker.add_project("acme/ml/platform", GITLAB_TOKEN)
        tracker.add_jira_project("MLOPS", JIRA_EMAIL, JIRA_TOKEN)
        yield tracker


def settings_for(fake: FakeTracker, provider: str, **overrides):
    """The checked settings of a connection to ``fake``'s project of ``provider``."""
    values = {
        "github": {
            "base_url": fake.github_url,
            "target": "acme/ml-platform",
            "token": GITHUB_TOKEN,
        },
        "gitlab": {
            "base_url": fake.gitlab_url,
            "target": "acme/ml/platform",
            "token": GITLAB_TOKEN,
        },
        "jira": {
            "base_url": fake.jira_url,
            "target": "MLOPS",
            "email": JIRA_EMAIL,
            "token": JIRA_TOKEN,
        },
    }[provider]
    values = {
        "provider": provider,
        "name": f"{provider} backlog",
        "webhook_secret": WEBHOOK_SECRET,
        "team": None,
        **values,
        **overrides,
    }
    return connection_clean(values, instance=None)


@pytest.fixture
def connect(fake, admin_user):
    """``connect(provider, **overrides)``: a connection to the fake tracker, through the
    service (its secrets encrypted)."""

    def make(provider: str, **overrides):
        return services.connection_create(
            values=settings_for(fake, provider, **overrides), by=admin_user
        )

    return make


@pytest.fixture
def action(survey, team, manager, member):
    """An open action of the team, owned by a member, due at the end of January."""
    import datetime

    question = survey.framework.questions.order_by("order").first()
    return action_create(
        ActionInput(
            team=team,
            survey=survey,
            question_key=question.key,
            owner=member,
            due=datetime.date(2027, 1, 31),
            title="Version the training data",
        ),
        by=manager,
    )


@pytest.fixture
def lead(db):
    """A programme lead: runs the console without being staff."""
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    user = UserFactory(username="lena")
    user.user_permissions.add(Permission.objects.get(codename="run_programme"))
    return user

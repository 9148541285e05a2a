"""Shared fixtures. Factories live in tests/factories.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from maturity.schema import parse_framework_file

MLOPS_YAML = Path(__file__).resolve().parent.parent / "maturity" / "frameworks" / "mlops.yaml"


@pytest.fixture(autouse=True)
def _fresh_page_cache(settings):
    """Cached API pages are keyed by ids and timestamps; a rolled-back test can leave an
    entry whose key a later test (same ids, a frozen clock) would hit: drop them all."""
    yield
    import redis
    from django.core.cache import cache

    from common.api import PAGE_KEY_PREFIX
    from common.redis import redis_client

    try:
        if settings.REDIS_URL:
            client = redis_client(settings.REDIS_URL)
            own = settings.CACHES["default"].get("KEY_PREFIX", "")
            for key in client.scan_iter(match=f"{own}:*{PAGE_KEY_PREFIX}*", count=1000):
                client.delete(key)
        else:
            cache.clear()
    except redis.ConnectionError:
        pass  # a test that stopped Redis: no cached page can be read either


@pytest.fixture(scope="session")
def mlops_spec():
    """The shipped framework, parsed and validated once per session."""
    return parse_framework_file(MLOPS_YAML)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker, mlops_spec):
    """Create the test database (pytest-django) and load the shipped framework into it once
    per session; every test then finds it, inside its own transaction."""
    from maturity.services import framework_load

    with django_db_blocker.unblock():
        framework_load(spec=mlops_spec, source=str(MLOPS_YAML))


@pytest.fixture
def mlops_framework(db, mlops_spec):
    """The shipped framework, loaded once per session (django_db_setup); a test after one
    that flushed the database (transaction=True) loads it again here."""
    from maturity.services import framework_load

    return framework_load(spec=mlops_spec, source=str(MLOPS_YAML)).framework


@pytest.fixture
def framework(mlops_framework):
    return mlops_framework


@pytest.fixture
def team(db):
    from tests.factories import TeamFactory

    return TeamFactory(slug="recsys", name="Recommendations")


@pytest.fixture
def other_team(db):
    from tests.factories import TeamFactory

    return TeamFactory(slug="fraud", name="Fraud Detection")


@pytest.fixture
def member(team):
    from tests.factories import MembershipFactory

    return MembershipFactory(team=team, user__username="alice").user


@pytest.fixture
def other_member(other_team):
    from tests.factories import MembershipFactory

    return MembershipFactory(team=other_team, user__username="ines").user


@pytest.fixture
def manager(team):
    from tests.factories import MembershipFactory

    return MembershipFactory(team=team, user__username="maria", role="manager").user


@pytest.fixture
def admin_user(db):
    from tests.factories import UserFactory

    return UserFactory(username="admin", is_staff=True, is_superuser=True)


@pytest.fixture
def survey(framework, team, other_team):
    from tests.factories import SurveyFactory

    return SurveyFactory(framework=framework, teams=[team, other_team], title="Q4 review")


def complete_answers(framework, score: int = 2, **overrides):
    """Return AnswerInputs answering every question of ``framework`` (overrides by key)."""
    from surveys.services import AnswerInput

    answers = []
    for question in framework.questions.order_by("order"):
        value = overrides.get(question.key, score)
        if value == "na":
            answers.append(AnswerInput(question=question, na=True))
        else:
            answers.append(AnswerInput(question=question, score=value))
    return answers


def api_answers(framework, score: int = 2) -> list[dict]:
    return [
        {"question": key, "choice": score}
        for key in framework.questions.order_by("order").values_list("key", flat=True)
    ]


def require(condition: bool, reason: str) -> None:
    """Skip when a real dependency is missing locally; in CI (CI=true) fail instead."""
    import os

    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must provide this: {reason}")
    pytest.skip(reason)


@pytest.fixture
def postgres_only():
    from django.db import connection

    require(connection.vendor == "postgresql", "needs PostgreSQL (set DATABASE_URL)")


@pytest.fixture
def no_frameworks(db):
    """Start without any framework (the session loads the shipped one): for tests of
    loading. The deletion is rolled back with the test."""
    from maturity.models import Framework

    Framework.objects.all().delete()

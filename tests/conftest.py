"""Shared fixtures. Factories live in tests/factories.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from maturity.schema import parse_framework_file

MLOPS_YAML = Path(__file__).resolve().parent.parent / "maturity" / "frameworks" / "mlops.yaml"
MLOPS_V2_YAML = MLOPS_YAML.with_name("mlops-v2.yaml")


@pytest.fixture(autouse=True)
def _fresh_page_cache(settings):
    """Cached API pages are keyed by ids and timestamps; a rolled-back test can leave an
    entry whose key a later test (same ids, a frozen clock) would hit: drop them all, and
    the data revision (common.revisions) that whole pages are kept under."""
    yield
    import redis
    from django.core.cache import cache

    from common.api import PAGE_KEY_PREFIX
    from common.redis import redis_client
    from common.revisions import REVISION_KEY

    try:
        if settings.REDIS_URL:
            client = redis_client(settings.REDIS_URL)
            own = settings.CACHES["default"].get("KEY_PREFIX", "")
            for key in client.scan_iter(match=f"{own}:*{PAGE_KEY_PREFIX}*", count=1000):
                client.delete(key)
            cache.delete(REVISION_KEY)
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


@pytest.fixture(scope="session")
def mlops_v2_file_spec():
    """Version 2 of the shipped framework, parsed once."""
    return parse_framework_file(MLOPS_V2_YAML)


@pytest.fixture
def v2_framework(db, mlops_v2_file_spec):
    """Version 2, loaded inside the test's transaction (the session database holds only
    version 1, so that the older tests keep their framework)."""
    from maturity.services import framework_load

    return framework_load(spec=mlops_v2_file_spec, source=str(MLOPS_V2_YAML)).framework


@pytest.fixture
def platform_team(db):
    from tests.factories import TeamFactory

    return TeamFactory(slug="ml-platform", name="ML Platform")


@pytest.fixture
def v2_survey(v2_framework, platform_team, team, other_team):
    """A version 2 round: the platform team with two product teams under it (recsys, fraud)."""
    from tests.factories import SurveyFactory

    for product in (team, other_team):
        product.parent = platform_team
        product.save(update_fields=["parent"])
    return SurveyFactory(
        framework=v2_framework, teams=[platform_team, team, other_team], title="Q1 on v2"
    )


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


def complete_answers(framework, score: int = 2, only=None, **overrides):
    """Return AnswerInputs answering every question of ``framework`` (overrides by key:
    a score, "na" or "dont_know"); ``only``: the ids of the questions to answer."""
    from surveys.services import AnswerInput

    answers = []
    for question in framework.questions.order_by("order"):
        if only is not None and question.pk not in only:
            continue
        value = overrides.get(question.key, score)
        if value == "na":
            answers.append(AnswerInput(question=question, na=True))
        elif value == "dont_know":
            answers.append(AnswerInput(question=question, dont_know=True))
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


def expire_all_sessions() -> None:
    """End every session as its expiry would: in the database and in the session cache
    (SESSION_ENGINE is cached_db with Redis)."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.sessions.models import Session

    store = import_module(settings.SESSION_ENGINE).SessionStore
    for key in Session.objects.values_list("session_key", flat=True):
        store(session_key=key).delete()

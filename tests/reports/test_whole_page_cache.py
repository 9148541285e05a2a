"""Report pages cached whole per reader under the data revision (common.revisions,
common.cache.cached_page): served from the cache while nothing is written, renewed by any
write however it is made, never shown to another reader, forms still post."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
import pytest
from django.core.cache import cache
from django.core.signals import setting_changed
from django.db import connection, transaction
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from common import revisions
from common.cache import csrf_placeholder
from common.db import insert_rows
from reports import services
from reports.authentication import api_token_create
from reports.services import _insert_frame
from surveys.models import DimensionTarget, Membership, Survey, Team
from tests.factories import MembershipFactory, UserFactory
from tests.reports.test_reports import answer

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture(autouse=True)
def _revisions_on(settings):
    settings.PAGE_REVISIONS = True


@pytest.fixture
def scored(framework, team, other_team, survey) -> Survey:
    answer(survey, team, [3, 2, 3])
    answer(survey, other_team, [1, 1, 2])
    services.aggregate(survey=survey)
    return survey


def pages(survey: Survey, team: Team) -> list[str]:
    return [
        f"/reports/teams/{team.slug}/?survey={survey.pk}",
        f"/reports/?survey={survey.pk}",
        f"/reports/heatmap.json?survey={survey.pk}",
    ]


def without_tokens(content: bytes) -> str:
    return TOKEN.sub('name="csrfmiddlewaretoken" value="-"', content.decode())


@pytest.mark.parametrize("page", [0, 1, 2])
def test_a_second_view_is_served_whole_from_the_cache(
    client, scored, team, manager, page, django_assert_max_num_queries
):
    client.force_login(manager)
    url = pages(scored, team)[page]
    client.get(url)  # stores the survey-wide figures (in a test, the worker's run has not)
    first = client.get(url)
    assert first.status_code == 200
    with django_assert_max_num_queries(2):  # the session (without Redis) and the user
        second = client.get(url)
    assert second.status_code == 200
    assert second["Content-Type"] == first["Content-Type"]
    assert without_tokens(second.content) == without_tokens(first.content)


def test_each_response_carries_the_readers_own_token_and_its_forms_post(scored, team, manager):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    url = pages(scored, team)[0]
    built, cached = client.get(url), client.get(url)
    placeholder = csrf_placeholder()
    for response in (built, cached):
        assert placeholder not in response.content.decode()
        assert TOKEN.search(response.content.decode())
    assert TOKEN.search(built.content.decode())[1] != TOKEN.search(cached.content.decode())[1]
    dimension = scored.framework.dimensions.order_by("order").first()
    posted = client.post(
        f"/reports/teams/{team.slug}/targets/?survey={scored.pk}",
        {
            "csrfmiddlewaretoken": TOKEN.search(cached.content.decode())[1],
            f"target-{dimension.key}": "3",
        },
    )
    assert posted.status_code == 302, "the cached page's token is accepted"
    # The message is shown once, with the new target: not cached, not kept.
    shown = client.get(url).content.decode()
    assert "Targets saved" in shown
    assert DimensionTarget.objects.get(team=team, dimension_key=dimension.key).target_level == 3
    assert "Targets saved" not in client.get(url).content.decode()


def test_a_process_under_another_secret_key_builds_its_own_page(
    client, scored, team, manager, monkeypatch
):
    """While a new SECRET_KEY rolls out, processes under the old and the new key share the
    cache: a page one cached carries its placeholder, which the other would not replace
    (the reader would get a token that fails, and see the placeholder)."""
    client.force_login(manager)
    url = pages(scored, team)[0]
    client.get(url)
    client.get(url)  # cached under this process's placeholder
    old = csrf_placeholder()
    for name in ("common.cache.csrf_placeholder", "common.context_processors.placeholder"):
        monkeypatch.setattr(name, lambda: "csrf" + "0" * 40)  # derived from another key
    response = client.get(url)
    assert response.status_code == 200
    assert old not in response.content.decode()
    assert TOKEN.search(response.content.decode())


def _saved(team: Team) -> None:
    team.name = "Renamed team"
    team.save()


# Writes that bypass save() set updated_at themselves, as the rename of a team anywhere
# in the product does (the fragments' versions read it).
def _updated(team: Team) -> None:
    Team.objects.filter(pk=team.pk).update(name="Renamed team", updated_at=timezone.now())


def _raw(team: Team) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Team._meta.db_table} SET name = %s, updated_at = %s"  # noqa: S608
            " WHERE id = %s",
            ["Renamed team", timezone.now(), team.pk],
        )


@pytest.mark.parametrize("rename", [_saved, _updated, _raw], ids=["save", "update", "raw SQL"])
def test_any_write_renews_the_pages(client, scored, team, manager, rename):
    client.force_login(manager)
    for url in pages(scored, team)[:2]:
        assert "Renamed team" not in client.get(url).content.decode()
    rename(team)
    for url in pages(scored, team)[:2]:
        assert "Renamed team" in client.get(url).content.decode()


def test_losing_access_is_seen_at_once(client, scored, team, member):
    client.force_login(member)
    url = pages(scored, team)[0]
    assert client.get(url).status_code == 200
    assert client.get(url).status_code == 200
    Membership.objects.filter(user=member, team=team).delete()
    assert client.get(url).status_code == 404


def test_a_readers_page_is_never_served_to_another(client, scored, team, manager):
    client.force_login(manager)
    url = pages(scored, team)[0]
    assert client.get(url).status_code == 200
    stranger = UserFactory(username="stranger")
    client.force_login(stranger)
    assert client.get(url).status_code == 404
    colleague = MembershipFactory(team=team, role="member").user
    client.force_login(colleague)
    page = client.get(url).content.decode()
    assert f"Log out {colleague.username}" in page and f"Log out {manager.username}" not in page


@pytest.mark.django_db(transaction=True)
def test_a_write_renews_the_revision_when_it_commits_and_for_its_own_reads(scored, team):
    before = revisions.current()
    with transaction.atomic():
        Team.objects.filter(pk=team.pk).update(name="Renamed team")
        assert cache.get(revisions.REVISION_KEY) == before, "others cannot see it yet"
        inside = revisions.current()
        assert inside != before, "the writing connection reads its own change"
    assert cache.get(revisions.REVISION_KEY) not in (before, inside)
    committed = revisions.current()
    with transaction.atomic():
        Team.objects.filter(pk=team.pk).update(name="Again")
        transaction.set_rollback(True)
    assert cache.get(revisions.REVISION_KEY) == committed, "a rolled back write renews nothing"


def test_a_copy_renews_the_revision(scored, team):
    before = revisions.current()
    insert_rows(DimensionTarget, ["team_id", "dimension_key", "target_level", "updated_at"],
                [[team.pk, "copy", 2, "2026-01-01T00:00:00Z"]])  # fmt: skip
    assert revisions.current() != before


def test_a_copy_of_scores_renews_the_revision(scored, team):
    """Scoring copies its child rows (reports.services._insert_frame) past the execute
    wrapper, like insert_rows: it must tell the revision itself, not count on a statement
    before it in the same transaction."""
    before = revisions.current()
    frame = pd.DataFrame(
        {"team_id": [team.pk], "dimension_key": ["copy"], "target_level": [2],
         "updated_at": [timezone.now()]}
    )  # fmt: skip
    _insert_frame(DimensionTarget, frame)
    assert DimensionTarget.objects.filter(team=team, dimension_key="copy").exists()
    assert revisions.current() != before


def test_reading_and_signing_in_keep_the_revision(client, scored, team, manager):
    client.force_login(manager)
    url = pages(scored, team)[0]
    client.get(url)
    before = revisions.current()
    for _ in range(2):
        for page in pages(scored, team):
            client.get(page)
    client.session.save()  # a session write: exempt
    assert revisions.current() == before


@pytest.mark.parametrize(
    ("page", "query"),
    [(0, "&utm_source=mail"), (0, "&survey={survey}"), (1, "&x=1"), (2, "&sort=name&sort=name")],
    ids=["tracking tag", "repeated", "unread", "repeated, heatmap"],
)
def test_a_query_the_page_does_not_read_mints_no_cached_copy(
    client, scored, team, manager, page, query
):
    """Only the query parameters a page reads, each once, key its cached copy: any other
    query string (a tracking tag, junk, a repeat) is built each time, so that nobody can
    fill the shared cache with copies of a 200 kB page by varying it."""
    client.force_login(manager)
    url = pages(scored, team)[page] + query.format(survey=scored.pk)
    client.get(url)
    client.get(url)
    with CaptureQueriesContext(connection) as statements:
        response = client.get(url)
    assert response.status_code == 200
    assert len(statements) > 2, "built, not served from the cache"


def test_signing_in_keeps_the_revision(client, scored, team, manager):
    """Django stores last_login at each sign-in: no page shows it, and renewing the
    revision there would drop every reader's cached pages whenever anyone signs in."""
    before = revisions.current()
    client.force_login(manager)
    manager.refresh_from_db()
    assert manager.last_login is not None, "the sign-in was stored"
    assert revisions.current() == before


def test_reading_the_api_with_a_token_keeps_the_revision(scored, team, manager):
    """An API client's read records its token's last use (once a minute): no page shows
    it, and a dashboard polling the API must not drop every reader's pages each minute."""
    token, key = api_token_create(user=manager, name="dashboard")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    before = revisions.current()
    assert api.get("/api/v1/teams/").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None, "the last use was written"
    assert revisions.current() == before


@pytest.mark.django_db(transaction=True)
def test_a_finished_transaction_renews_the_revision_no_more(scored, team):
    """The write of a committed transaction renewed the revision when it committed, and a
    rolled back one changed nothing: the connection's next read keeps the revision."""
    with transaction.atomic():
        Team.objects.filter(pk=team.pk).update(name="Renamed team")
    committed = cache.get(revisions.REVISION_KEY)
    assert revisions.current() == committed
    with transaction.atomic():
        Team.objects.filter(pk=team.pk).update(name="Again")
        transaction.set_rollback(True)
    assert revisions.current() == committed


@pytest.mark.parametrize(
    ("sql", "writes"),
    [
        ("SELECT 1", False),
        ("  select * from surveys_team", False),
        ("SAVEPOINT s1", False),
        ("RELEASE SAVEPOINT s1", False),
        ("WITH RECURSIVE up(id) AS (SELECT 1) SELECT id FROM up", False),
        # QuerySet.union() on PostgreSQL: each part in parentheses.
        ('(SELECT "id" FROM "surveys_team") UNION (SELECT "id" FROM "surveys_team")', False),
        ('INSERT INTO "surveys_team" ("name") VALUES (%s)', True),
        ('UPDATE "surveys_team" SET "name" = %s', True),
        ("delete from surveys_membership where id = 1", True),
        ("WITH x AS (SELECT 1) INSERT INTO surveys_team SELECT * FROM x", True),
        ('UPDATE "django_session" SET "session_data" = %s', False),
        ('INSERT INTO "axes_accessattempt" ("username") VALUES (%s)', False),
        ("TRUNCATE surveys_team", True),
        ("ALTER TABLE surveys_team ADD COLUMN x int", True),
    ],
)
def test_what_counts_as_a_write(sql, writes):
    assert revisions.may_write(sql) is writes


def test_without_a_shared_cache_pages_are_built_each_time(client, scored, team, manager, settings):
    settings.PAGE_REVISIONS = False
    client.force_login(manager)
    url = pages(scored, team)[0]
    client.get(url)
    with CaptureQueriesContext(connection) as statements:
        client.get(url)
    assert len(statements) > 2, "the page is built: team, rounds, version, actions..."


def test_an_unreachable_cache_builds_the_page(client, scored, team, manager, settings):
    client.force_login(manager)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    client.force_login(manager)
    assert revisions.current() is None
    response = client.get(pages(scored, team)[0])
    assert response.status_code == 200 and team.name in response.content.decode()


# Writes a reader could make between two views; each must show on the next view.
WRITES = {
    "rename": lambda c: Team.objects.filter(pk=c["team"].pk).update(name=f"Team {c['n']}"),
    "title": lambda c: Survey.objects.filter(pk=c["survey"].pk).update(title=f"Round {c['n']}"),
    "target": lambda c: DimensionTarget.objects.update_or_create(
        team=c["team"], dimension_key=c["dimension"], defaults={"target_level": c["n"] % 4 + 1}
    ),
    "member": lambda c: MembershipFactory(team=c["team"]),
    "results": lambda c: Survey.objects.filter(pk=c["survey"].pk).update(
        members_see_results=c["n"] % 2 == 0
    ),
    "nothing": lambda c: None,
}


@contextmanager
def built_now() -> Iterator[None]:
    """Pages built, not cached, without the settings change itself renewing the revision
    (common.apps: a change of settings does, for tests that change them between views)."""
    setting_changed.disconnect(dispatch_uid="common.revisions.settings")
    try:
        with override_settings(PAGE_REVISIONS=False):
            yield
    finally:
        setting_changed.connect(revisions.changed, dispatch_uid="common.revisions.settings")


@hypothesis_settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(sorted(WRITES)),
            st.sampled_from(["manager", "member"]),
            st.integers(0, 2),
        ),  # fmt: skip
        min_size=1,
        max_size=6,
    )
)
def test_a_cached_page_is_the_page_built_now(scored, team, manager, member, steps):
    """Property: after any sequence of writes, each view served through the whole-page
    cache equals the page built from scratch at that moment (CSRF tokens aside)."""
    readers = {"manager": Client(), "member": Client()}
    readers["manager"].force_login(manager)
    readers["member"].force_login(member)
    context = {
        "team": team,
        "survey": scored,
        "dimension": scored.framework.dimensions.order_by("order").first().key,
    }
    for n, (write, reader, page) in enumerate(steps):
        context["n"] = n
        WRITES[write](context)
        url = pages(scored, team)[page]
        cached = readers[reader].get(url)
        readers[reader].get(url)  # a second view: from the cache when the first stored it
        again = readers[reader].get(url)
        with built_now():
            fresh = readers[reader].get(url)
        assert again.status_code == fresh.status_code == cached.status_code
        assert without_tokens(again.content) == without_tokens(fresh.content)

"""Anonymous surveys' exports (issue 13): no time finer than the day, and a pseudonym per
(survey, team), so that a member of two teams cannot be joined across them."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reports import services
from reports.exports import respondent_pseudonym
from surveys.models import Response, Survey
from surveys.services import respondent_key_for
from tests.factories import MembershipFactory
from tests.reports.test_api import submit, token_client
from tests.reports.test_exports import FORMATS, fetch, parse

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_api(admin_user):
    return token_client(admin_user)


@pytest.fixture
def two_teams(survey, team, other_team, member, manager, other_member):
    """An anonymous survey in which ``member`` answers for both teams, two per team."""
    survey.anonymous = True
    survey.min_group_size = 2
    survey.save()
    MembershipFactory(team=other_team, user=member)
    submit(survey, team, member, 3)
    submit(survey, team, manager, 1)
    submit(survey, other_team, member, 2)
    submit(survey, other_team, other_member, 4)
    Survey.objects.filter(pk=survey.pk).update(status="closed")  # results are released
    survey.refresh_from_db()
    services.aggregate(survey=survey)
    return survey


def pseudonyms_by_team(survey, admin_api, fmt: str) -> dict[str, set[str]]:
    """Return the pseudonyms an export shows per team; rows carry no response id."""
    _, body = fetch(admin_api, "answers", survey=survey.pk, format=fmt)
    rows = parse(body, fmt)
    assert {row["response_id"] for row in rows} <= {None, ""}  # ids would date responses
    found: dict[str, set[str]] = {}
    for row in rows:
        found.setdefault(row["team"], set()).add(row["respondent"])
    return found


def pseudonym_of(survey, response) -> str:
    return respondent_pseudonym(survey, response.team_id, response.respondent_key)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_member_of_two_teams_has_a_different_pseudonym_in_each(
    two_teams, team, other_team, member, admin_api, fmt
):
    pseudonyms = pseudonyms_by_team(two_teams, admin_api, fmt)
    counted = Response.objects.filter(survey=two_teams, status="submitted")
    # the member's two responses share one respondent key, yet nothing joins them
    key = respondent_key_for(member, two_teams)
    assert counted.filter(respondent_key=key).count() == 2
    in_team = pseudonym_of(two_teams, counted.get(respondent_key=key, team=team))
    in_other = pseudonym_of(two_teams, counted.get(respondent_key=key, team=other_team))
    assert in_team != in_other
    assert in_team in pseudonyms[team.slug] and in_other in pseudonyms[other_team.slug]
    every = pseudonyms[team.slug] | pseudonyms[other_team.slug]
    assert len(every) == 4
    for value in every:
        assert re.fullmatch("[0-9a-f]{16}", value), value


def test_a_pseudonym_is_stable_across_resubmissions_in_one_team(two_teams, team, member, admin_api):
    before = pseudonyms_by_team(two_teams, admin_api, "ndjson")
    key = respondent_key_for(member, two_teams)
    first = Response.objects.get(respondent_key=key, team=team, status="submitted")
    Survey.objects.filter(pk=two_teams.pk).update(status="open")
    again = submit(Survey.objects.get(pk=two_teams.pk), team, member, 0)
    Survey.objects.filter(pk=two_teams.pk).update(status="closed")
    after = pseudonyms_by_team(two_teams, admin_api, "ndjson")
    assert first.pk != again.pk
    assert pseudonym_of(two_teams, again) == pseudonym_of(two_teams, first)
    assert after == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_anonymous_exports_carry_the_utc_day_not_the_time(two_teams, team, admin_api, fmt):
    counted = Response.objects.filter(survey=two_teams, status="submitted")
    late = counted.filter(team=team).order_by("pk").first()
    counted.exclude(pk=late.pk).update(submitted_at=datetime(2026, 1, 6, 0, 0, 0, 1, tzinfo=UTC))
    counted.filter(pk=late.pk).update(
        submitted_at=datetime(2026, 1, 5, 23, 59, 59, 999999, tzinfo=UTC)
    )
    _, body = fetch(admin_api, "answers", survey=two_teams.pk, format=fmt)
    days = {(row["team"], row["respondent"]): row["submitted_at"] for row in parse(body, fmt)}
    if fmt == "parquet":
        assert pq.read_schema(io.BytesIO(body)).field("submitted_at").type == pa.date32()
        want_late, want_rest = date(2026, 1, 5), date(2026, 1, 6)
    else:
        want_late, want_rest = "2026-01-05", "2026-01-06"
    assert days.pop((team.slug, pseudonym_of(two_teams, late))) == want_late
    assert set(days.values()) == {want_rest}
    if fmt in ("csv", "json", "ndjson"):
        assert b"23:59" not in body and b"00:00" not in body


def test_anonymous_exports_refuse_a_since_finer_than_the_day(two_teams, admin_api):
    Response.objects.filter(survey=two_teams).update(
        submitted_at=datetime(2026, 1, 5, 10, 30, tzinfo=UTC)
    )
    for kind in ("answers", "scores"):
        response, _ = fetch(admin_api, kind, survey=two_teams.pk, since="2026-01-05T10:00:00Z")
        assert response.status_code == 400
        assert response.json() == {
            "since": [
                "This survey is anonymous: exports carry no time finer than the day, so "
                "since must be a UTC midnight, e.g. 2026-01-05T00:00:00Z."
            ]
        }
    response, body = fetch(
        admin_api, "answers", survey=two_teams.pk, since="2026-01-05T00:00:00Z", format="csv"
    )
    assert response.status_code == 200 and len(parse(body, "csv")) > 0
    _, body = fetch(
        admin_api, "answers", survey=two_teams.pk, since="2026-01-06T00:00:00Z", format="csv"
    )
    assert parse(body, "csv") == []


def test_named_surveys_keep_the_time_and_any_since(survey, team, member, manager, admin_api):
    submit(survey, team, member, 3)
    response, body = fetch(
        admin_api, "answers", survey=survey.pk, since="2020-01-05T10:00:00Z", format="json"
    )
    assert response.status_code == 200
    submitted_at = parse(body, "json")[0]["submitted_at"]
    assert datetime.fromisoformat(submitted_at) == Response.objects.get().submitted_at

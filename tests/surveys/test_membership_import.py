"""Bulk membership import (issue 18): the service, POST /api/v1/memberships/import/ and
manage.py import_memberships. One wrong row writes nothing; every problem has its line."""

from __future__ import annotations

import io

import pytest
from auditlog.models import LogEntry
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from surveys.membership_import import MAX_IMPORT_ROWS, memberships_import
from surveys.models import Membership
from tests.factories import TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/memberships/import/"


def memberships() -> set[tuple[str, str, str]]:
    return set(Membership.objects.values_list("user__username", "team__slug", "role"))


def test_imports_new_and_existing_people_and_changes_roles(team, other_team, member):
    before_logs = LogEntry.objects.count()
    csv = (
        "email,team,role\n"
        "ALICE@example.com,fraud,manager\n"  # member of recsys: case of the address ignored
        "alice@example.com,recsys,manager\n"  # her role in recsys changes
        "new.person@example.com,recsys,\n"  # no account yet: one is created, role member
    )
    outcome = memberships_import(csv.encode())
    assert outcome.errors == []
    assert outcome.applied
    assert outcome.counts == {
        "rows": 3,
        "added": 2,
        "roles_changed": 1,
        "unchanged": 0,
        "accounts_created": 1,
    }
    assert memberships() == {
        ("alice", "fraud", "manager"),
        ("alice", "recsys", "manager"),
        ("new.person@example.com", "recsys", "member"),
    }
    created = get_user_model().objects.get(username="new.person@example.com")
    assert created.email == "new.person@example.com"
    assert not created.has_usable_password()
    # Each membership written is in the audit log (2 added, 1 changed).
    assert LogEntry.objects.count() - before_logs >= 3

    again = memberships_import(csv.encode())
    assert again.applied and again.counts["unchanged"] == 3 and again.counts["added"] == 0


def test_one_wrong_row_writes_nothing_and_every_problem_has_its_line(team, member):
    TeamFactory(slug="old", name="Old team", archived_at="2026-01-01T00:00:00Z")
    csv = (
        "email,team,role\n"
        "bob@example.com,recsys,member\n"  # fine on its own
        "not-an-address,recsys,member\n"
        "carol@example.com,nope,member\n"
        "dave@example.com,recsys,owner\n"
        "erin@example.com,old,member\n"
        ",recsys,\n"
        "bob@example.com,recsys,manager\n"  # repeats line 2
    )
    before = memberships()
    outcome = memberships_import(csv.encode())
    assert not outcome.applied
    assert [(e.line, e.column) for e in outcome.errors] == [
        (3, "email"),
        (4, "team"),
        (5, "role"),
        (6, "team"),
        (7, "email"),
        (8, ""),
    ]
    assert "Repeats line 2" in outcome.errors[-1].message
    assert 'No team has the slug "nope"' in outcome.errors[1].message
    assert "archived" in outcome.errors[3].message
    assert memberships() == before
    assert not get_user_model().objects.filter(email="bob@example.com").exists()


@pytest.mark.parametrize(
    ("data", "line", "message"),
    [
        (b"", 1, "The file is empty"),
        (b"name,team\nx,recsys\n", 1, "Missing: email"),
        (b"email,team,team\na@example.com,recsys,x\n", 1, "team more than once"),
        (b"email,team,role\n", 0, "no rows"),
        (b"email,team\n\xff\xfe@example.com,recsys\n", 0, "not UTF-8"),
        (b'email,team\n"a@example.com,recsys\n', 2, "not valid CSV"),
        (b"email,team\na@example.com\x00,recsys\n", 2, "not valid CSV"),
    ],
)
def test_a_wrong_file_is_refused_with_a_clear_message(team, data, line, message):
    outcome = memberships_import(data)
    assert not outcome.applied and outcome.rows == []
    assert len(outcome.errors) == 1, outcome.errors
    assert outcome.errors[0].line == line
    assert message in outcome.errors[0].message
    assert memberships() == set()


def test_spreadsheet_files_bom_semicolons_crlf_extra_columns_and_blank_lines(team):
    data = "\ufeffName;E-mail;Email;Team\r\nAna;x;ana@example.com;recsys\r\n;;;\r\n\r\n".encode()
    # "E-mail" is not a column name we read: reported as ignored, like "Name".
    outcome = memberships_import(data)
    assert outcome.applied, outcome.errors
    assert outcome.ignored_columns == ["name", "e-mail"]
    assert memberships() == {("ana@example.com", "recsys", "member")}


def test_limits_on_rows_and_bytes(team):
    rows = "".join(f"p{i}@example.com,recsys\n" for i in range(MAX_IMPORT_ROWS + 1))
    outcome = memberships_import(("email,team\n" + rows).encode())
    assert [e.line for e in outcome.errors] == [MAX_IMPORT_ROWS + 2]
    assert "split the file" in outcome.errors[0].message
    small = memberships_import(b"email,team\na@example.com,recsys\n", limit_bytes=10)
    assert "larger than 10 bytes" in small.errors[0].message
    assert memberships() == set()


def test_an_address_several_accounts_share_is_refused_and_one_account_named_by_it_is_used(team):
    UserFactory(username="twin1", email="twin@example.com")
    UserFactory(username="twin2", email="Twin@Example.com")
    UserFactory(username="sam@example.com", email="")
    outcome = memberships_import(b"email,team\ntwin@example.com,recsys\n")
    assert [e.column for e in outcome.errors] == ["email"]
    assert "Several accounts" in outcome.errors[0].message
    outcome = memberships_import(b"email,team\nSam@example.com,recsys\n")
    assert outcome.applied and outcome.counts["accounts_created"] == 0
    assert memberships() == {("sam@example.com", "recsys", "member")}


def test_dry_run_plans_without_writing(team, member):
    outcome = memberships_import(
        b"email,team,role\nalice@example.com,recsys,manager\nzoe@example.com,recsys,member\n",
        dry_run=True,
    )
    assert not outcome.applied and outcome.errors == []
    assert [(r.email, r.action, r.previous_role, r.new_account) for r in outcome.rows] == [
        ("alice@example.com", "change role", "member", False),
        ("zoe@example.com", "add", "", True),
    ]
    assert memberships() == {("alice", "recsys", "member")}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_get_an_outcome_never_an_exception(team, data):
    outcome = memberships_import(b"email,team,role\n" + data, dry_run=True)
    assert outcome.errors or outcome.rows or data.strip(b"\r\n,;\t ") == b""


# --- the API ---------------------------------------------------------------------------------


@pytest.fixture
def api():
    return APIClient()


def test_api_imports_a_text_csv_body_and_a_multipart_file(api, admin_user, team):
    api.force_authenticate(admin_user)
    response = api.post(
        URL, b"email,team\nann@example.com,recsys\n", content_type="text/csv; charset=utf-8"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["applied"] is True and body["counts"]["added"] == 1
    assert body["rows"][0]["action"] == "add" and body["errors"] == []
    upload = SimpleUploadedFile("m.csv", b"email,team,role\nann@example.com,recsys,manager\n")
    response = api.post(URL, {"file": upload}, format="multipart")
    assert response.status_code == 200, response.json()
    assert response.json()["counts"]["roles_changed"] == 1
    assert memberships() == {("ann@example.com", "recsys", "manager")}


def test_api_answers_400_with_row_errors_and_writes_nothing(api, admin_user, team):
    api.force_authenticate(admin_user)
    response = api.post(
        URL,
        b"email,team\nok@example.com,recsys\nbad@,recsys\n",
        content_type="text/csv",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["applied"] is False
    assert body["errors"] == [
        {"line": 3, "column": "email", "message": '"bad@" is not an e-mail address.'}
    ]
    assert memberships() == set()


def test_api_dry_run_and_bad_requests(api, admin_user, team):
    api.force_authenticate(admin_user)
    csv = b"email,team\nann@example.com,recsys\n"
    response = api.post(f"{URL}?dry_run=true", csv, content_type="text/csv")
    assert response.status_code == 200 and response.json()["dry_run"] is True
    assert response.json()["applied"] is False and memberships() == set()
    response = api.post(f"{URL}?dry_run=maybe", csv, content_type="text/csv")
    assert response.status_code == 400 and "dry_run" in response.json()
    response = api.post(URL, {"other": "x"}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()["detail"]
    response = api.post(URL, b"", content_type="text/csv")
    assert response.status_code == 400
    response = api.post(URL, b"{}", content_type="application/json")
    assert response.status_code == 415


def test_api_import_is_for_admins_only(api, manager, team):
    api.force_authenticate(manager)
    csv = b"email,team,role\nx@example.com,recsys,manager\n"
    assert api.post(URL, csv, content_type="text/csv").status_code == 403
    api.force_authenticate(None)
    assert api.post(URL, csv, content_type="text/csv").status_code in (401, 403)
    assert not Membership.objects.filter(user__email="x@example.com").exists()


# --- manage.py import_memberships --------------------------------------------------------------


def test_command_imports_a_file_and_refuses_a_wrong_one(tmp_path, team, capsys):
    good = tmp_path / "good.csv"
    good.write_text("email,team,role\nkim@example.com,recsys,manager\n")
    out = io.StringIO()
    call_command("import_memberships", str(good), "--dry-run", stdout=out)
    assert "Would import 1 row(s): 1 membership(s) added" in out.getvalue()
    assert memberships() == set()
    call_command("import_memberships", str(good), stdout=out)
    assert memberships() == {("kim@example.com", "recsys", "manager")}

    bad = tmp_path / "bad.csv"
    bad.write_text("email,team\nlee@example.com,nope\n")
    err = io.StringIO()
    with pytest.raises(CommandError, match="Nothing was imported: 1 problem"):
        call_command("import_memberships", str(bad), stderr=err)
    assert 'line 2, team: No team has the slug "nope".' in err.getvalue()
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_memberships", str(tmp_path / "missing.csv"))


def test_api_import_is_open_to_programme_leads(api, team):
    from django.contrib.auth.models import Permission

    lead = UserFactory(username="lena")
    lead.user_permissions.add(Permission.objects.get(codename="run_programme"))
    api.force_authenticate(lead)
    response = api.post(URL, b"email,team\nx@example.com,recsys\n", content_type="text/csv")
    assert response.status_code == 200, response.json()
    assert memberships() == {("x@example.com", "recsys", "member")}


def test_a_username_names_an_existing_account_only(team, member):
    outcome = memberships_import(b"email,team,role\nalice,recsys,manager\nghost,recsys,\n")
    assert [(e.line, e.column) for e in outcome.errors] == [(3, "email")]
    assert 'No account is named "ghost"' in outcome.errors[0].message
    outcome = memberships_import(b"email,team,role\nalice,recsys,manager\n")
    assert outcome.applied and memberships() == {("alice", "recsys", "manager")}


def test_usernames_are_matched_exactly_and_one_person_twice_is_a_repeat(team, member):
    """Break-it findings: "ben" matched the account "Ben"; the same person by username and
    by address was imported twice (and silently made manager)."""
    ben = UserFactory(username="ben", email="ben@example.com")
    UserFactory(username="Ben", email="big.ben@example.com")
    outcome = memberships_import(b"email,team\nben,recsys\n")
    assert outcome.applied
    assert Membership.objects.get(team=team, user__username__iexact="ben").user == ben
    outcome = memberships_import(b"email,team\nBEN,recsys\n")
    assert 'No account is named "BEN"' in outcome.errors[0].message
    outcome = memberships_import(
        b"email,team,role\nalice,recsys,member\nALICE@example.com,recsys,manager\n"
    )
    assert [(e.line, e.message) for e in outcome.errors] == [
        (3, "Repeats line 2 (the same person in the same team).")
    ]
    assert Membership.objects.get(user=member).role == "member"

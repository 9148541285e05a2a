"""The lead's console (/manage/, issue 18): who may use it, the teams tree and the
membership import's check -> preview -> import path in the web."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from surveys.models import Membership
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

IMPORT = "/manage/memberships/import/"


@pytest.fixture
def lead(db):
    """A programme lead: not Django staff, holds surveys.run_programme."""
    user = UserFactory(username="lena")
    user.user_permissions.add(Permission.objects.get(codename="run_programme"))
    return user


def memberships() -> set[tuple[str, str, str]]:
    return set(Membership.objects.values_list("user__username", "team__slug", "role"))


def test_who_may_use_the_console(client, admin_user, lead, manager, team):
    response = client.get("/manage/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    client.force_login(manager)  # a team's manager does not run the programme
    assert client.get("/manage/").status_code == 403
    assert client.post(IMPORT, {"text": "email,team\na@example.com,recsys\n"}).status_code == 403
    assert "lead's console" not in client.get("/").content.decode()
    client.force_login(lead)
    assert client.get("/manage/").status_code == 200
    assert "open the lead's console" in client.get("/").content.decode()
    client.force_login(admin_user)
    assert client.get("/manage/").status_code == 200
    assert memberships() == {("maria", "recsys", "manager")}


def test_the_teams_tree_nests_children_and_escapes_names(client, admin_user, team):
    platform = TeamFactory(slug="platform", name="<script>alert(1)</script> Platform")
    team.parent = platform
    team.save()
    MembershipFactory(team=team, role="manager")
    MembershipFactory(team=team)
    client.force_login(admin_user)
    page = client.get("/manage/").content.decode()
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Platform" in page
    # The child is listed inside its parent's item, with its counts.
    parent_at = page.index("Platform</strong>")
    child_at = page.index("Recommendations</strong>")
    assert parent_at < child_at
    assert "2 members, 1 manager" in page


def test_check_previews_without_writing_then_import_writes(client, lead, team, member):
    client.force_login(lead)
    text = "email,team,role\nalice@example.com,recsys,manager\nnew@example.com,recsys,\n"
    response = client.post(IMPORT, {"action": "check", "text": text})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Checked: nothing is written yet" in page
    assert "1 membership to add" in page and "1 role to change" in page
    assert "role member → manager" in page and "new account" in page
    assert memberships() == {("alice", "recsys", "member")}
    # The preview's button posts the same text back to import it.
    assert response.context["text"] == text
    response = client.post(IMPORT, {"action": "apply", "text": text})
    assert response.status_code == 302 and response["Location"] == "/manage/"
    assert memberships() == {
        ("alice", "recsys", "manager"),
        ("new@example.com", "recsys", "member"),
    }
    page = client.get("/manage/").content.decode()
    assert (
        "Imported 2 rows: 1 membership added, 1 role changed, 0 unchanged, 1 account created."
    ) in page


def test_problems_are_listed_with_lines_and_the_text_stays_to_fix(client, lead, team):
    client.force_login(lead)
    text = "email,team\nok@example.com,recsys\n<b>bad</b>@x,recsys\n"
    response = client.post(IMPORT, {"action": "apply", "text": text})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Nothing was imported: 1 problem" in page
    assert "&quot;&lt;b&gt;bad&lt;/b&gt;@x&quot; is not an e-mail address." in page
    assert "<b>bad</b>" not in page
    # The text is back in the form, escaped, to fix in place.
    assert "&lt;b&gt;bad&lt;/b&gt;@x,recsys" in page
    assert memberships() == set()


def test_an_uploaded_file_is_checked_and_a_wrong_one_refused(client, admin_user, team):
    client.force_login(admin_user)
    upload = SimpleUploadedFile("m.csv", "\ufeffemail;team\r\nzoe@example.com;recsys\r\n".encode())
    response = client.post(IMPORT, {"action": "check", "file": upload})
    assert response.status_code == 200
    assert "1 membership to add" in response.content.decode()
    assert response.context["text"].startswith("email;team")
    latin1 = SimpleUploadedFile("m.csv", "email,team\nzoë@example.com,recsys\n".encode("latin-1"))
    response = client.post(IMPORT, {"action": "check", "file": latin1})
    assert response.status_code == 400
    assert "not UTF-8 text" in response.content.decode()
    response = client.post(IMPORT, {"action": "check", "text": "   "})
    assert response.status_code == 400
    assert "Choose a CSV file or paste its text." in response.content.decode()
    assert memberships() == set()


def test_create_rename_move_and_archive_teams(client, lead, team):
    client.force_login(lead)
    response = client.post("/manage/teams/new/", {"name": "ML Platform", "slug": "", "parent": ""})
    assert response.status_code == 302 and response["Location"] == "/manage/teams/ml-platform/"
    response = client.post("/manage/teams/new/", {"name": "ML Platform", "slug": ""})
    assert response.status_code == 400
    assert "A team already has the slug &quot;ml-platform&quot;." in response.content.decode()
    # Move recsys under the platform team and rename it.
    response = client.post(
        "/manage/teams/recsys/", {"name": "Recommender systems", "parent": "ml-platform"}
    )
    assert response.status_code == 302
    team.refresh_from_db()
    assert (team.name, team.parent.slug) == ("Recommender systems", "ml-platform")
    # The platform team cannot move under its own child: the choice is not even offered.
    response = client.post(
        "/manage/teams/ml-platform/", {"name": "ML Platform", "parent": "recsys"}
    )
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    # Archived: kept, no new members, no new children.
    assert client.post("/manage/teams/recsys/archive/").status_code == 302
    team.refresh_from_db()
    assert team.archived_at is not None
    response = client.post("/manage/teams/recsys/members/", {"person": "a@example.com"})
    assert response.status_code == 400 and "archived" in response.content.decode()
    client.post("/manage/teams/recsys/archive/", {"action": "unarchive"})
    team.refresh_from_db()
    assert team.archived_at is None


def test_add_change_role_and_remove_members(client, lead, team, member):
    client.force_login(lead)
    response = client.post(
        "/manage/teams/recsys/members/", {"person": "new@example.com", "role": "manager"}
    )
    assert response.status_code == 302
    assert memberships() == {
        ("alice", "recsys", "member"),
        ("new@example.com", "recsys", "manager"),
    }
    response = client.post("/manage/teams/recsys/members/", {"person": "nobody", "role": "member"})
    assert response.status_code == 400
    assert "No account is named &quot;nobody&quot;" in response.content.decode()
    alice = Membership.objects.get(user=member)
    url = f"/manage/teams/recsys/members/{alice.pk}/"
    assert client.post(url, {"role": "manager"}).status_code == 302
    assert ("alice", "recsys", "manager") in memberships()
    client.post(url, {"role": "owner"})
    assert "is not a role" in client.get("/manage/teams/recsys/").content.decode()
    assert client.post(url, {"action": "remove"}).status_code == 302
    assert memberships() == {("new@example.com", "recsys", "manager")}
    # A membership of another team is not reachable through this team's URL.
    other = MembershipFactory(team=TeamFactory(slug="other"))
    assert (
        client.post(f"/manage/teams/recsys/members/{other.pk}/", {"action": "remove"}).status_code
        == 404
    )


def test_the_api_refuses_a_loop_with_the_same_rule(admin_user, team):
    from rest_framework.test import APIClient

    child = TeamFactory(slug="child", parent=team)
    api = APIClient()
    api.force_authenticate(admin_user)
    response = api.patch("/api/v1/teams/recsys/", {"parent": child.slug}, format="json")
    assert response.status_code == 400
    assert response.json() == {"parent": ["A team cannot be its own ancestor."]}

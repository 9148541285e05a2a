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
    response = client.post("/manage/teams/", {"name": "ML Platform", "slug": "", "parent": ""})
    assert response.status_code == 302 and response["Location"] == "/manage/teams/ml-platform/"
    response = client.post("/manage/teams/", {"name": "ML Platform", "slug": ""})
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
    response = client.post(
        "/manage/teams/recsys/members/", {"person": "a@example.com"}, follow=True
    )
    assert "archived" in response.content.decode()
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


# --- survey rounds ---------------------------------------------------------------------------


def round_form(framework, **overrides):
    data = {
        "title": "Q1 2027 review",
        "description": "",
        "framework": framework.pk,
        "teams": ["recsys"],
        "subtree": "",
        "opens_at": "2027-01-10T09:00",
        "closes_at": "2027-01-31T18:00",
        "min_group_size": "3",
        "members_see_results": "on",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_create_open_extend_close_and_clone_a_round(
    client, lead, framework, team, other_team, settings
):
    from surveys.models import Survey

    settings.TIME_ZONE = "Europe/Paris"
    platform = TeamFactory(slug="platform", name="Platform")
    TeamFactory(slug="infra", name="Infra", parent=platform)
    client.force_login(lead)
    assert client.get("/manage/surveys/new/").status_code == 200
    response = client.post("/manage/surveys/new/", round_form(framework, subtree="platform"))
    assert response.status_code == 302, response.content.decode()[-3000:]
    survey = Survey.objects.get(title="Q1 2027 review")
    assert survey.status == "draft"
    assert sorted(survey.teams.values_list("slug", flat=True)) == ["infra", "platform", "recsys"]
    # The lead's zone: 09:00 in Paris is 08:00 UTC in January.
    assert survey.opens_at.isoformat() == "2027-01-10T08:00:00+00:00"
    url = f"/manage/surveys/{survey.pk}/"
    page = client.get(url).content.decode()
    assert "Times are in Europe/Paris" in page and "Participation" in page
    client.post(f"{url}status/", {"action": "open"})
    survey.refresh_from_db()
    assert survey.status == "open"
    response = client.post(f"{url}status/", {"action": "extend", "closes_at": "2020-01-01T00:00"})
    assert response.status_code == 400 and "in the future" in response.content.decode()
    client.post(f"{url}status/", {"action": "extend", "closes_at": "2027-02-28T18:00"})
    survey.refresh_from_db()
    assert survey.closes_at.isoformat() == "2027-02-28T17:00:00+00:00"
    client.post(f"{url}status/", {"action": "close"})
    survey.refresh_from_db()
    assert survey.status == "closed" and survey.closed_at is not None
    response = client.post(f"{url}clone/")
    clone = Survey.objects.exclude(pk=survey.pk).get()
    assert response["Location"] == f"/manage/surveys/{clone.pk}/"
    assert clone.status == "draft" and clone.title == "Q1 2027 review (next round)"
    assert set(clone.teams.all()) == set(survey.teams.all())
    assert clone.closes_at - clone.opens_at == survey.closes_at - survey.opens_at
    listing = client.get("/manage/surveys/").content.decode()
    assert "Q1 2027 review (next round)" in listing


def test_round_rules_are_the_apis(client, lead, framework, team, member):
    from surveys.models import Survey
    from tests.factories import SurveyFactory

    archived = TeamFactory(slug="gone", name="Gone", archived_at="2026-01-01T00:00:00Z")
    client.force_login(lead)
    response = client.post(
        "/manage/surveys/new/", round_form(framework, closes_at="2027-01-01T00:00")
    )
    assert response.status_code == 400
    assert "the closing time after the opening" in response.content.decode()
    # An archived team is not offered, so it cannot be ticked.
    response = client.post("/manage/surveys/new/", round_form(framework, teams=["gone"]))
    assert response.status_code == 400 and not Survey.objects.exists()
    # Once a team answered, it stays in the round.
    survey = SurveyFactory(framework=framework, teams=[team], status="open")
    from surveys import services
    from tests.conftest import complete_answers

    services.response_submit(
        survey=survey,
        team=team,
        respondent=member,
        respondent_key=services.respondent_key_for(member, survey),
        answers=complete_answers(framework),
    )
    response = client.post(f"/manage/surveys/{survey.pk}/", round_form(framework, teams=[]))
    assert response.status_code == 400
    assert "Teams with responses cannot be removed" in response.content.decode()
    assert list(survey.teams.all()) == [team]
    assert archived.surveys.count() == 0


def test_participation_names_who_has_not_submitted_in_named_rounds_only(
    client, lead, framework, team, member, manager
):
    from surveys import services
    from tests.conftest import complete_answers
    from tests.factories import SurveyFactory

    named = SurveyFactory(framework=framework, teams=[team], status="open")
    services.response_submit(
        survey=named,
        team=team,
        respondent=member,
        respondent_key=services.respondent_key_for(member, named),
        answers=complete_answers(framework),
    )
    client.force_login(lead)
    page = client.get(f"/manage/surveys/{named.pk}/").content.decode()
    assert "Not submitted yet:</span> maria" in page
    anonymous = SurveyFactory(framework=framework, teams=[team], status="open", anonymous=True)
    services.response_submit(
        survey=anonymous,
        team=team,
        respondent=member,
        respondent_key=services.respondent_key_for(member, anonymous),
        answers=complete_answers(framework),
    )
    page = client.get(f"/manage/surveys/{anonymous.pk}/").content.decode()
    assert "Not submitted yet" not in page and "maria" not in page and "alice" not in page
    assert "counts only" in page


def test_send_a_reminder_now_is_rate_limited_and_logged(
    client, lead, framework, team, member, manager, settings, django_capture_on_commit_callbacks
):
    from django.core import mail

    from surveys import services
    from surveys.models import Reminder
    from tests.conftest import complete_answers
    from tests.factories import SurveyFactory

    survey = SurveyFactory(framework=framework, teams=[team], status="open")
    services.response_submit(
        survey=survey,
        team=team,
        respondent=member,
        respondent_key=services.respondent_key_for(member, survey),
        answers=complete_answers(framework),
    )
    client.force_login(lead)
    gone = MembershipFactory(team=team, user__username="gone")
    gone.user.is_active = False  # a deactivated account is not reminded
    gone.user.save()
    url = f"/manage/surveys/{survey.pk}/remind/"
    with django_capture_on_commit_callbacks(execute=True):  # the e-mails go after commit
        client.post(url)
    assert [m.to for m in mail.outbox] == [[manager.email]]  # alice has submitted
    assert "Reminder: “" in mail.outbox[0].subject
    page = client.get(f"/manage/surveys/{survey.pk}/").content.decode()
    assert "Reminder sent to 1 person who had not submitted." in page
    assert "Last reminder:" in page and "by lena, to 1 person" in page
    client.post(url)  # too soon: nothing sent, a clear message
    assert len(mail.outbox) == 1
    assert "the next may go" in client.get(f"/manage/surveys/{survey.pk}/").content.decode()
    assert list(Reminder.objects.values_list("kind", "sent_by__username")) == [("manual", "lena")]
    # The automatic reminder is still due once: a manual one does not use it up.
    settings.REMINDER_DAYS_BEFORE_CLOSE = 3
    from datetime import timedelta

    from django.utils import timezone

    survey.closes_at = timezone.now() + timedelta(days=1)
    survey.save()
    assert services.reminders_send() == 1
    assert services.reminders_send() == 0


def test_a_manager_downloads_their_teams_scores_and_named_answers(
    client, framework, team, member, manager, other_team
):
    from reports.models import ExportAudit
    from reports.services import aggregate
    from surveys import services
    from tests.conftest import complete_answers
    from tests.factories import SurveyFactory

    survey = SurveyFactory(framework=framework, teams=[team, other_team], status="open")
    services.response_submit(
        survey=survey,
        team=team,
        respondent=member,
        respondent_key=services.respondent_key_for(member, survey),
        answers=complete_answers(framework, 3),
    )
    aggregate(survey=survey)
    client.force_login(manager)
    page = client.get(f"/reports/teams/recsys/?survey={survey.pk}").content.decode()
    assert f"/reports/teams/recsys/scores.xlsx?survey={survey.pk}" in page
    response = client.get(f"/reports/teams/recsys/scores.csv?survey={survey.pk}")
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    assert "recsys" in body and "fraud" not in body
    response = client.get(f"/reports/teams/recsys/answers.xlsx?survey={survey.pk}")
    assert response.status_code == 200
    assert b"".join(response.streaming_content)[:2] == b"PK"  # a zip: an XLSX workbook
    assert set(ExportAudit.objects.values_list("via", "kind", "actor")) == {
        ("web", "scores", "maria"),
        ("web", "answers", "maria"),
    }
    # Not another team's, not a member's, not another format.
    assert client.get(f"/reports/teams/fraud/scores.csv?survey={survey.pk}").status_code == 404
    assert client.get(f"/reports/teams/recsys/scores.json?survey={survey.pk}").status_code == 404
    client.force_login(member)
    assert client.get(f"/reports/teams/recsys/scores.csv?survey={survey.pk}").status_code == 404
    assert (
        "scores.xlsx"
        not in client.get(f"/reports/teams/recsys/?survey={survey.pk}").content.decode()
    )


def test_no_answers_download_in_an_anonymous_round(client, framework, team, manager):
    from tests.factories import SurveyFactory

    survey = SurveyFactory(framework=framework, teams=[team], status="closed", anonymous=True)
    client.force_login(manager)
    assert client.get(f"/reports/teams/recsys/answers.csv?survey={survey.pk}").status_code == 404


def test_programme_lead_command_grants_and_revokes(client, member):
    import io

    from django.core.management import CommandError, call_command

    call_command("programme_lead", "alice", stdout=io.StringIO())
    client.force_login(member)
    assert client.get("/manage/").status_code == 200
    call_command("programme_lead", "alice", "--revoke", stdout=io.StringIO())
    member = type(member).objects.get(pk=member.pk)  # a fresh permission cache
    client.force_login(member)
    assert client.get("/manage/").status_code == 403
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        call_command("programme_lead", "ghost")


def test_break_it_findings_on_teams(client, lead, team, member):
    """Regressions of the break-it pass: a rename under an archived parent keeps the parent;
    a team may be named "New"; adding someone already in the team never changes their role;
    an archived team says why nobody can be added."""
    parent = TeamFactory(slug="parent-x", name="Parent X")
    team.parent = parent
    team.save()
    client.force_login(lead)
    client.post("/manage/teams/parent-x/archive/")
    response = client.post("/manage/teams/recsys/", {"name": "Recsys 2", "parent": "parent-x"})
    assert response.status_code == 302
    team.refresh_from_db()
    assert (team.name, team.parent_id) == ("Recsys 2", parent.pk)
    response = client.post("/manage/teams/", {"name": "New", "slug": ""})
    assert response["Location"] == "/manage/teams/new/"
    assert client.get("/manage/teams/new/").status_code == 200
    Membership.objects.filter(user=member).update(role="manager")
    response = client.post("/manage/teams/recsys/members/", {"person": "alice", "role": "member"})
    assert response.status_code == 400
    assert "alice is already manager of Recsys 2" in response.content.decode()
    assert Membership.objects.get(user=member).role == "manager"
    client.post("/manage/teams/recsys/archive/")
    response = client.post(
        "/manage/teams/recsys/members/", {"person": "x@example.com"}, follow=True
    )
    assert "is archived: make it active to add people." in response.content.decode()


def test_break_it_findings_on_rounds_and_import(client, lead, framework, team, member):
    from surveys.models import Survey
    from tests.factories import SurveyFactory

    client.force_login(lead)
    response = client.post(
        "/manage/surveys/new/",
        round_form(framework, opens_at="0001-01-01T00:00", closes_at="9999-12-31T23:59"),
    )
    assert response.status_code == 400
    assert "Choose a date from 2000 to 2100." in response.content.decode()
    assert not Survey.objects.exists()
    # A round made elsewhere with such dates still clones (without an end).
    from datetime import UTC, datetime

    odd = SurveyFactory(
        framework=framework,
        teams=[team],
        opens_at=datetime(1, 1, 2, tzinfo=UTC),
        closes_at=datetime(9999, 12, 30, tzinfo=UTC),
    )
    assert client.post(f"/manage/surveys/{odd.pk}/clone/").status_code == 302
    assert Survey.objects.exclude(pk=odd.pk).get().closes_at is None
    # An upload that is not UTF-8 keeps the text typed beside it.
    latin1 = SimpleUploadedFile("m.csv", "email,team\nzoë@example.com,recsys\n".encode("latin-1"))
    typed = "email,team\nkeep@example.com,recsys\n"
    response = client.post(IMPORT, {"action": "check", "file": latin1, "text": typed})
    assert response.status_code == 400 and response.context["text"] == typed


def test_a_parent_loop_made_elsewhere_still_shows_every_team_once(client, lead, team, other_team):
    from surveys.models import Team

    Team.objects.filter(pk=team.pk).update(parent=other_team)
    Team.objects.filter(pk=other_team.pk).update(parent=team)  # a loop, as a raw write could
    client.force_login(lead)
    page = client.get("/manage/").content.decode()
    assert (
        page.count("Recommendations</strong>") == 1 and page.count("Fraud Detection</strong>") == 1
    )


def test_a_big_team_page_lists_its_members_a_page_at_a_time(client, lead, team):
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"p{i:03}", email=f"p{i:03}@example.com") for i in range(205)
    )
    Membership.objects.bulk_create(Membership(user=user, team=team) for user in users)
    client.force_login(lead)
    page = client.get("/manage/teams/recsys/").content.decode()
    assert "Page 1 of 3 (205 people)" in page and "p000" in page and "p150" not in page
    page = client.get("/manage/teams/recsys/?page=2").content.decode()
    assert "p150" in page and "p000" not in page
    assert client.get("/manage/teams/recsys/?page=999").status_code == 200  # the last page


def test_a_lead_lets_members_track_actions(client, lead, team, member):
    client.force_login(lead)
    page = client.get("/manage/teams/recsys/").content.decode()
    assert 'name="members_track_actions"' in page
    response = client.post(
        "/manage/teams/recsys/", {"name": team.name, "members_track_actions": "on"}
    )
    assert response.status_code == 302
    team.refresh_from_db()
    assert team.members_track_actions
    from actions.selectors import can_track_actions

    assert can_track_actions(member, team)
    client.post("/manage/teams/recsys/", {"name": team.name})  # the box unticked
    team.refresh_from_db()
    assert not team.members_track_actions

"""The weekly digest to managers: what it holds (new scores, level changes against the
previous round, overdue actions; nothing withheld), in the reader's zone, once a week,
over one connection, the opt-out on the profile and the one-click unsubscribe."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from celery.schedules import crontab
from django.conf import settings as django_settings
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from accounts.models import Profile
from actions.models import Action
from notifications import services
from notifications.models import DigestSent
from reports import services as report_services
from reports.models import TeamScore
from surveys import services as survey_services
from tests.conftest import complete_answers
from tests.factories import MembershipFactory, SurveyFactory, TeamFactory, UserFactory
from tests.notifications.conftest import CountingBackend

pytestmark = pytest.mark.django_db


def scored_round(framework, team, people, score, *, title, days_ago, **survey_fields):
    """A round of ``team`` answered by ``people`` with ``score`` everywhere, scored
    ``days_ago`` days ago (opened a week before that), closed unless said otherwise."""
    now = timezone.now()
    survey = SurveyFactory(
        framework=framework,
        teams=[team],
        title=title,
        opens_at=now - timedelta(days=days_ago + 7),
        closes_at=now + timedelta(days=1),
        **survey_fields,
    )
    for person in people:
        survey_services.response_submit(
            survey=survey,
            team=team,
            respondent=person,
            respondent_key=survey_services.respondent_key_for(person, survey),
            answers=complete_answers(framework, score),
        )
    if survey_fields.get("status", "closed") == "closed":
        survey.status = "closed"
        survey.closed_at = now - timedelta(days=days_ago)
        survey.save()
    report_services.aggregate(survey=survey)
    TeamScore.objects.filter(survey=survey).update(computed_at=now - timedelta(days=days_ago))
    return survey


@pytest.fixture
def history(framework, team, member, manager):
    """Recommendations went from level 1 (Q2, two months ago) to level 3 (Q3, two days
    ago), and has an action overdue since last week."""
    previous = scored_round(framework, team, [member, manager], 1, title="Q2", days_ago=60)
    current = scored_round(framework, team, [member, manager], 3, title="Q3", days_ago=2)
    Action.objects.create(
        team=team,
        survey=current,
        question=framework.questions.order_by("order").first(),
        title="Version the <training> data",
        due=timezone.localdate() - timedelta(days=7),
    )
    return previous, current


def test_a_managers_digest_holds_new_scores_level_changes_and_overdue_actions(
    history, manager, member, admin_user, team, settings
):
    settings.SITE_URL = "https://maturity.example"
    Profile.objects.create(user=manager, time_zone="Asia/Tokyo")
    run = services.digests_send()
    assert run.sent == [("maria", "1 new score, 1 level change, 1 overdue action")]
    [message] = mail.outbox  # not alice (a member), not admin (manages no team)
    assert message.to == [manager.email]
    assert message.subject == (
        "Your weekly MLOps maturity digest: 1 new score, 1 level change, 1 overdue action"
    )
    score = TeamScore.objects.get(survey=history[1], team=team)
    text = message.body
    assert "Recommendations in “Q3”: 75, level 3 (scored " in text
    assert "JST)" in text and "UTC" not in text  # the reader's zone
    assert f"https://maturity.example/reports/teams/recsys/?survey={history[1].pk}" in text
    assert "Recommendations: level 1 in “Q2” → level 3 in “Q3”" in text
    assert "Recommendations: “Version the <training> data”, due" in text  # plain text: as is
    assert score.level == 3
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert "Version the &lt;training&gt; data" in html and "<training>" not in html
    header = message.extra_headers["List-Unsubscribe"]
    prefix = "<https://maturity.example/notifications/unsubscribe/"
    assert header.startswith(prefix) and header.endswith("/>")
    link = header[1:-1]
    assert services.unsubscribe_user_id(link.removeprefix(prefix[1:]).rstrip("/")) == manager.pk
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert link in text and link in html


def test_withheld_results_and_unmanaged_teams_stay_out(framework, team, other_team, manager):
    people = [MembershipFactory(team=team).user for _ in range(3)]
    # An anonymous round still open: every team withheld.
    scored_round(
        framework, team, people, 3, title="Anon", days_ago=1, anonymous=True, status="open"
    )
    # A team maria does not manage.
    scored_round(
        framework,
        other_team,
        [MembershipFactory(team=other_team).user],
        2,
        title="Q3",
        days_ago=1,
    )
    run = services.digests_send()
    assert run.sent == [] and run.empty == ["maria"] and mail.outbox == []
    assert not DigestSent.objects.exists()


def test_teams_below_a_managed_team_are_in_its_managers_digest(framework, team, manager):
    child = TeamFactory(slug="recsys-eu", name="Recommendations EU", parent=team)
    scored_round(framework, child, [MembershipFactory(team=child).user], 2, title="Q3", days_ago=1)
    # The child's score, and its parent's roll-up of it.
    assert services.digests_send().sent == [("maria", "2 new scores")]
    assert "Recommendations EU in “Q3”" in mail.outbox[0].body
    assert "Recommendations (roll-up) in “Q3”" in mail.outbox[0].body


def test_once_a_week_whoever_sends_it(history, manager, django_capture_on_commit_callbacks):
    assert len(services.digests_send().sent) == 1
    run = services.digests_send()
    assert run.sent == [] and run.already == ["maria"] and len(mail.outbox) == 1
    assert DigestSent.objects.get(user=manager).week.weekday() == 0  # a Monday
    with time_machine.travel(timezone.now() + timedelta(days=7)):
        # A week on: the scores are older than the last digest; the action still overdue.
        run = services.digests_send()
    assert run.sent == [("maria", "1 overdue action")] and DigestSent.objects.count() == 2


def test_people_who_turned_it_off_get_nothing(client, history, manager):
    client.force_login(manager)
    page = client.get("/accounts/profile/").content.decode()
    assert 'name="weekly_digest"' in page and "checked" in page
    client.post("/accounts/profile/", {"first_name": "Maria", "time_zone": ""})  # unticked
    assert Profile.objects.get(user=manager).weekly_digest is False
    assert services.digests_send().sent == [] and mail.outbox == []
    client.post(
        "/accounts/profile/", {"first_name": "Maria", "time_zone": "", "weekly_digest": "on"}
    )
    assert Profile.objects.get(user=manager).weekly_digest is True
    assert len(services.digests_send().sent) == 1


def test_the_one_click_unsubscribe_link(history, manager):
    token = services.unsubscribe_token(manager)
    client = Client(enforce_csrf_checks=True)  # as a mail program posts: no cookie, no token
    page = client.get(f"/notifications/unsubscribe/{token}/")
    assert page.status_code == 200 and "Stop the weekly digest e-mail for" in page.content.decode()
    assert not Profile.objects.filter(user=manager, weekly_digest=False).exists()  # GET: asks
    response = client.post(
        f"/notifications/unsubscribe/{token}/", {"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200 and "will no longer get" in response.content.decode()
    assert Profile.objects.get(user=manager).weekly_digest is False
    assert services.digests_send().sent == []
    for bad in (
        "nonsense",
        token[:-2] + "xx",
        services.unsubscribe_token(manager).replace(":", ";"),
    ):
        assert client.get(f"/notifications/unsubscribe/{bad}/").status_code == 404
        assert client.post(f"/notifications/unsubscribe/{bad}/").status_code == 404
    assert client.put(f"/notifications/unsubscribe/{token}/").status_code == 405


def test_one_connection_for_all_and_a_refused_address_is_tried_again_later(
    framework, team, other_team, manager, settings
):
    settings.EMAIL_BACKEND = "tests.notifications.conftest.CountingBackend"
    CountingBackend.connections = 0
    refused = MembershipFactory(
        team=other_team, role="manager", user__username="omar", user__email="refused@example.com"
    ).user
    scored_round(framework, team, [manager], 2, title="Q3", days_ago=1)
    scored_round(framework, other_team, [refused], 2, title="Q3b", days_ago=1)
    run = services.digests_send()
    assert CountingBackend.connections == 1
    assert [username for username, _ in run.sent] == ["maria"] and run.failed == ["omar"]
    assert [m.to for m in mail.outbox] == [[manager.email]]
    assert list(DigestSent.objects.values_list("user__username", flat=True)) == ["maria"]
    refused.email = "omar@example.com"
    refused.save()
    assert [username for username, _ in services.digests_send().sent] == ["omar"]


def test_the_send_digest_command(history, manager, member):
    out = StringIO()
    call_command("send_digest", "--dry-run", stdout=out)
    assert "would send: maria (1 new score, 1 level change, 1 overdue action)" in out.getvalue()
    assert mail.outbox == [] and not DigestSent.objects.exists()
    with pytest.raises(CommandError, match="No user 'nobody'"):
        call_command("send_digest", "--user", "nobody")
    with pytest.raises(CommandError, match="alice gets no digest"):
        call_command("send_digest", "--user", "alice")
    out = StringIO()
    call_command("send_digest", "--user", "maria", stdout=out)
    assert "sent: maria" in out.getvalue() and len(mail.outbox) == 1
    out = StringIO()
    call_command("send_digest", stdout=out)
    assert "already sent this week: maria" in out.getvalue() and len(mail.outbox) == 1


def test_inactive_accounts_and_accounts_without_an_address_get_nothing(history, manager):
    UserFactory(username="ghost", email="", is_active=True)
    manager.email = ""
    manager.save()
    assert services.digests_send().sent == [] and mail.outbox == []


def test_beat_sends_it_on_mondays_at_seven():
    entry = django_settings.CELERY_BEAT_SCHEDULE["weekly-digest"]
    assert entry["task"] == "notifications.tasks.send_weekly_digest"
    assert entry["schedule"] == crontab(minute="0", hour="7", day_of_week="1")


def test_campaigns_covering_the_managers_teams_are_in_the_digest(history, manager, team):
    from reports.campaign_progress import campaign_progress_refresh
    from tests.campaign_world import make_campaign

    parent = TeamFactory(slug="platform", name="Platform")
    team.parent = parent
    team.save()
    first_dimension = history[1].framework.dimensions.order_by("order").first().key
    soon = make_campaign(
        parent,
        dimension=first_dimension,
        level=4,
        due=timezone.localdate() + timedelta(days=5),
        title="Level 4 <everywhere>",
    )
    campaign_progress_refresh(soon)
    from notifications.selectors import digest_for

    digest = digest_for(manager)
    [status] = digest.campaigns
    assert (status.counts.meeting, status.counts.total, status.days_left) == (0, 1, 5)
    assert status.near and "1 campaign due soon" in digest.summary
    services.digests_send()
    [message] = mail.outbox
    assert "“Level 4 <everywhere>”: 0 of 1 of your teams meet the goal; due" in message.body
    assert "(5 days left)" in message.body
    html = message.alternatives[0][0]
    assert "Level 4 &lt;everywhere&gt;" in html and f"/campaigns/{soon.pk}/" in html

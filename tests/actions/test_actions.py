"""Improvement actions (issue 19): created from a round's roadmap, changed through the API
and the team report, audited, and verified by the next round's scores."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from auditlog.models import LogEntry
from django.dispatch import receiver
from django.utils import timezone

from actions import services
from actions.models import Action
from common.events import event_published
from reports.models import QuestionScore
from surveys import services as survey_services
from surveys.models import Survey
from tests.conftest import complete_answers
from tests.factories import MembershipFactory, SurveyFactory, UserFactory

pytestmark = pytest.mark.django_db


def submit(survey, team, user, score, **overrides):
    return survey_services.response_submit(
        survey=survey,
        team=team,
        respondent=None if survey.anonymous else user,
        respondent_key=survey_services.respondent_key_for(user, survey),
        answers=complete_answers(survey.framework, score, **overrides),
    ).response


@pytest.fixture
def events():
    """Every event published while the test runs, as (name, payload)."""
    seen: list[tuple[str, dict]] = []

    @receiver(event_published, weak=False)
    def listen(sender, name, payload, **kwargs):
        seen.append((name, payload))

    yield seen
    event_published.disconnect(listen)


@pytest.fixture
def scored(django_capture_on_commit_callbacks, survey, team, member, manager):
    """``survey`` with ``team`` scored: the member answered every question with choice 1."""
    with django_capture_on_commit_callbacks(execute=True):
        submit(survey, team, member, 1)
    return survey


def first_key(survey):
    return survey.framework.questions.order_by("order").values_list("key", flat=True)[0]


def create(survey, team, by, **fields):
    data = services.ActionInput(
        team=team, survey=survey, question_key=fields.pop("question", first_key(survey)), **fields
    )
    return services.action_create(data, by=by)


# --- API ------------------------------------------------------------------------------------


def test_a_manager_creates_an_action_from_the_roadmap_over_the_api(
    django_capture_on_commit_callbacks, client, scored, team, manager, member, events
):
    client.force_login(manager)
    key = first_key(scored)
    due = (timezone.localdate() + timedelta(days=30)).isoformat()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/actions/",
            {"team": team.slug, "survey": scored.pk, "question": key, "owner": "alice", "due": due},
            content_type="application/json",
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["team"] == team.slug and body["question"] == key and body["owner"] == "alice"
    assert body["status"] == "open" and body["due"] == due and body["overdue"] is False
    assert body["title"] == scored.framework.questions.get(key=key).text[:200]
    assert [name for name, _ in events] == ["action.created"]
    assert events[0][1]["action"]["owner"] == "alice"
    action = Action.objects.get(pk=body["id"])
    assert LogEntry.objects.get_for_object(action).count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"owner": "nobody-here"}, "owner"),
        ({"question": "no-such-question"}, "question"),
        ({"due": "2026-13-40"}, "due"),
        ({"due": "9999-01-01"}, "due"),
        ({"external_url": "javascript:alert(1)"}, "external_url"),
        ({"team": "no-such-team"}, "team"),
        ({"survey": 10**12}, "survey"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client, scored, team, manager, change, field):
    client.force_login(manager)
    body = {"team": team.slug, "survey": scored.pk, "question": first_key(scored), **change}
    response = client.post("/api/v1/actions/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Action.objects.exists()


def test_an_owner_must_be_a_member_of_the_team(client, scored, team, manager, other_member):
    client.force_login(manager)
    body = {"team": team.slug, "survey": scored.pk, "question": first_key(scored)}
    response = client.post(
        "/api/v1/actions/",
        {**body, "owner": other_member.username},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "not a member" in response.json()["owner"][0]


def test_a_team_outside_the_round_is_refused(client, framework, team, other_team, manager):
    only_other = SurveyFactory(framework=framework, teams=[other_team])
    client.force_login(manager)
    response = client.post(
        "/api/v1/actions/",
        {"team": team.slug, "survey": only_other.pk, "question": first_key(only_other)},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "survey" in response.json()


def test_members_track_actions_only_when_the_team_allows_it(client, scored, team, member):
    client.force_login(member)
    body = {"team": team.slug, "survey": scored.pk, "question": first_key(scored)}
    assert client.post("/api/v1/actions/", body, content_type="application/json").status_code == 403
    team.members_track_actions = True
    team.save()
    assert client.post("/api/v1/actions/", body, content_type="application/json").status_code == 201


def test_nobody_sees_or_changes_another_teams_actions(
    client, scored, team, manager, other_member, other_team
):
    action = create(scored, team, manager)
    client.force_login(other_member)
    assert client.get("/api/v1/actions/").json()["results"] == []
    assert client.get(f"/api/v1/actions/{action.pk}/").status_code == 404
    response = client.patch(
        f"/api/v1/actions/{action.pk}/", {"status": "done"}, content_type="application/json"
    )
    assert response.status_code == 404
    # Naming the team to create one is no different from naming a team that does not exist.
    response = client.post(
        "/api/v1/actions/",
        {"team": team.slug, "survey": scored.pk, "question": first_key(scored)},
        content_type="application/json",
    )
    assert response.status_code == 400 and response.json() == {"team": ["No such team."]}


def test_the_owner_changes_their_action_and_a_reader_cannot(client, scored, team, manager, member):
    reader = MembershipFactory(team=team).user
    action = create(scored, team, manager, owner=member)
    client.force_login(reader)
    response = client.patch(
        f"/api/v1/actions/{action.pk}/", {"status": "in_progress"}, content_type="application/json"
    )
    assert response.status_code == 403
    client.force_login(member)
    response = client.patch(
        f"/api/v1/actions/{action.pk}/", {"status": "in_progress"}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["status"] == "in_progress"


def test_wont_do_needs_a_reason_and_actions_are_never_deleted(client, scored, team, manager):
    action = create(scored, team, manager)
    client.force_login(manager)
    url = f"/api/v1/actions/{action.pk}/"
    response = client.patch(url, {"status": "wont_do"}, content_type="application/json")
    assert response.status_code == 400 and "wont_do_reason" in response.json()
    response = client.patch(
        url,
        {"status": "wont_do", "wont_do_reason": "Replaced by the platform's registry"},
        content_type="application/json",
    )
    assert response.status_code == 200 and response.json()["status"] == "wont_do"
    assert client.delete(url).status_code == 405
    assert client.put(url, {}, content_type="application/json").status_code == 405
    assert client.patch(url, {}, content_type="application/json").status_code == 400


def test_filters(client, scored, team, manager, member):
    late = create(scored, team, manager, owner=member, due=timezone.localdate() - timedelta(days=2))
    done = create(scored, team, manager)
    services.action_update(done, {"status": "done"}, by=manager)
    client.force_login(manager)

    def ids(query):
        response = client.get(f"/api/v1/actions/?{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids("overdue=true") == {late.pk}
    assert ids("overdue=false") == {done.pk}
    assert ids("status=done") == {done.pk}
    assert ids("owner=alice") == {late.pk}
    assert ids(f"team={team.slug}&survey={scored.pk}") == {late.pk, done.pk}
    assert client.get("/api/v1/actions/?status=nonsense").status_code == 400
    assert client.get("/api/v1/actions/?overdue=maybe").status_code == 400


def test_overdue_actions_are_announced_once(
    django_capture_on_commit_callbacks, scored, team, manager, events
):
    action = create(scored, team, manager, due=timezone.localdate() - timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.actions_overdue_notify() == 1
        assert services.actions_overdue_notify() == 0
    assert [name for name, _ in events] == ["action.overdue"]
    # A new due date makes it due again (the same one does not: see below).
    services.action_update(action, {"due": timezone.localdate() - timedelta(days=2)}, by=manager)
    assert services.actions_overdue_notify() == 1


# --- verification ---------------------------------------------------------------------------


def later_round(framework, teams, **fields):
    return SurveyFactory(
        framework=framework, teams=teams, title="Next quarter", opens_at=timezone.now(), **fields
    )


def test_the_next_round_verifies_a_done_action_or_says_it_is_not_reflected(
    django_capture_on_commit_callbacks, scored, framework, team, manager, member
):
    keys = list(framework.questions.order_by("order").values_list("key", flat=True)[:2])
    improved = create(scored, team, manager, question=keys[0])
    unchanged = create(scored, team, manager, question=keys[1])
    still_open = create(scored, team, manager, question=keys[0])
    for action in (improved, unchanged):
        services.action_update(action, {"status": "done"}, by=manager)
    nxt = later_round(framework, [team])
    with django_capture_on_commit_callbacks(execute=True):
        submit(nxt, team, member, 1, **{keys[0]: 2})
    improved.refresh_from_db()
    unchanged.refresh_from_db()
    still_open.refresh_from_db()
    assert (improved.verification, improved.baseline_score, improved.verified_score) == (
        "verified",
        1,
        2,
    )
    assert improved.verified_survey == nxt
    assert (unchanged.verification, unchanged.verified_score) == ("not_reflected", 1)
    assert still_open.verification == ""


def test_an_action_done_after_the_next_round_was_scored_is_checked_at_once(
    django_capture_on_commit_callbacks, scored, framework, team, manager, member
):
    key = first_key(scored)
    action = create(scored, team, manager, question=key)
    nxt = later_round(framework, [team])
    with django_capture_on_commit_callbacks(execute=True):
        submit(nxt, team, member, 3)
    with django_capture_on_commit_callbacks(execute=True):
        services.action_update(action, {"status": "done"}, by=manager)
    action.refresh_from_db()
    assert (action.verification, action.baseline_score, action.verified_score) == (
        "verified",
        1,
        3,
    )


def test_a_withheld_round_never_gives_a_verdict(
    django_capture_on_commit_callbacks, scored, framework, team, manager, member
):
    action = create(scored, team, manager)
    services.action_update(action, {"status": "done"}, by=manager)
    anonymous = later_round(framework, [team], anonymous=True, min_group_size=3)
    with django_capture_on_commit_callbacks(execute=True):
        submit(anonymous, team, member, 4)
    action.refresh_from_db()
    assert action.verification == "" and action.verified_score is None
    assert QuestionScore.objects.filter(team_score__survey=anonymous).exists()


def test_reopening_a_verified_action_clears_its_verdict(
    django_capture_on_commit_callbacks, scored, framework, team, manager, member
):
    action = create(scored, team, manager)
    services.action_update(action, {"status": "done"}, by=manager)
    with django_capture_on_commit_callbacks(execute=True):
        submit(later_round(framework, [team]), team, member, 2)
    action.refresh_from_db()
    assert action.verification == "verified"
    services.action_update(action, {"status": "in_progress"}, by=manager)
    action.refresh_from_db()
    assert action.verification == "" and action.done_at is None


# --- events after scoring ---------------------------------------------------------------------


def test_scores_updated_and_level_changed_after_a_submission(
    django_capture_on_commit_callbacks, scored, team, member, events
):
    with django_capture_on_commit_callbacks(execute=True):
        submit(scored, team, member, 4)
    names = [name for name, _ in events]
    assert "scores.updated" in names and "team.level_changed" in names
    change = next(payload for name, payload in events if name == "team.level_changed")
    assert change["team"]["slug"] == team.slug and change["to"] > change["from"]
    update = next(payload for name, payload in events if name == "scores.updated")
    assert update["teams"][0]["withheld"] is False and update["teams"][0]["level"] == change["to"]


def test_an_open_anonymous_round_publishes_no_figures(
    django_capture_on_commit_callbacks, framework, team, member, events
):
    anonymous = SurveyFactory(framework=framework, teams=[team], anonymous=True)
    with django_capture_on_commit_callbacks(execute=True):
        submit(anonymous, team, member, 3)
    names = [name for name, _ in events]
    assert names == ["scores.updated"]
    (row,) = events[0][1]["teams"]
    assert row == {"slug": team.slug, "name": team.name, "rollup": False, "withheld": True}
    assert member.username not in str(events)


# --- the team report and the organisation's list ----------------------------------------------


def test_the_team_report_offers_the_roadmap_as_actions_to_its_managers(
    client, scored, team, manager, member
):
    client.force_login(manager)
    page = client.get(f"/reports/teams/{team.slug}/?survey={scored.pk}").content.decode()
    assert 'id="new-action"' in page and 'name="question"' in page
    client.force_login(member)
    page = client.get(f"/reports/teams/{team.slug}/?survey={scored.pk}").content.decode()
    assert 'id="new-action"' not in page
    response = client.post(
        f"/reports/teams/{team.slug}/actions/?survey={scored.pk}", {"question": first_key(scored)}
    )
    assert response.status_code == 404 and not Action.objects.exists()


def test_creating_from_the_report_and_a_bad_form_keeps_what_was_typed(
    client, scored, team, manager, member
):
    client.force_login(manager)
    url = f"/reports/teams/{team.slug}/actions/?survey={scored.pk}"
    bad = {"question": first_key(scored), "title": "Registry for every model", "due": "31/02/2027"}
    response = client.post(url, bad)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Registry for every model" in page and "Enter a valid date" in page
    assert not Action.objects.exists()
    good = {**bad, "due": "2027-06-30", "owner": str(member.pk)}
    response = client.post(url, good)
    action = Action.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"#action-{action.pk}")
    assert action.title == "Registry for every model" and action.owner == member
    page = client.get(f"/reports/teams/{team.slug}/?survey={scored.pk}").content.decode()
    assert f'id="action-{action.pk}"' in page and "30 Jun 2027" in page


def test_changing_from_the_report(client, scored, team, manager):
    action = create(scored, team, manager)
    client.force_login(manager)
    url = f"/reports/teams/{team.slug}/actions/{action.pk}/?survey={scored.pk}"
    prefix = f"a{action.pk}-"
    response = client.post(url, {prefix + "status": "wont_do", prefix + "notes": "kept"})
    assert response.status_code == 400 and "Say why" in response.content.decode()
    assert "kept" in response.content.decode()
    response = client.post(
        url, {prefix + "status": "wont_do", prefix + "wont_do_reason": "Out of scope"}
    )
    assert response.status_code == 302
    action.refresh_from_db()
    assert action.status == "wont_do" and action.wont_do_reason == "Out of scope"


def test_user_text_is_escaped_on_the_report(client, scored, team, manager):
    create(scored, team, manager, title="<script>alert(1)</script>", notes="<img src=x>")
    client.force_login(manager)
    page = client.get(f"/reports/teams/{team.slug}/?survey={scored.pk}").content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<img src=x>" not in page


def test_the_organisation_list_and_the_verified_share(
    django_capture_on_commit_callbacks,
    client,
    scored,
    framework,
    team,
    other_team,
    manager,
    member,
    other_member,
    admin_user,
):
    keys = list(framework.questions.order_by("order").values_list("key", flat=True)[:2])
    verified = create(scored, team, manager, question=keys[0])
    reflected_not = create(scored, team, manager, question=keys[1])
    late = create(scored, team, manager, due=timezone.localdate() - timedelta(days=3))
    for action in (verified, reflected_not):
        services.action_update(action, {"status": "done"}, by=manager)
    with django_capture_on_commit_callbacks(execute=True):
        submit(later_round(framework, [team]), team, member, 1, **{keys[0]: 3})
    client.force_login(admin_user)
    page = client.get("/reports/actions/").content.decode()
    assert 'data-testid="verified-share">50 %' in page
    assert page.index(late.title) < page.index("verified</span>")  # overdue first
    client.force_login(other_member)
    page = client.get("/reports/actions/").content.decode()
    assert late.title not in page and "No actions to show" in page
    client.force_login(admin_user)
    page = client.get(f"/reports/?survey={scored.pk}").content.decode()
    assert 'data-testid="org-actions"' in page and "50 % verified" in page
    assert client.get("/reports/actions/?status=bogus&page=abc&team=%00").status_code == 200


def test_the_round_the_action_came_from_must_not_be_a_draft(framework, team, manager):
    draft = SurveyFactory(framework=framework, teams=[team], status=Survey.Status.DRAFT)
    with pytest.raises(services.ActionError) as error:
        create(draft, team, manager)
    assert error.value.field == "survey"


def test_an_admin_tracks_any_team(scored, team, admin_user):
    assert create(scored, team, admin_user).created_by == admin_user


def test_an_inactive_account_cannot_track(scored, team):
    gone = UserFactory(is_active=False)
    MembershipFactory(team=team, user=gone, role="manager")
    with pytest.raises(services.ActionError):
        create(scored, team, gone)


# --- exports ------------------------------------------------------------------------------------


def test_actions_in_every_export_format(client, scored, team, manager, member, admin_user):
    import io

    import pyarrow.parquet as pq
    from openpyxl import load_workbook

    create(
        scored,
        team,
        manager,
        title='=HYPERLINK("http://x")',
        owner=member,
        due=timezone.localdate(),
    )
    client.force_login(admin_user)
    url = f"/api/v1/exports/actions/?survey={scored.pk}"
    csv = b"".join(client.get(url + "&format=csv").streaming_content).decode()
    header, row = csv.strip().split("\n")
    assert header.startswith("action_id,team,survey_id,question_key,title,owner,due,status")
    assert "'=HYPERLINK" in row and ",alice," in row and ",open," in row
    rows = client.get(url + "&format=json")
    data = __import__("json").loads(b"".join(rows.streaming_content))
    assert data[0]["title"] == '=HYPERLINK("http://x")' and data[0]["due"] == str(
        timezone.localdate()
    )
    table = pq.read_table(
        io.BytesIO(b"".join(client.get(url + "&format=parquet").streaming_content))
    )
    assert table.num_rows == 1 and str(table.schema.field("due").type) == "date32[day]"
    book = load_workbook(
        io.BytesIO(b"".join(client.get(url + "&format=xlsx").streaming_content)), read_only=True
    )
    assert [c.value for c in next(book.active.iter_rows(min_row=2, max_row=2))][5] == "alice"
    client.force_login(manager)
    assert client.get(url).status_code == 403


# --- found by breaking it (QA pass) -----------------------------------------------------------


def test_a_withheld_baseline_never_gives_a_verdict_nor_a_baseline(
    django_capture_on_commit_callbacks, framework, team, manager, member
):
    """An action from an anonymous round where the team is withheld (one respondent under
    min_group_size 3): a later named round must not verify it, since baseline_score (and
    the verdict) would reveal the lone respondent's answer."""
    anonymous = SurveyFactory(
        framework=framework,
        teams=[team],
        anonymous=True,
        min_group_size=3,
        opens_at=timezone.now() - timedelta(days=60),
    )
    with django_capture_on_commit_callbacks(execute=True):
        submit(anonymous, team, member, 1)
    with django_capture_on_commit_callbacks(execute=True):
        survey_services.survey_close(survey=anonymous)
    action = create(anonymous, team, manager)
    services.action_update(action, {"status": "done"}, by=manager)
    named = later_round(framework, [team])
    with django_capture_on_commit_callbacks(execute=True):
        submit(named, team, member, 3)
    action.refresh_from_db()
    assert (action.verification, action.baseline_score, action.verified_score) == ("", None, None)


def test_saving_an_unchanged_due_date_does_not_announce_overdue_again(
    django_capture_on_commit_callbacks, client, scored, team, manager, events
):
    """The report's change form sends every field: saving notes on an overdue action must
    not make it due for a second ``action.overdue``."""
    late = timezone.localdate() - timedelta(days=3)
    action = create(scored, team, manager, due=late)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.actions_overdue_notify() == 1
    client.force_login(manager)
    prefix = f"a{action.pk}-"
    response = client.post(
        f"/reports/teams/{team.slug}/actions/{action.pk}/?survey={scored.pk}",
        {prefix + "status": "open", prefix + "due": late.isoformat(), prefix + "notes": "n"},
    )
    assert response.status_code == 302
    response = client.patch(
        f"/api/v1/actions/{action.pk}/", {"due": late.isoformat()}, content_type="application/json"
    )
    assert response.status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert services.actions_overdue_notify() == 0
    assert [name for name, _ in events].count("action.overdue") == 1


@pytest.mark.parametrize("gone", ["deactivated", "left the team"])
def test_changing_an_action_on_the_report_keeps_an_owner_who_is_gone(
    client, scored, team, manager, gone
):
    """The change form listed only active members, so the owner's select fell back to
    "Nobody yet" and saving any change silently dropped the owner."""
    owner = MembershipFactory(team=team, user__username="chloe").user
    action = create(scored, team, manager, owner=owner)
    if gone == "deactivated":
        owner.is_active = False
        owner.save()
    else:
        owner.memberships.all().delete()
    client.force_login(manager)
    page = client.get(f"/reports/teams/{team.slug}/?survey={scored.pk}").content.decode()
    prefix = f"a{action.pk}-"
    assert f'<option value="{owner.pk}" selected>' in page
    response = client.post(
        f"/reports/teams/{team.slug}/actions/{action.pk}/?survey={scored.pk}",
        {prefix + "status": "in_progress", prefix + "owner": str(owner.pk), prefix + "notes": "n"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    action.refresh_from_db()
    assert action.owner == owner and action.status == "in_progress" and action.notes == "n"
    # Choosing nobody still clears it.
    response = client.post(
        f"/reports/teams/{team.slug}/actions/{action.pk}/?survey={scored.pk}",
        {prefix + "status": "in_progress", prefix + "owner": ""},
    )
    action.refresh_from_db()
    assert response.status_code == 302 and action.owner is None


class _FormFields(HTMLParser):
    """The fields of the form posting to ``action`` as a browser submits it untouched: an
    <input type="date"> whose value is not YYYY-MM-DD is empty (HTML's value sanitisation),
    a <select> with no selected option submits its first one."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action, self.inside, self.fields = action, False, {}
        self.select: str | None = None
        self.first_option: str | None = None
        self.textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("action", "").startswith(self.action)
        if not self.inside:
            return
        if tag == "input" and a.get("type") not in ("checkbox", "submit"):
            value = a.get("value") or ""
            if a.get("type") == "date" and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                value = ""
            self.fields[a["name"]] = value
        elif tag == "select":
            self.select, self.first_option = a["name"], None
        elif tag == "option" and self.select:
            if self.first_option is None:
                self.first_option = a.get("value", "")
            if "selected" in a:
                self.fields[self.select] = a.get("value", "")
        elif tag == "textarea":
            self.textarea = a["name"]
            self.fields[self.textarea] = ""

    def handle_data(self, data):
        if self.textarea:
            # A newline right after <textarea> is not part of its value.
            so_far = self.fields[self.textarea]
            self.fields[self.textarea] = so_far + (data if so_far else data.lstrip("\n"))

    def handle_endtag(self, tag):
        if tag == "select" and self.select:
            self.fields.setdefault(self.select, self.first_option or "")
            self.select = None
        elif tag == "textarea":
            self.textarea = None
        elif tag == "form":
            self.inside = False


def test_saving_the_change_form_as_shown_changes_nothing(client, scored, team, manager, member):
    """The due date was rendered in the locale's format (06/01/2027), which an
    <input type="date"> cannot show: saving any change cleared the due date."""
    due = timezone.localdate() + timedelta(days=40)
    action = create(
        scored, team, manager, owner=member, due=due, notes="Line one\nline two", title="T"
    )
    action.external_url = "https://example.com/issue/1"
    action.save()
    client.force_login(manager)
    page = client.get(f"/reports/teams/{team.slug}/?survey={scored.pk}").content.decode()
    url = f"/reports/teams/{team.slug}/actions/{action.pk}/"
    form = _FormFields(url)
    form.feed(page)
    assert form.fields[f"a{action.pk}-due"] == due.isoformat()
    response = client.post(f"{url}?survey={scored.pk}", form.fields)
    assert response.status_code == 302
    action.refresh_from_db()
    assert (action.due, action.owner, action.status, action.notes, action.external_url) == (
        due,
        member,
        "open",
        "Line one\nline two",
        "https://example.com/issue/1",
    )


def test_an_owner_who_does_not_track_actions_cannot_give_the_action_away(
    client, scored, team, manager, member
):
    """The team report ignored an owner's choice of another owner (saying "saved") while
    the API applied it: one rule now, on both."""
    colleague = MembershipFactory(team=team, user__username="chloe").user
    action = create(scored, team, manager, owner=member)
    client.force_login(member)
    response = client.patch(
        f"/api/v1/actions/{action.pk}/", {"owner": "chloe"}, content_type="application/json"
    )
    assert response.status_code == 403
    response = client.patch(
        f"/api/v1/actions/{action.pk}/",
        {"owner": member.username, "notes": "mine still"},
        content_type="application/json",
    )
    assert response.status_code == 200
    page = client.get(f"/reports/teams/{team.slug}/?survey={scored.pk}").content.decode()
    prefix = f"a{action.pk}-"
    assert f'name="{prefix}notes"' in page and f'name="{prefix}owner"' not in page
    response = client.post(
        f"/reports/teams/{team.slug}/actions/{action.pk}/?survey={scored.pk}",
        {
            prefix + "status": "in_progress",
            prefix + "owner": str(colleague.pk),
            prefix + "notes": "mine still",
        },
    )
    assert response.status_code == 302
    action.refresh_from_db()
    assert action.owner == member and action.status == "in_progress"
    assert action.notes == "mine still"


def test_an_archived_team_takes_no_new_actions(client, scored, team, manager):
    team.archived_at = timezone.now()
    team.save()
    client.force_login(manager)
    response = client.post(
        "/api/v1/actions/",
        {"team": team.slug, "survey": scored.pk, "question": first_key(scored)},
        content_type="application/json",
    )
    assert response.status_code == 400 and "archived" in response.json()["team"][0]
    assert not Action.objects.exists()


def test_the_same_verdict_again_writes_nothing(
    django_capture_on_commit_callbacks, scored, framework, team, manager, member
):
    from reports import services as report_services

    action = create(scored, team, manager)
    services.action_update(action, {"status": "done"}, by=manager)
    nxt = later_round(framework, [team])
    with django_capture_on_commit_callbacks(execute=True):
        submit(nxt, team, member, 2)
    entries = LogEntry.objects.get_for_object(action).count()
    action.refresh_from_db()
    changed_at = action.updated_at
    assert action.verification == "verified"
    report_services.aggregate(survey=nxt)  # scored again, same answers
    action.refresh_from_db()
    assert action.updated_at == changed_at
    assert LogEntry.objects.get_for_object(action).count() == entries


def test_the_tracker_sync_changes_only_the_status(scored, team, manager):
    action = create(scored, team, manager)
    with pytest.raises(services.ActionError):
        services.action_update(action, {"title": "renamed by a tracker"}, by=None)
    assert services.action_update(action, {"status": "done"}, by=None).status == "done"

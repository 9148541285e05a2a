"""Anonymous surveys: the k threshold counts distinct people, and nobody below admin can
create respondents for a team whose report they read (issue 13, section 1)."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse
from rest_framework.test import APIClient

from reports import services as report_services
from reports.models import TeamScore
from reports.selectors import question_comments, team_report
from surveys import services
from surveys.models import Invitation, Response
from tests.conftest import api_answers, complete_answers
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def anonymous_survey(survey):
    survey.anonymous = True
    survey.min_group_size = 3
    survey.save()
    return survey


def answer_as_member(survey, team, user, score):
    return services.response_submit(
        survey=survey,
        team=team,
        respondent_key=services.respondent_key_for(user, survey),
        answers=complete_answers(survey.framework, score),
    )


def scores_of(api, survey, team):
    api_response = api.get(f"/api/v1/surveys/{survey.pk}/scores/?team={team.slug}")
    assert api_response.status_code == 200
    (row,) = api_response.json()["results"]
    return row


def answer_through_link(client, link_path, survey, team, score):
    """Follow an invitation link in a fresh browser session and submit every answer."""
    opened = client.post(link_path)
    if opened.status_code != 302:
        return opened
    for dimension in survey.framework.dimensions.all():
        client.post(
            reverse("survey-dimension", args=[survey.pk, team.slug, dimension.key]),
            {f"q-{q.key}": str(score) for q in dimension.questions.all()},
        )
    return client.post(reverse("survey-review", args=[survey.pk, team.slug]))


def test_padding_attack_through_every_path_a_manager_has_leaves_the_team_withheld(
    client, anonymous_survey, team, manager, member, admin_user
):
    """The observed attack: one genuine response, min_group_size 3; the manager pads the
    team with answers of their own to read the genuine respondent's answers."""
    survey = anonymous_survey
    answer_as_member(survey, team, member, 3)  # the genuine respondent
    invitations = reverse("survey-invitations", args=[survey.pk, team.slug])
    client.force_login(manager)

    # 1. A multi-use link, 2. several single-use links, 3. e-mail invitations to addresses
    # the manager controls: the page and its forms are not there for them.
    assert client.get(invitations).status_code == 404
    assert client.post(invitations, {"max_uses": "10"}).status_code == 404
    assert client.post(invitations, {"max_uses": "1"}).status_code == 404
    emailed = client.post(invitations, {"action": "email", "emails": "me@x.test, alt@x.test"})
    assert emailed.status_code == 404
    assert mail.outbox == []
    assert not Invitation.objects.exists()
    # ... nor through the service, whatever the caller.
    for kwargs in ({"max_uses": 10}, {"max_uses": 1}, {"invitee_email": "me@x.test"}):
        with pytest.raises(services.SurveyError) as refused:
            services.invitation_create(survey=survey, team=team, created_by=manager, **kwargs)
        assert refused.value.code == "anonymous_invitations_admin_only"
    with pytest.raises(services.SurveyError):
        services.invitation_email(
            survey=survey, team=team, emails=["me@x.test"], invited_by=manager, link_for=str
        )
    # The home page offers managers no "Invite" link for the anonymous survey.
    assert invitations not in client.get(reverse("home")).content.decode()

    # 4. A multi-use link made before links were withdrawn: it no longer admits anyone.
    token = "a-shareable-link-from-before"
    Invitation.objects.create(
        survey=survey,
        team=team,
        token_hash=services.hash_token(token),
        created_by=manager,
        max_uses=10,
    )
    for _attempt in range(2):
        refused = answer_through_link(client.__class__(), f"/i/{token}/", survey, team, 0)
        assert refused.status_code == 404
        assert "no longer valid" in refused.content.decode()

    # 5. The manager's own answers (twice) count as one person, and submitting on behalf
    # of others is for admins only.
    api = APIClient()
    api.force_authenticate(manager)
    for _attempt in range(2):
        created = api.post(
            f"/api/v1/surveys/{survey.pk}/responses/",
            {"team": team.slug, "answers": api_answers(survey.framework, 0)},
            format="json",
        )
        assert created.status_code == 201
    on_behalf = api.post(
        f"/api/v1/surveys/{survey.pk}/responses/",
        {
            "team": team.slug,
            "respondent": "sock-puppet",
            "answers": api_answers(survey.framework, 0),
        },
        format="json",
    )
    assert on_behalf.status_code == 400

    # Two distinct people answered: the team stays withheld everywhere, while the survey is
    # open (results are released at the close) and after it.
    report_services.aggregate(survey=survey)
    assert TeamScore.objects.get(survey=survey, team=team).n_respondents == 2
    assert scores_of(api, survey, team)["reason"] == "survey_open"
    services.survey_close(survey=survey)
    report_services.aggregate(survey=survey)
    assert scores_of(api, survey, team) == {
        "team": team.slug,
        "withheld": True,
        "reason": "too_few_respondents",
        "n_respondents": 2,
        "min_group_size": 3,
    }
    assert team_report(survey, team).withheld
    page = client.get(f"/reports/teams/{team.slug}/?survey={survey.pk}").content.decode()
    assert "Not enough responses (2 of 3)" in page
    admin_api = APIClient()
    admin_api.force_authenticate(admin_user)
    export = admin_api.get(f"/api/v1/exports/answers/?survey={survey.pk}&format=json")
    assert export.status_code == 200 and b"".join(export.streaming_content).strip() == b"[]"


def test_an_admin_invites_by_address_and_each_address_is_one_respondent(
    client, anonymous_survey, team, admin_user
):
    survey = anonymous_survey
    client.force_login(admin_user)
    invitations = reverse("survey-invitations", args=[survey.pk, team.slug])
    page = client.get(invitations).content.decode()
    assert "Create link" not in page  # no shareable links in anonymous surveys
    for _attempt in range(2):  # the same address twice: two links, one person
        sent = client.post(invitations, {"emails": "Guest@Example.org"})
        assert sent.status_code == 302
    assert len(mail.outbox) == 2
    links = [line for m in mail.outbox for line in m.body.split() if "/i/" in line]
    assert len(links) == 2
    for score, link in enumerate(links, start=2):  # changed answers: a real resubmission
        path = link[link.index("/i/") :]
        answer_through_link(client.__class__(), path, survey, team, score)
    counted = Response.objects.filter(survey=survey, team=team, status="submitted")
    assert counted.count() == 1
    assert counted.get().respondent_key == services.link_respondent_key(
        survey, team, "guest@example.org"
    )
    assert Response.objects.filter(status="superseded").count() == 1
    assert set(Invitation.objects.values_list("max_uses", "uses")) == {(1, 1)}


def test_a_used_personal_link_lets_only_its_invitee_back_in(
    client, anonymous_survey, team, admin_user
):
    _, token = services.invitation_create(
        survey=anonymous_survey, team=team, created_by=admin_user, invitee_email="a@x.test"
    )
    assert client.post(f"/i/{token}/").status_code == 302
    back = client.get(f"/i/{token}/")
    assert back.status_code == 302 and back["Location"].endswith(
        f"/surveys/{anonymous_survey.pk}/{team.slug}/"
    )
    assert client.__class__().get(f"/i/{token}/").status_code == 404  # used up for others


def test_members_are_not_invited_by_link_and_a_link_never_opens_an_accounts_answers(
    client, anonymous_survey, team, member, admin_user
):
    """Break-it finding: a link to a member's address answered as the member, so whoever
    held it saw the member's answers without logging in."""
    services.response_submit(
        survey=anonymous_survey,
        team=team,
        respondent_key=services.respondent_key_for(member, anonymous_survey),
        answers=complete_answers(anonymous_survey.framework, 3),
    )
    with pytest.raises(services.SurveyError) as refused:
        services.invitation_email(
            survey=anonymous_survey,
            team=team,
            emails=["guest@x.test", member.email.upper()],
            invited_by=admin_user,
            link_for=str,
        )
    assert refused.value.code == "invitee_is_member" and refused.value.field == "emails"
    assert mail.outbox == [] and not Invitation.objects.exists()
    client.force_login(admin_user)
    page = client.post(
        reverse("survey-invitations", args=[anonymous_survey.pk, team.slug]),
        {"emails": member.email},
    )
    assert page.status_code == 422 and "answer signed in" in page.content.decode()
    # An address of an account outside the team gets its own key, never the account's.
    outsider = UserFactory(username="outsider")
    key = services.link_respondent_key(anonymous_survey, team, outsider.email)
    assert key.startswith("l:") and key != services.respondent_key_for(outsider, anonymous_survey)
    invitation, _ = services.invitation_create(
        survey=anonymous_survey, team=team, created_by=admin_user, invitee_email=outsider.email
    )
    assert invitation.invitee_key and invitation.invitee_key not in key  # not matchable


def test_the_report_says_how_many_counted_responses_came_through_links(
    client, anonymous_survey, team, manager, admin_user
):
    survey = anonymous_survey
    for user in [MembershipFactory(team=team).user for _ in range(2)]:
        answer_as_member(survey, team, user, 2)
    _, token = services.invitation_create(
        survey=survey, team=team, created_by=admin_user, invitee_email="guest@x.test"
    )
    answer_through_link(client.__class__(), f"/i/{token}/", survey, team, 4)
    services.survey_close(survey=survey)
    report_services.aggregate(survey=survey)
    report = team_report(survey, team)
    assert not report.withheld and report.via_links == 1
    client.force_login(manager)
    page = client.get(f"/reports/teams/{team.slug}/?survey={survey.pk}").content.decode()
    assert "1 through personal invitation links" in page


def test_anonymous_comments_show_only_where_the_team_is_not_withheld_and_without_authors(
    client, anonymous_survey, team, manager
):
    survey = anonymous_survey
    framework = survey.framework
    first = framework.questions.order_by("order").first()
    users = [MembershipFactory(team=team).user for _ in range(3)]
    comments = ["zebra crossing", "Apple pie", "mango"]
    for user, comment, score in zip(users[:2], comments[:2], (1, 3), strict=True):
        answers = complete_answers(framework, score)
        answers[0] = services.AnswerInput(question=first, score=score, comment=comment)
        services.response_submit(
            survey=survey,
            team=team,
            respondent_key=services.respondent_key_for(user, survey),
            answers=answers,
        )
    report_services.aggregate(survey=survey)
    client.force_login(manager)
    url = f"/reports/teams/{team.slug}/?survey={survey.pk}"
    page = client.get(url).content.decode()
    assert "Results of this anonymous survey are shown once it closes (2 answered so far)" in page
    assert not any(comment in page for comment in comments)

    answers = complete_answers(framework, 2)
    answers[0] = services.AnswerInput(question=first, score=2, comment=comments[2])
    services.response_submit(
        survey=survey,
        team=team,
        respondent_key=services.respondent_key_for(users[2], survey),
        answers=answers,
    )
    report_services.aggregate(survey=survey)
    page = client.get(url).content.decode()
    assert "(3 answered so far)" in page  # open: still nothing to subtract
    assert not any(comment in page for comment in comments)
    services.survey_close(survey=survey)
    report_services.aggregate(survey=survey)
    # Alphabetical, not in submission order, and nothing else about the author.
    assert question_comments(survey, team) == {first.pk: ["Apple pie", "mango", "zebra crossing"]}
    page = client.get(url).content.decode()
    assert all(f"“{comment}”" in page for comment in comments)
    # The Actions section's owner list names the team's members (who may own an action),
    # not who answered: the rest of the page names nobody.
    answers_part = page.split('id="actions"')[0]
    assert not any(user.username in answers_part for user in users)


def test_a_member_of_two_teams_counts_once_in_each(anonymous_survey, team, other_team):
    person = UserFactory(username="both")
    MembershipFactory(user=person, team=team)
    MembershipFactory(user=person, team=other_team)
    for target in (team, other_team, team):
        answer_as_member(anonymous_survey, target, person, 2)
    counted = Response.objects.filter(status="submitted")
    assert sorted(counted.values_list("team__slug", flat=True)) == ["fraud", "recsys"]
    assert counted.filter(respondent__isnull=False).count() == 0


def test_a_manager_cannot_difference_results_before_and_after_one_more_answer(
    client, anonymous_survey, team, manager
):
    """Break-it finding: with k respondents shown, a manager saved the report, waited for a
    fourth person (whose time the aggregation runs API gave to the microsecond) and
    subtracted the two pages to recover all 58 of that person's answers."""
    survey = anonymous_survey
    for user in [MembershipFactory(team=team).user for _ in range(3)]:
        answer_as_member(survey, team, user, 2)
    report_services.aggregate(survey=survey)
    client.force_login(manager)
    url = f"/reports/teams/{team.slug}/?survey={survey.pk}"
    before = client.get(url).content.decode()
    answer_as_member(survey, team, MembershipFactory(team=team).user, 4)
    report_services.aggregate(survey=survey)
    after = client.get(url).content.decode()
    # Open: neither page shows a score, a distribution or a comment to subtract.
    for page, n in ((before, 3), (after, 4)):
        assert f"shown once it closes ({n} answered so far)" in page
        assert 'data-testid="overall-score"' not in page
    api = APIClient()
    api.force_authenticate(manager)
    assert scores_of(api, survey, team)["reason"] == "survey_open"
    runs = api.get(f"/api/v1/aggregation-runs/?survey={survey.pk}").json()["results"]
    assert runs == []  # no submission times of an anonymous survey for managers
    services.survey_close(survey=survey)
    report_services.aggregate(survey=survey)
    assert 'data-testid="overall-score"' in client.get(url).content.decode()

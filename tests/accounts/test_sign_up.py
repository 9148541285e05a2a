"""Sign-up (issue 18): through a named round's invitation always; open sign-up only with
ALLOW_SIGNUP."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from surveys import services
from surveys.models import Membership
from tests.factories import SurveyFactory

pytestmark = pytest.mark.django_db


def test_an_invited_person_without_an_account_creates_one_and_joins(
    client, framework, team, admin_user, member
):
    survey = SurveyFactory(framework=framework, teams=[team], status="open")
    _, token = services.invitation_create(survey=survey, team=team, created_by=admin_user)
    url = f"/i/{token}/"
    page = client.get(url).content.decode()
    assert "I have an account: log in" in page and "Create your account" in page
    response = client.post(url, {"email": "alice@example.com", "password1": "x", "password2": "x"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "An account already has this address" in page or "too short" in page
    response = client.post(
        url,
        {
            "email": "Zoe@Example.com",
            "password1": "a long pass phrase 9",
            "password2": "a long pass phrase 9",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == f"/surveys/{survey.pk}/{team.slug}/"
    zoe = get_user_model().objects.get(username="zoe@example.com")
    assert Membership.objects.filter(user=zoe, team=team, role="member").exists()
    assert client.get("/").status_code == 200  # signed in


def test_an_existing_address_is_told_to_log_in(client, framework, team, admin_user, member):
    survey = SurveyFactory(framework=framework, teams=[team], status="open")
    _, token = services.invitation_create(survey=survey, team=team, created_by=admin_user)
    response = client.post(
        f"/i/{token}/",
        {
            "email": member.email.upper(),
            "password1": "a long pass phrase 9",
            "password2": "a long pass phrase 9",
        },
    )
    assert response.status_code == 400
    assert "An account already has this address" in response.content.decode()


def test_open_sign_up_only_when_allowed(client, settings, db):
    settings.ALLOW_SIGNUP = False
    assert client.get("/accounts/signup/").status_code == 404
    assert "Create an account" not in client.get("/accounts/login/").content.decode()
    settings.ALLOW_SIGNUP = True
    assert "Create an account" in client.get("/accounts/login/").content.decode()
    response = client.post(
        "/accounts/signup/",
        {
            "email": "sam@example.com",
            "password1": "a long pass phrase 9",
            "password2": "a long pass phrase 8",
        },
    )
    assert response.status_code == 400 and "The two passwords differ." in response.content.decode()
    response = client.post(
        "/accounts/signup/",
        {
            "email": "sam@example.com",
            "password1": "a long pass phrase 9",
            "password2": "a long pass phrase 9",
        },
    )
    assert response.status_code == 302
    assert get_user_model().objects.filter(username="sam@example.com").exists()

"""Sign-up (issue 18): through a named round's invitation always; open sign-up only with
ALLOW_SIGNUP; either way the account is usable once the e-mailed link confirms the address
(break-it: an unconfirmed address let a stranger take over someone's later sign-in)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from accounts.models import Profile
from surveys import services
from surveys.models import Membership
from tests.factories import SurveyFactory

pytestmark = pytest.mark.django_db
PASSWORD = {"password1": "a long pass phrase 9", "password2": "a long pass phrase 9"}


def confirm_link() -> str:
    found = re.search(r"https?://[^/]+(/accounts/verify/\S+)", mail.outbox[-1].body)
    assert found, mail.outbox[-1].body
    return found.group(1)


def test_an_invited_person_confirms_the_address_then_joins(client, framework, team, admin_user):
    survey = SurveyFactory(framework=framework, teams=[team], status="open")
    _, token = services.invitation_create(survey=survey, team=team, created_by=admin_user)
    url = f"/i/{token}/"
    page = client.get(url).content.decode()
    assert "I have an account: log in" in page and "Create your account" in page
    response = client.post(url, {"email": "Zoe@Example.com", **PASSWORD})
    assert response.status_code == 200 and "Confirm your address" in response.content.decode()
    zoe = get_user_model().objects.get(username="zoe@example.com")
    assert not zoe.is_active and Profile.objects.get(user=zoe).unverified
    assert not Membership.objects.filter(user=zoe).exists()
    # Not usable before the link: the password is refused.
    response = client.post(
        "/accounts/login/", {"username": "zoe@example.com", "password": PASSWORD["password1"]}
    )
    assert response.status_code == 200
    response = client.get(confirm_link())
    assert response.status_code == 302 and response["Location"] == url
    response = client.post(url)  # back at the invitation, signed in: accept it
    assert response["Location"] == f"/surveys/{survey.pk}/{team.slug}/"
    assert Membership.objects.filter(user=zoe, team=team).exists()
    assert client.get(confirm_link()).status_code == 404  # the link works once


def test_an_unconfirmed_sign_up_never_blocks_the_real_owner(
    client, framework, team, admin_user, settings
):
    settings.ALLOW_SIGNUP = True
    client.post("/accounts/signup/", {"email": "cto@example.com", **PASSWORD})
    first = get_user_model().objects.get(username="cto@example.com")
    # The owner signs up again: the unconfirmed account is replaced, not "already taken".
    mail.outbox.clear()
    response = client.post("/accounts/signup/", {"email": "CTO@example.com", **PASSWORD})
    assert response.status_code == 200
    assert not get_user_model().objects.filter(pk=first.pk).exists()
    assert client.get(confirm_link()).status_code == 302
    assert get_user_model().objects.get(username="cto@example.com").is_active


def test_a_confirmed_address_is_told_to_log_in(client, framework, team, admin_user, member):
    survey = SurveyFactory(framework=framework, teams=[team], status="open")
    _, token = services.invitation_create(survey=survey, team=team, created_by=admin_user)
    response = client.post(f"/i/{token}/", {"email": member.email.upper(), **PASSWORD})
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
            "password2": "other 8 long",
        },
    )
    assert response.status_code == 400 and "The two passwords differ." in response.content.decode()
    response = client.post("/accounts/signup/", {"email": "sam@example.com", **PASSWORD})
    assert "Confirm your address" in response.content.decode()
    assert client.get(confirm_link())["Location"] == "/"


def test_password_login_off_closes_every_password_door(
    client, settings, admin_user, framework, team
):
    settings.PASSWORD_LOGIN = False
    settings.ALLOW_SIGNUP = True
    admin_user.set_password("pass-word-123")
    admin_user.save()
    response = client.post("/admin/login/", {"username": "admin", "password": "pass-word-123"})
    assert "_auth_user_id" not in client.session and response.status_code == 200
    assert client.get("/accounts/signup/").status_code == 404
    assert client.post("/accounts/password-reset/", {"email": admin_user.email}).status_code == 404
    survey = SurveyFactory(framework=framework, teams=[team], status="open")
    _, token = services.invitation_create(survey=survey, team=team, created_by=admin_user)
    response = client.post(f"/i/{token}/", {"email": "x@example.com", **PASSWORD})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not get_user_model().objects.filter(username="x@example.com").exists()


def test_a_reset_link_never_confirms_or_reactivates_an_account(client, member):
    """Break-it: a password-reset token opened at /accounts/verify/ reactivated a
    deactivated account."""
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    from accounts.services import verification_tokens

    uid = urlsafe_base64_encode(force_bytes(member.pk))
    reset_token = default_token_generator.make_token(member)
    member.is_active = False
    member.save()
    assert client.get(f"/accounts/verify/{uid}/{reset_token}/").status_code == 404
    # Even a confirmation token of its own does not bring back a deactivated account.
    own = verification_tokens.make_token(member)
    assert client.get(f"/accounts/verify/{uid}/{own}/").status_code == 404
    member.refresh_from_db()
    assert not member.is_active

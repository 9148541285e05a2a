"""Password reset and change (issue 18): a person added by e-mail sets a first password."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from surveys.membership_import import memberships_import

pytestmark = pytest.mark.django_db


def reset_link(message) -> str:
    found = re.search(r"https?://[^/]+(/accounts/reset/\S+/)", message.body)
    assert found, message.body
    return found.group(1)


def test_a_person_added_by_e_mail_sets_a_first_password_and_logs_in(client, team):
    memberships_import(b"email,team\nNew.Person@Example.com,recsys\n")
    response = client.post("/accounts/password-reset/", {"email": "new.person@example.com"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password-reset/sent/"
    assert [m.to for m in mail.outbox] == [["new.person@example.com"]]
    assert "Your username: new.person@example.com" in mail.outbox[0].body
    link = reset_link(mail.outbox[0])
    form_url = client.get(link)["Location"]  # Django swaps the token for a session one
    response = client.post(
        form_url, {"new_password1": "a long pass phrase 7", "new_password2": "a long pass phrase 7"}
    )
    assert response.status_code == 302 and response["Location"] == "/accounts/reset/done/"
    response = client.post(
        "/accounts/login/",
        {"username": "new.person@example.com", "password": "a long pass phrase 7"},
    )
    assert response.status_code == 302 and response["Location"] == "/"
    client.logout()
    # The link works once.
    assert "does not work any more" in client.get(form_url, follow=True).content.decode()


def test_unknown_address_looks_the_same_and_sends_nothing(client, db):
    response = client.post("/accounts/password-reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302 and mail.outbox == []
    response = client.post("/accounts/password-reset/", {"email": "not an address"})
    assert (
        response.status_code == 200 and "Enter a valid email address." in response.content.decode()
    )


def test_change_password_needs_the_old_one(client, member):
    client.force_login(member)
    page = client.get("/accounts/password-change/")
    assert page.status_code == 200 and "Change your password" in page.content.decode()
    response = client.post(
        "/accounts/password-change/",
        {
            "old_password": "wrong",
            "new_password1": "x9 long enough!",
            "new_password2": "x9 long enough!",
        },
    )
    assert response.status_code == 200 and "incorrectly" in response.content.decode()
    response = client.post(
        "/accounts/password-change/",
        {
            "old_password": "pass-word-123",
            "new_password1": "x9 long enough!",
            "new_password2": "x9 long enough!",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/accounts/password-change/done/"
    member.refresh_from_db()
    assert member.check_password("x9 long enough!")
    assert client.get("/accounts/password-change/done/").status_code == 200


def test_login_page_offers_the_reset(client, db):
    page = client.get("/accounts/login/").content.decode()
    assert 'href="/accounts/password-reset/"' in page


def test_an_address_logs_in_in_any_case(client, team):
    from django.contrib.auth import get_user_model

    memberships_import(b"email,team\nmia@example.com,recsys\n")
    mia = get_user_model().objects.get(username="mia@example.com")
    mia.set_password("mia's long passphrase")
    mia.save()
    response = client.post(
        "/accounts/login/", {"username": " Mia@Example.COM", "password": "mia's long passphrase"}
    )
    assert response.status_code == 302 and response["Location"] == "/"


def test_the_lockout_counts_an_address_in_any_case_as_one(client, team, settings):
    from django.contrib.auth import get_user_model

    memberships_import(b"email,team\nnew.person@example.com,recsys\n")
    person = get_user_model().objects.get(username="new.person@example.com")
    person.set_password("the right one 123")
    person.save()
    for typed in (
        "new.person@example.com",
        "New.person@example.com",
        "NEW.person@example.com",
        "nEw.person@example.com",
        "new.PERSON@example.com",
    ):
        client.post("/accounts/login/", {"username": typed, "password": "wrong"})
    response = client.post(
        "/accounts/login/", {"username": "NeW.PERSON@example.com", "password": "the right one 123"}
    )
    assert response.status_code != 302  # locked out, whatever the case

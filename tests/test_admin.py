"""Every admin page an administrator uses opens (changelists, search, a change page)."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from reports import services
from tests.conftest import complete_answers

pytestmark = pytest.mark.django_db


def test_admin_changelists_and_change_pages_open(
    client, admin_user, survey, team, member, framework
):
    from surveys import services as survey_services

    survey_services.response_submit(
        survey=survey,
        team=team,
        respondent=member,
        respondent_key=f"u:{member.pk}",
        answers=complete_answers(framework),
    )
    services.aggregate(survey=survey)
    from reports.models import ExportJob

    ExportJob.objects.create(owner=admin_user, kind="answers", format="csv", params={})
    client.force_login(admin_user)
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        assert client.get(changelist).status_code == 200, changelist
        if model_admin.search_fields:
            assert client.get(changelist, {"q": "a"}).status_code == 200, changelist
        first = model.objects.first()
        if first is not None:
            change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[first.pk])
            assert client.get(change).status_code == 200, change


def test_admin_actions_open_and_close_surveys(client, admin_user, survey):
    client.force_login(admin_user)
    url = reverse("admin:surveys_survey_changelist")
    client.post(url, {"action": "close_surveys", "_selected_action": [survey.pk]})
    survey.refresh_from_db()
    assert survey.status == "closed"
    client.post(url, {"action": "open_surveys", "_selected_action": [survey.pk]})
    survey.refresh_from_db()
    assert survey.status == "open"

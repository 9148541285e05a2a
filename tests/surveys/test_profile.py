"""The team profile per (survey, team) in the services and the API: who may read and write
it, its checks, proposals, re-scoring after a change."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from reports.models import AggregationRun
from surveys import services
from surveys.models import Survey, TeamProfile
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

ONLINE_LLM = {"serving": ["online"], "model_kinds": ["llm-api"], "gpu": False, "regulated": True}


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def other_manager(other_team):
    return MembershipFactory(team=other_team, user__username="omar", role="manager").user


def endpoint(survey, team):
    return f"/api/v1/surveys/{survey.pk}/teams/{team.slug}/profile/"


def test_a_second_proposal_is_refused_once_a_profile_exists(v2_survey, team, member):
    values = services.ProfileInput(["batch"], ["classical"])
    services.profile_propose(survey=v2_survey, team=team, values=values, declared_by=member)
    with pytest.raises(services.SurveyError) as refused:
        services.profile_propose(survey=v2_survey, team=team, values=values, declared_by=None)
    assert (refused.value.code, refused.value.status_code) == ("profile_exists", 409)


# --- the API -------------------------------------------------------------------------------


def test_only_the_teams_managers_and_admins_set_a_profile(v2_survey, team, member, other_manager):
    values = services.ProfileInput(["batch"], ["classical"])
    for someone in (member, other_manager):
        with pytest.raises(services.SurveyError) as refused:
            services.profile_set(survey=v2_survey, team=team, values=values, set_by=someone)
        assert refused.value.status_code == 403
    assert not TeamProfile.objects.exists()


def test_a_manager_of_the_parent_team_manages_its_product_teams_profiles(
    v2_survey, team, platform_team
):
    lead = MembershipFactory(team=platform_team, user__username="pat", role="manager").user
    values = services.ProfileInput(["batch"], ["classical"])
    services.profile_set(survey=v2_survey, team=team, values=values, set_by=lead)
    assert TeamProfile.objects.get().confirmed_by == lead


def test_members_read_the_profile_through_the_api(api, v2_survey, team, member):
    api.force_authenticate(member)
    response = api.get(endpoint(v2_survey, team))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "none"
    assert (body["asked"], body["inherited"], body["out_of_scope"]) == (79, 4, 0)
    assert api.put(endpoint(v2_survey, team), ONLINE_LLM, format="json").status_code == 403
    assert not TeamProfile.objects.exists()


def test_a_manager_puts_the_profile_and_the_team_is_rescored(
    api, v2_survey, team, manager, django_capture_on_commit_callbacks
):
    api.force_authenticate(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.put(endpoint(v2_survey, team), ONLINE_LLM, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "confirmed" and body["confirmed_by"] == "maria"
    assert (body["serving"], body["model_kinds"], body["regulated"]) == (
        ["online"],
        ["llm-api"],
        True,
    )
    assert body["out_of_scope"] > 0 and body["asked"] + body["out_of_scope"] == 79
    assert AggregationRun.objects.get().trigger == "profile"
    assert api.get(endpoint(v2_survey, team)).json() == body


@pytest.mark.parametrize("who", ["other_manager", "other_member"])
def test_someone_of_another_team_gets_a_404_for_read_and_write(request, api, v2_survey, team, who):
    api.force_authenticate(request.getfixturevalue(who))
    assert api.get(endpoint(v2_survey, team)).status_code == 404
    assert api.put(endpoint(v2_survey, team), ONLINE_LLM, format="json").status_code == 404


def test_the_profile_api_needs_credentials(api, v2_survey, team):
    response = api.get(endpoint(v2_survey, team))
    assert response.status_code == 403
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {**ONLINE_LLM, "serving": ["online", "cloud"]},
            {"serving": {"1": ['"cloud" is not a valid choice.']}},
        ),
        (
            {**ONLINE_LLM, "model_kinds": "llm-api"},
            {"model_kinds": ['Expected a list of items but got type "str".']},
        ),
        (
            {**ONLINE_LLM, "serving": ["none", "online"]},
            {"serving": ["'none' (models that are not served) cannot be combined."]},
        ),
        (
            {**ONLINE_LLM, "model_kinds": []},
            {
                "model_kinds": [
                    "Choose at least one of ['classical', 'deep-learning', 'llm-api', "
                    "'llm-fine-tuned', 'agents']."
                ]
            },
        ),
        ({**ONLINE_LLM, "colour": "blue"}, {"colour": ["Unknown field."]}),
        (
            {"gpu": "perhaps"},
            {"serving": ["This field is required."], "gpu": ["Must be a valid boolean."]},
        ),
    ],
)
def test_a_profile_with_unknown_values_is_a_400_with_field_errors(
    api, v2_survey, team, manager, body, errors
):
    api.force_authenticate(manager)
    response = api.put(endpoint(v2_survey, team), body, format="json")
    assert response.status_code == 400
    for field, expected in errors.items():
        assert response.json()[field] == expected
    assert not TeamProfile.objects.exists()


def test_a_closed_surveys_profile_is_a_409_through_the_api(api, v2_survey, team, manager):
    Survey.objects.filter(pk=v2_survey.pk).update(status=Survey.Status.CLOSED)
    api.force_authenticate(manager)
    response = api.put(endpoint(v2_survey, team), ONLINE_LLM, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "closed"


def test_the_profile_endpoint_is_in_the_openapi_schema(api, admin_user):
    api.force_authenticate(admin_user)
    schema = api.get("/api/schema/?format=json").json()
    path = schema["paths"]["/api/v1/surveys/{survey_id}/teams/{slug}/profile/"]
    assert set(path) >= {"get", "put"}
    assert path["put"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/TeamProfileInRequest"
    )


def test_a_slug_the_url_cannot_take_is_a_json_404(api, v2_survey, manager):
    api.force_authenticate(manager)
    response = api.put(
        f"/api/v1/surveys/{v2_survey.pk}/teams/%0A4/profile/", ONLINE_LLM, format="json"
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"

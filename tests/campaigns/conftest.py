"""A small organisation with scored rounds and two campaigns, and its people.

    platform (grouping)  -> recsys (monitoring level 3), fraud (level 1)
    risk (grouping)      -> loans (level 0)

Campaign ``mon``: every team under platform at level 2 or higher in monitoring;
campaign ``risk``: every team under risk, the same goal. People: an admin, a programme lead
(not staff), maria (manager of platform), mia (manager of recsys), alice (member of
recsys), ines (member of fraud), olga (member of loans), nobody (no team).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Permission

from reports.campaign_progress import campaign_progress_refresh
from tests.campaign_world import MONITORING, dimension_answers, make_campaign, scored_round
from tests.factories import MembershipFactory, TeamFactory, UserFactory


@pytest.fixture
def world(framework):
    platform = TeamFactory(slug="platform", name="ML Platform")
    recsys = TeamFactory(slug="recsys", name="Recommendations", parent=platform)
    fraud = TeamFactory(slug="fraud", name="Fraud Detection", parent=platform)
    risk = TeamFactory(slug="risk", name="Risk")
    loans = TeamFactory(slug="loans", name="Loans", parent=risk)
    survey = scored_round(
        framework,
        {
            recsys: [dimension_answers(framework, MONITORING, 3)],
            fraud: [dimension_answers(framework, MONITORING, 1)],
            loans: [dimension_answers(framework, MONITORING, 0)],
        },
        title="Q1 review",
        days_ago=30,
    )
    mon = make_campaign(platform, dimension=MONITORING, level=2, title="Monitoring for all")
    risk_campaign = make_campaign(risk, dimension=MONITORING, level=2, title="Risk monitoring")
    for campaign in (mon, risk_campaign):
        campaign_progress_refresh(campaign)
    lead = UserFactory(username="lena")
    lead.user_permissions.add(Permission.objects.get(codename="run_programme"))
    people = {
        "admin": UserFactory(username="root", is_staff=True, is_superuser=True),
        "lead": lead,
        "maria": MembershipFactory(team=platform, user__username="maria", role="manager").user,
        "mia": MembershipFactory(team=recsys, user__username="mia", role="manager").user,
        "alice": MembershipFactory(team=recsys, user__username="alice").user,
        "ines": MembershipFactory(team=fraud, user__username="ines").user,
        "olga": MembershipFactory(team=loans, user__username="olga").user,
        "nobody": UserFactory(username="nobody"),
    }
    return SimpleNamespace(
        platform=platform,
        recsys=recsys,
        fraud=fraud,
        risk=risk,
        loans=loans,
        survey=survey,
        mon=mon,
        risk_campaign=risk_campaign,
        **people,
    )

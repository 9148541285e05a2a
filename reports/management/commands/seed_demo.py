"""manage.py seed_demo: an organisation with teams, people, two survey rounds and answers.

Idempotent: if the demo organisation exists, it only prints the credentials again.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from maturity.models import Framework
from reports.services import aggregate
from surveys import services
from surveys.models import Membership, Response, Survey, Team

DEMO_PASSWORD = "maturity-demo"  # noqa: S105 - printed demo credentials, local use only

# (slug, name, parent slug, maturity profile: base level 0-4 and per-dimension offsets)
TEAMS = [
    ("ml-platform", "ML Platform", None, None),
    ("recsys", "Recommendations", "ml-platform", (3.1, {"monitoring-feedback": 0.5})),
    (
        "search",
        "Search Ranking",
        "ml-platform",
        (2.2, {"cicd-deployment": 0.8, "data-management": -0.6}),
    ),
    ("risk", "Risk & Fraud", None, None),
    (
        "fraud",
        "Fraud Detection",
        "risk",
        (1.6, {"security-compliance": 1.2, "governance-cost": 0.9}),
    ),
    ("credit", "Credit Models", "risk", (0.9, {"testing-validation": 0.6})),
]
MANAGERS = {"maria": ["recsys", "search", "ml-platform"], "omar": ["fraud", "credit", "risk"]}
MEMBERS = {
    "recsys": ["alice", "ben", "chloe", "dev"],
    "search": ["erin", "farid", "grace", "hiro"],
    "fraud": ["ines", "jonas", "kemi"],
    "credit": ["lena", "mateo", "nora"],
}
# Members who have not answered the open survey yet, so the respondent flow can be tried.
NOT_YET_ANSWERED = {"alice", "erin"}


class Command(BaseCommand):
    help = "Create demo teams, users, a closed and an open survey, and realistic answers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=7, help="Random seed for answers.")

    def handle(self, *args: Any, **options: Any) -> None:
        framework = Framework.objects.filter(slug="mlops", published=True).first()
        if framework is None:
            raise CommandError(
                "Load the framework first: manage.py load_framework maturity/frameworks/mlops.yaml"
            )
        if Team.objects.filter(slug="recsys").exists():
            self.stdout.write("Demo data already present.")
        else:
            self._create(framework, random.Random(options["seed"]))  # noqa: S311
        self._print_credentials()

    @transaction.atomic
    def _create(self, framework: Framework, rng: random.Random) -> None:
        users = get_user_model().objects
        admin = users.filter(username="admin").first() or users.create_superuser(
            "admin", "admin@example.com", DEMO_PASSWORD
        )
        teams: dict[str, Team] = {}
        for slug, name, parent, _ in TEAMS:
            teams[slug] = Team.objects.create(
                slug=slug, name=name, parent=teams.get(parent) if parent else None
            )
        for username, slugs in MANAGERS.items():
            user = users.create_user(username, f"{username}@example.com", DEMO_PASSWORD)
            for slug in slugs:
                Membership.objects.create(user=user, team=teams[slug], role="manager")
        for slug, usernames in MEMBERS.items():
            for username in usernames:
                user = users.create_user(username, f"{username}@example.com", DEMO_PASSWORD)
                Membership.objects.create(user=user, team=teams[slug])

        now = timezone.now()
        leaf_teams = [teams[slug] for slug in MEMBERS]
        last = Survey.objects.create(
            title="Q3 2026 maturity review",
            description="Last quarter's baseline.",
            framework=framework,
            opens_at=now - timedelta(days=120),
            closes_at=now + timedelta(days=1),
            status=Survey.Status.OPEN,
        )
        last.teams.set(leaf_teams)
        current = Survey.objects.create(
            title="Q4 2026 maturity review",
            description="Where are we now? Answer for your team as it works today.",
            framework=framework,
            opens_at=now - timedelta(days=10),
            closes_at=now + timedelta(days=20),
            status=Survey.Status.OPEN,
        )
        current.teams.set(leaf_teams)

        questions = list(framework.questions.select_related("dimension").order_by("order"))
        profiles = {slug: profile for slug, _, _, profile in TEAMS if profile}
        for survey, improvement, days_ago in ((last, -0.5, 100), (current, 0.0, 5)):
            for slug, usernames in MEMBERS.items():
                base, offsets = profiles[slug]
                for username in usernames:
                    if survey is current and username in NOT_YET_ANSWERED:
                        continue
                    user = users.get(username=username)
                    optimism = rng.uniform(-0.5, 0.6)  # some people rate higher than others
                    answers = []
                    for question in questions:
                        if question.allow_na and rng.random() < 0.12:
                            answers.append(services.AnswerInput(question=question, na=True))
                            continue
                        level = base + offsets.get(question.dimension.key, 0) + improvement
                        level += optimism + rng.gauss(0, 0.7)
                        score = max(0, min(question.max_score, round(level)))
                        comment = ""
                        if rng.random() < 0.04:
                            comment = rng.choice(COMMENTS)
                        answers.append(
                            services.AnswerInput(question=question, score=score, comment=comment)
                        )
                    result = services.response_submit(
                        survey=survey,
                        team=teams[slug],
                        respondent=user,
                        respondent_key=services.respondent_key_for(user, survey),
                        answers=answers,
                    )
                    submitted_at = now - timedelta(days=days_ago, hours=rng.randint(0, 48))
                    Response.objects.filter(pk=result.response.pk).update(
                        submitted_at=submitted_at, started_at=submitted_at - timedelta(minutes=25)
                    )
        # Last quarter is over: close it without waiting for its closes_at.
        Survey.objects.filter(pk=last.pk).update(
            status=Survey.Status.CLOSED,
            opens_at=now - timedelta(days=120),
            closes_at=now - timedelta(days=60),
        )
        transaction.on_commit(lambda: self._score(last.pk, current.pk))
        self.stdout.write(self.style.SUCCESS(f"Created demo organisation (admin: {admin})."))

    def _score(self, *survey_ids: int) -> None:
        for survey in Survey.objects.filter(pk__in=survey_ids):
            run = aggregate(survey=survey)
            self.stdout.write(f"Scored {run.teams_scored} teams of '{survey.title}'.")

    def _print_credentials(self) -> None:
        self.stdout.write(
            "\nDemo accounts (password for all: "
            f"{DEMO_PASSWORD}):\n"
            "  admin  - administrator (/admin/)\n"
            "  maria  - manager of Recommendations and Search Ranking\n"
            "  omar   - manager of Fraud Detection and Credit Models\n"
            "  alice  - member of Recommendations (has not answered the open survey yet)\n"
            "  erin   - member of Search Ranking (has not answered the open survey yet)\n"
            "  ben, chloe, dev, farid, grace, hiro, ines, jonas, kemi, lena, mateo, nora\n"
        )


COMMENTS = [
    "We do this for the main model only; the older ones are still manual.",
    "Depends on who is on call, honestly.",
    "Planned for next quarter, ticket is in the backlog.",
    "The platform team provides this, we just use it.",
    "Not sure the whole team knows this exists.",
]

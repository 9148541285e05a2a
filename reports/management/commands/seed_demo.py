"""manage.py seed_demo: an organisation with teams, people, two survey rounds and answers.

Last quarter's round ran on framework ``mlops`` version 1 and is closed; this quarter's runs
on version 2 and is open. The version 2 round shows what version 2 adds: team profiles that
put questions out of scope (a batch-only team, an LLM team), "don't know" answers, platform
teams answering the platform- and org-scope questions for their product teams, and twelve
teams so that the org views and question health have something to show.

Idempotent: if the demo organisation exists, it only prints the credentials again.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from actions import services as action_services
from campaigns import services as campaign_services
from evidence import demo as demo_repositories
from evidence import services as evidence_services
from evidence.demo import demo_now
from evidence.models import Snapshot
from maturity.evidence.snapshot import manifest_from_archive
from maturity.models import Framework, Question
from reports.campaign_progress import campaign_progress_refresh
from reports.health import question_health_refresh
from reports.models import TeamRecommendation
from reports.services import aggregate
from surveys import services
from surveys.models import Membership, Response, Survey, Team, TeamProfile
from surveys.selectors import team_plan

DEMO_PASSWORD = "maturity-demo"  # noqa: S105 - printed demo credentials, local use only


@dataclass(frozen=True)
class DemoTeam:
    """A demo team: who is in it, how mature it is and what it declares about its ML work.

    ``base`` is its typical level (0-4) and ``offsets`` shift it per dimension key;
    ``profile`` is its version 2 team profile (None: it has not declared one, so its first
    respondent is asked to); ``confirmed``: a manager confirmed the profile.
    """

    slug: str
    name: str
    parent: str | None
    members: tuple[str, ...]
    base: float
    offsets: dict[str, float] = field(default_factory=dict)
    profile: dict[str, Any] | None = None
    confirmed: bool = True
    in_last_round: bool = False


TEAMS = [
    DemoTeam(
        "ml-platform",
        "ML Platform",
        None,
        ("pia", "quinn", "raj"),
        2.9,
        {"environments-infrastructure": 0.6, "cicd-deployment": 0.4},
        {
            "serving": ["batch", "online"],
            "model_kinds": ["classical", "deep-learning", "llm-api"],
            "gpu": True,
        },
    ),
    DemoTeam(
        "recsys",
        "Recommendations",
        "ml-platform",
        ("alice", "ben", "chloe", "dev"),
        3.1,
        {"monitoring-feedback": 0.5},
        {
            "serving": ["batch", "online"],
            "model_kinds": ["classical", "deep-learning"],
            "gpu": True,
        },
        in_last_round=True,
    ),
    DemoTeam(
        "search",
        "Search Ranking",
        "ml-platform",
        ("erin", "farid", "grace", "hiro"),
        2.2,
        {"cicd-deployment": 0.8, "data-management": -0.6},
        {"serving": ["online"], "model_kinds": ["deep-learning"], "gpu": True},
        confirmed=False,
        in_last_round=True,
    ),
    DemoTeam(
        "assistant",
        "Support Assistant",
        "ml-platform",
        ("sofia", "tariq", "uma"),
        1.7,
        {"genai-operations": 0.7, "testing-validation": -0.5},
        {"serving": ["online"], "model_kinds": ["llm-api", "agents"]},
    ),
    DemoTeam(
        "forecasting",
        "Demand Forecasting",
        "ml-platform",
        ("victor", "wen", "xavi"),
        2.0,
        {"data-management": 0.7, "monitoring-feedback": -0.8},
        {"serving": ["batch"], "model_kinds": ["classical"]},
        in_last_round=True,
    ),
    DemoTeam(
        "vision",
        "Visual Search",
        "ml-platform",
        ("yara", "zeno", "amir"),
        2.5,
        {"scalability-resources": 0.6},
        None,
    ),
    DemoTeam(
        "risk",
        "Risk & Fraud",
        None,
        ("bea", "cyril"),
        2.4,
        {"security-compliance": 0.9, "responsible-ai": 0.6},
        {
            "serving": ["batch", "online", "streaming"],
            "model_kinds": ["classical", "deep-learning"],
            "regulated": True,
        },
    ),
    DemoTeam(
        "fraud",
        "Fraud Detection",
        "risk",
        ("ines", "jonas", "kemi"),
        1.6,
        {"security-compliance": 1.2, "governance-cost": 0.9, "cost-efficiency": 0.5},
        {
            "serving": ["online", "streaming"],
            "model_kinds": ["classical", "deep-learning"],
            "regulated": True,
        },
        in_last_round=True,
    ),
    DemoTeam(
        "credit",
        "Credit Models",
        "risk",
        ("lena", "mateo", "nora"),
        0.9,
        {"testing-validation": 0.6},
        {"serving": ["batch"], "model_kinds": ["classical"], "regulated": True},
        in_last_round=True,
    ),
    DemoTeam(
        "aml",
        "Anti-Money Laundering",
        "risk",
        ("dina", "emil", "fay"),
        1.3,
        {"responsible-ai": 0.8},
        {"serving": ["batch", "streaming"], "model_kinds": ["classical"], "regulated": True},
    ),
    DemoTeam(
        "pricing",
        "Dynamic Pricing",
        "risk",
        ("gus", "hana", "ivo"),
        2.7,
        {"experimentation-development": 0.7},
        {"serving": ["online"], "model_kinds": ["classical"]},
        in_last_round=True,
    ),
    DemoTeam(
        "collections",
        "Collections Scoring",
        "risk",
        ("jade", "kofi", "lars"),
        1.1,
        {},
        {"serving": ["batch"], "model_kinds": ["classical", "llm-fine-tuned"]},
    ),
]
MANAGERS = {
    "maria": ["ml-platform", "recsys", "search", "assistant", "forecasting", "vision"],
    "omar": ["risk", "fraud", "credit", "aml", "pricing", "collections"],
}
# Members who have not answered the open round yet, so the respondent flow can be tried.
NOT_YET_ANSWERED = frozenset({"alice", "erin", "yara"})
# Dimensions whose practices respondents often cannot see from inside a product team.
OPAQUE_DIMENSIONS = {"security-compliance", "access-change-control", "cost-efficiency"}
# Questions people of one team read differently in the demo, so that question health has
# something to flag (the rest spread as colleagues' views usually do, by about one level).
READ_DIFFERENTLY = {"iterative-delivery", "environment-parity", "drift-detection"}
NA_REASON = "We run no model of the kind this asks about."


class Command(BaseCommand):
    help = "Create demo teams, users, a closed v1 round, an open v2 round and realistic answers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=7, help="Random seed for answers.")

    def handle(self, *args: Any, **options: Any) -> None:
        versions = {
            f.version: f for f in Framework.objects.filter(slug="mlops", version__in=[1, 2])
        }
        if set(versions) != {1, 2}:
            raise CommandError(
                "Load both versions of the framework first: "
                "manage.py load_framework maturity/frameworks/*.yaml"
            )
        if Team.objects.filter(slug="recsys").exists():
            self.stdout.write("Demo data already present.")
        else:
            self._create(versions[1], versions[2], random.Random(options["seed"]))  # noqa: S311
        self._print_credentials()

    @transaction.atomic
    def _create(self, v1: Framework, v2: Framework, rng: random.Random) -> None:
        users = get_user_model().objects
        admin = users.filter(username="admin").first() or users.create_superuser(
            "admin", "admin@example.com", DEMO_PASSWORD
        )
        teams = self._create_people()
        now = timezone.now()
        last = Survey.objects.create(
            title="Q3 2026 maturity review",
            description="Last quarter's baseline (framework version 1).",
            framework=v1,
            opens_at=now - timedelta(days=120),
            closes_at=now + timedelta(days=1),
            status=Survey.Status.OPEN,
        )
        last.teams.set([teams[t.slug] for t in TEAMS if t.in_last_round])
        current = Survey.objects.create(
            title="Q4 2026 maturity review",
            description="Where are we now? Answer for your team as it works today.",
            framework=v2,
            opens_at=now - timedelta(days=10),
            closes_at=now + timedelta(days=20),
            status=Survey.Status.OPEN,
        )
        current.teams.set(teams.values())
        self._declare_profiles(current, teams)
        for demo in TEAMS:
            if demo.in_last_round:
                self._answer(last, teams[demo.slug], demo, rng, now - timedelta(days=100), -0.5)
            self._answer(
                current, teams[demo.slug], demo, rng, now - timedelta(days=5), 0.0, NOT_YET_ANSWERED
            )
        # Last quarter is over: close it without waiting for its closes_at.
        Survey.objects.filter(pk=last.pk).update(
            status=Survey.Status.CLOSED,
            opens_at=now - timedelta(days=120),
            closes_at=now - timedelta(days=60),
        )
        transaction.on_commit(lambda: self._score(last.pk, current.pk))
        self.stdout.write(self.style.SUCCESS(f"Created demo organisation (admin: {admin})."))

    def _create_people(self) -> dict[str, Team]:
        users = get_user_model().objects
        teams: dict[str, Team] = {}
        for demo in TEAMS:
            teams[demo.slug] = Team.objects.create(
                slug=demo.slug, name=demo.name, parent=teams[demo.parent] if demo.parent else None
            )
        for username, slugs in MANAGERS.items():
            user = users.create_user(username, f"{username}@example.com", DEMO_PASSWORD)
            for slug in slugs:
                Membership.objects.create(user=user, team=teams[slug], role="manager")
        for demo in TEAMS:
            for username in demo.members:
                user = users.create_user(username, f"{username}@example.com", DEMO_PASSWORD)
                Membership.objects.create(user=user, team=teams[demo.slug])
        return teams

    def _declare_profiles(self, survey: Survey, teams: dict[str, Team]) -> None:
        users = get_user_model().objects
        for demo in TEAMS:
            if demo.profile is None:
                continue
            manager = next(name for name, slugs in MANAGERS.items() if demo.slug in slugs)
            confirmer = users.get(username=manager) if demo.confirmed else None
            TeamProfile.objects.create(
                survey=survey,
                team=teams[demo.slug],
                declared_by=confirmer or users.get(username=demo.members[1]),
                confirmed_by=confirmer,
                confirmed_at=survey.opens_at + timedelta(days=1) if confirmer else None,
                **demo.profile,
            )

    def _answer(
        self,
        survey: Survey,
        team: Team,
        demo: DemoTeam,
        rng: random.Random,
        around: datetime,
        improvement: float,
        skip: frozenset[str] = frozenset(),
    ) -> None:
        users = get_user_model().objects
        asked = team_plan(survey, team).asked
        questions = list(
            Question.objects.filter(pk__in=asked)
            .select_related("dimension", "framework")
            .order_by("order")
        )
        # Teams differ practice by practice, not only by dimension: one draw per question,
        # shared by the team's respondents.
        practice = {question.pk: rng.gauss(0, 0.7) for question in questions}
        for username in demo.members:
            if username in skip:
                continue
            user = users.get(username=username)
            optimism = rng.uniform(-0.2, 0.2)  # some people rate higher than others
            answers = [
                _answer_one(question, demo, rng, improvement + optimism + practice[question.pk])
                for question in questions
            ]
            result = services.response_submit(
                survey=survey,
                team=team,
                respondent=user,
                respondent_key=services.respondent_key_for(user, survey),
                answers=answers,
            )
            submitted_at = around - timedelta(hours=rng.randint(0, 48))
            Response.objects.filter(pk=result.response.pk).update(
                submitted_at=submitted_at, started_at=submitted_at - timedelta(minutes=25)
            )

    def _upload_evidence(self) -> None:
        """Snapshot the demo repositories of two teams, as their CI would upload them, and
        collect and evaluate them here (the worker's steps)."""
        now = demo_now()
        for slug, (name, files) in demo_repositories.repositories(now).items():
            data = demo_repositories.archive(
                name, files, commit="9f2c4e1" + slug.encode().hex()[:33]
            )
            manifest = manifest_from_archive(io.BytesIO(data))
            snapshot = evidence_services.snapshot_store(
                team=Team.objects.get(slug=slug),
                manifest=manifest,
                kind=Snapshot.Kind.ARCHIVE,
                source=name,
                received_at=now - timedelta(days=2),
                defer=True,
            )
            evidence_services.snapshot_process(snapshot.pk)
            self.stdout.write(f"Evidence from {name} for {slug}: {manifest.n_files} files.")

    def _score(self, last_id: int, current_id: int) -> None:
        self._upload_evidence()
        for survey_id in (last_id, current_id):
            survey = Survey.objects.get(pk=survey_id)
            run = aggregate(survey=survey)
            self.stdout.write(f"Scored {run.teams_scored} teams of '{survey.title}'.")
            # What the worker's survey-wide run does after scoring (reports.tasks).
            question_health_refresh(survey=survey)
            if survey_id == last_id:
                self._track_actions(survey)
        self._run_campaign()

    def _run_campaign(self) -> None:
        """The admin's campaign: every team under ML Platform at level 3 or higher in
        monitoring by the end of next quarter (its progress from this quarter's scores)."""
        campaign = campaign_services.campaign_create(
            campaign_services.CampaignInput(
                title="Monitoring at level 3 across ML Platform",
                description="Every model in production is watched: drift, data quality, "
                "performance against the business metric.",
                parent=Team.objects.get(slug="ml-platform"),
                goal_kind="dimension",
                goal_key="monitoring-feedback",
                goal_minimum=3,
                due=timezone.localdate() + timedelta(days=120),
            ),
            by=get_user_model().objects.get(username="admin"),
        )
        counts = campaign_progress_refresh(campaign).counts
        self.stdout.write(
            f"Campaign '{campaign.title}': {counts.meeting} of {counts.total} teams meet it."
        )

    def _track_actions(self, last: Survey) -> None:
        """Recommendations took last quarter's first three roadmap steps as actions: the
        first done (this quarter's scoring checks it), the second in progress, the third
        overdue."""
        maria = get_user_model().objects.get(username="maria")
        team = Team.objects.get(slug="recsys")
        steps = TeamRecommendation.objects.filter(
            team_score__survey=last, team_score__team=team
        ).order_by("rank")[:3]
        today = timezone.localdate()
        plans = [("done", today - timedelta(days=20)), ("in_progress", today + timedelta(days=30))]
        plans.append(("open", today - timedelta(days=10)))
        for step, (status, due) in zip(steps, plans, strict=False):
            action = action_services.action_create(
                action_services.ActionInput(
                    team=team,
                    survey=last,
                    question_key=step.question.key,
                    owner=get_user_model().objects.get(username="alice"),
                    due=due,
                ),
                by=maria,
            )
            if status != "open":
                action_services.action_update(action, {"status": status}, by=maria)
        self.stdout.write(f"Tracked {len(steps)} actions of {team.name}.")

    def _print_credentials(self) -> None:
        self.stdout.write(
            "\nDemo accounts (password for all: "
            f"{DEMO_PASSWORD}):\n"
            "  admin  - administrator (/admin/)\n"
            "  maria  - manager of ML Platform and its five product teams\n"
            "  omar   - manager of Risk & Fraud and its five product teams\n"
            "  alice  - member of Recommendations (has not answered the open round yet)\n"
            "  erin   - member of Search Ranking (its profile awaits maria's confirmation)\n"
            "  yara   - member of Visual Search (no profile yet: asked to declare one)\n"
            "  pia    - member of ML Platform (answers the platform and org questions)\n"
            "  sofia  - member of Support Assistant (an LLM team: GenAI operations applies)\n"
            "  victor - member of Demand Forecasting (batch only: online questions out of scope)\n"
        )


def _answer_one(
    question: Question, demo: DemoTeam, rng: random.Random, shift: float
) -> services.AnswerInput:
    """Return one respondent's answer: mostly a level near the team's, sometimes "don't know"
    (more often where product teams cannot see the practice), rarely N/A with its reason."""
    dimension = question.dimension.key
    if rng.random() < (0.2 if dimension in OPAQUE_DIMENSIONS else 0.03):
        if question.framework.version >= 2:
            return services.AnswerInput(question=question, dont_know=True)
    if question.allow_na and rng.random() < 0.12:
        return services.AnswerInput(question=question, na=True, comment=NA_REASON)
    spread = 1.6 if question.key in READ_DIFFERENTLY else 0.3
    level = demo.base + demo.offsets.get(dimension, 0) + shift + rng.gauss(0, spread)
    score = max(0, min(question.max_score, round(level)))
    comment = rng.choice(COMMENTS) if rng.random() < 0.04 else ""
    return services.AnswerInput(question=question, score=score, comment=comment)


COMMENTS = [
    "We do this for the main model only; the older ones are still manual.",
    "Depends on who is on call, honestly.",
    "Planned for next quarter, ticket is in the backlog.",
    "The platform team provides this, we just use it.",
    "Not sure the whole team knows this exists.",
]

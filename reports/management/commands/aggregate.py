"""manage.py aggregate <survey id> [--team slug] [--sync]: score a survey's teams."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reports import services, tasks
from surveys.models import Survey


class Command(BaseCommand):
    help = "Score a survey's teams now (--sync) or through the Celery queue."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("survey", type=int, help="Survey id.")
        parser.add_argument("--team", help="Only this team (slug).")
        parser.add_argument(
            "--sync", action="store_true", help="Run in this process instead of queueing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        survey = Survey.objects.select_related("framework").filter(pk=options["survey"]).first()
        if survey is None:
            raise CommandError(f"No survey with id {options['survey']}.")
        team_ids = None
        if options["team"]:
            team = survey.teams.filter(slug=options["team"]).first()
            if team is None:
                raise CommandError(f"Team '{options['team']}' is not part of survey {survey.pk}.")
            team_ids = [team.pk]
        if options["sync"]:
            run = services.aggregate(survey=survey, team_ids=team_ids)
            self.stdout.write(
                self.style.SUCCESS(
                    f"Run {run.pk}: {run.status}, {run.teams_scored} team(s) scored "
                    f"(load {run.load_ms} ms, score {run.score_ms} ms, "
                    f"persist {run.persist_ms} ms)."
                )
            )
            return
        if team_ids:
            queued = tasks.enqueue_team_aggregation(survey.pk, team_ids[0], trigger="manual")
        else:
            queued = tasks.enqueue_survey_aggregation(survey.pk, trigger="manual")
        if queued is None:
            raise CommandError(
                "Not queued: a run is already pending for this team, or the broker is "
                "unreachable. Use --sync to run here."
            )
        self.stdout.write(f"Queued run {queued.pk}.")

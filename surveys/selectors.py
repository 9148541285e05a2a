"""Reads shared by the respondent pages and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Prefetch, Q

from maturity.models import Choice, Dimension, Framework, Question
from surveys.models import Membership, Response, Survey, Team


def progress_percent(answered: int, total: int) -> int:
    """Return the share answered as a whole percent, rounded down: 100% only when complete
    (249 of 250 is 99%, not the 100% rounding to nearest would claim)."""
    return 100 * answered // total if total else 0


@dataclass(frozen=True)
class SurveyEntry:
    """One (survey, team) a user may answer, with their progress."""

    survey: Survey
    team: Team
    role: str
    answered: int
    total: int
    draft: bool
    submitted_at: datetime | None

    @property
    def percent(self) -> int:
        return progress_percent(self.answered, self.total)

    @property
    def state(self) -> str:
        if self.submitted_at and self.draft:
            return "submitted, changes in progress"
        if self.submitted_at:
            return "submitted"
        return "in progress" if self.draft else "not started"


def framework_outline(framework: Framework) -> list[Dimension]:
    """Return the framework's dimensions with questions and choices prefetched, in order."""
    questions = Question.objects.order_by("order").prefetch_related(
        Prefetch("choices", queryset=Choice.objects.order_by("score"))
    )
    return list(
        framework.dimensions.order_by("order").prefetch_related(
            Prefetch("questions", queryset=questions)
        )
    )


def survey_entries_for(user: AbstractBaseUser) -> list[SurveyEntry]:
    """Return the non-draft surveys of the user's teams, open ones first."""
    from surveys.services import respondent_key_for

    memberships = {m.team_id: m.role for m in Membership.objects.filter(user=user)}
    surveys = (
        Survey.objects.exclude(status=Survey.Status.DRAFT)
        .filter(teams__in=memberships.keys())
        .distinct()
        .select_related("framework")
        .annotate(question_total=Count("framework__questions", distinct=True))
        .prefetch_related("teams")
    )
    entries = []
    for survey in surveys:
        key = respondent_key_for(user, survey)
        responses = {
            (r.team_id, r.status): r
            for r in Response.objects.filter(
                survey=survey, respondent_key=key, status__in=["draft", "submitted"]
            ).annotate(
                answered=Count(
                    "answers", filter=Q(answers__score__isnull=False) | Q(answers__na=True)
                )
            )
        }
        for team in survey.teams.all():
            if team.pk not in memberships:
                continue
            draft = responses.get((team.pk, "draft"))
            submitted = responses.get((team.pk, "submitted"))
            current = draft or submitted
            entries.append(
                SurveyEntry(
                    survey=survey,
                    team=team,
                    role=memberships[team.pk],
                    answered=current.answered if current else 0,
                    total=survey.question_total,
                    draft=draft is not None,
                    submitted_at=submitted.submitted_at if submitted else None,
                )
            )
    entries.sort(key=lambda e: (not e.survey.accepts_answers(), -e.survey.opens_at.timestamp()))
    return entries


def answers_by_question(response: Response) -> dict[int, object]:
    """Return the response's answers keyed by question id."""
    return {answer.question_id: answer for answer in response.answers.all()}


def answered_question_ids(response: Response) -> set[int]:
    return set(
        response.answers.filter(Q(score__isnull=False) | Q(na=True)).values_list(
            "question_id", flat=True
        )
    )

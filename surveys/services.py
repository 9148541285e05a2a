"""Writes and business rules for surveys, invitations and responses.

Services assume input that the edge (forms, serializers) already validated, and raise
SurveyError for rule violations: survey closed, not a member, incomplete submission.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict, TypeVar

import orjson
from auditlog.context import disable_auditlog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection, send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.crypto import salted_hmac

from accounts.zones import zone_of
from common import events
from common.db import insert_rows
from common.errors import ApplicationError
from common.times import when
from maturity.models import Choice, Question
from maturity.scope import TeamPlan
from maturity.selectors import answer_rules, question_matches
from surveys import selectors
from surveys.models import (
    Answer,
    DimensionTarget,
    Erasure,
    Invitation,
    Membership,
    Reminder,
    Response,
    ResultsNotice,
    Survey,
    Team,
    TeamProfile,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

T = TypeVar("T")
logger = logging.getLogger(__name__)


class SurveyError(ApplicationError):
    """A survey rule violation; ``code`` is stable for APIs (statuses below, else 400)."""

    STATUS: ClassVar[dict[str, int]] = {
        "closed": 409,
        "idempotency_key_in_use": 409,
        "idempotency_key_reused": 422,
        "permission_denied": 403,
        "too_soon": 429,
        "profile_confirmed": 409,
        "profile_differs": 409,
        "profile_exists": 409,
    }


@dataclass(frozen=True)
class AnswerInput:
    """One answer: a choice score, N/A or don't know (the edge checks it is one of them)."""

    question: Question
    score: int | None = None
    na: bool = False
    comment: str = ""
    dont_know: bool = False

    @property
    def given(self) -> bool:
        """Tell whether it answers its question: a choice, N/A or don't know."""
        return self.na or self.dont_know or self.score is not None


@dataclass(frozen=True)
class SubmitResult:
    response: Response
    replayed: bool = False
    superseded: int = 0  # earlier counted responses this one replaced


def respondent_key_for(user: User, survey: Survey) -> str:
    """Return the respondent key of a signed-in user in a survey.

    In anonymous surveys the key is a keyed hash, so it stays stable for resubmission but
    does not reveal who answered.
    """
    if survey.anonymous:
        digest = salted_hmac("surveys.respondent", f"{survey.pk}:{user.pk}").hexdigest()
        return f"h:{digest[:32]}"
    return f"u:{user.pk}"


def invitee_key_for(survey: Survey, team: Team, email: str) -> str:
    """Return what a personal invitation to ``email`` stores of the address: a keyed hash
    of (survey, team, address), the same for every invitation to that address."""
    address = email.strip().lower()
    return salted_hmac("surveys.invitee", f"{survey.pk}:{team.pk}:{address}").hexdigest()


def invitee_respondent_key(invitee_key: str) -> str:
    """Return the respondent key an invitation's invitee answers as (``l:...``).

    A keyed hash of the invitation's ``invitee_key``, so the key on the response is not the
    one on the invitation: neither in the admin nor in the data can an invitation (which
    an admin sent to a known address) be matched to a response.
    """
    return f"l:{salted_hmac('surveys.link-respondent', invitee_key).hexdigest()[:32]}"


def link_respondent_key(survey: Survey, team: Team, email: str) -> str:
    """Return the respondent key of the person invited at ``email`` (anonymous surveys).

    Every invitation to one address answers as this one key, so one address is one
    respondent however many links it is sent. It never is a user's own key: a link must
    not let its holder into an account's answers.
    """
    return invitee_respondent_key(invitee_key_for(survey, team, email))


# Respondent key prefixes of counted responses that came through invitation links (personal
# links now, shareable links before they were withdrawn for anonymous surveys).
LINK_KEY_PREFIXES = ("l:", "a:")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def score_after_commit(survey_id: int, team_id: int | None, trigger: str) -> None:
    """Have the survey's team (None: every team) scored once the transaction commits.

    The one place where surveys reach into reports (the layer above): scoring is the
    reports app's business, and every change of answers here ends with a request for it.
    """
    from reports.tasks import enqueue_survey_aggregation, enqueue_team_aggregation

    if team_id is None:
        transaction.on_commit(lambda: enqueue_survey_aggregation(survey_id, trigger))
    else:
        transaction.on_commit(lambda: enqueue_team_aggregation(survey_id, team_id, trigger))


# --- surveys -----------------------------------------------------------------------------


@transaction.atomic
def survey_problems(survey: Survey | None, changes: Mapping[str, Any]) -> dict[str, list[str]]:
    """Return what is wrong with creating a survey (``survey`` None) or changing ``survey``
    by ``changes`` (field name -> new value; ``teams`` a list of Team, ``framework`` a
    Framework), as ``{field: [messages]}``; empty when nothing is.

    The rules: a survey closes after it opens; archived teams join no survey (those already
    in it stay); once a survey has responses its framework and anonymity are fixed and the
    teams that answered stay in it. The API and the console both check these here.
    """
    errors: dict[str, list[str]] = {}
    opens_at = changes.get("opens_at", survey.opens_at if survey else None)
    closes_at = changes.get("closes_at", survey.closes_at if survey else None)
    if opens_at and closes_at and closes_at <= opens_at:
        errors["closes_at"] = ["Must be after opens_at (the closing time after the opening)."]
    already = set(survey.teams.values_list("pk", flat=True)) if survey else set()
    archived = sorted(
        team.slug
        for team in changes.get("teams", [])
        if team.archived_at is not None and team.pk not in already
    )
    if archived:
        errors["teams"] = [f"Archived teams cannot join a survey: {archived}."]
    if survey is not None and survey.responses.exists():
        if "framework" in changes and changes["framework"].pk != survey.framework_id:
            errors["framework"] = ["The survey has responses: its framework is fixed."]
        if "anonymous" in changes and changes["anonymous"] != survey.anonymous:
            errors["anonymous"] = ["The survey has responses: anonymity is fixed."]
        if "teams" in changes:
            kept = {team.pk for team in changes["teams"]}
            answered = set(survey.responses.values_list("team__slug", "team_id"))
            dropped = sorted(slug for slug, pk in answered if pk not in kept)
            if dropped:
                errors["teams"] = [f"Teams with responses cannot be removed: {dropped}."]
    return errors


@transaction.atomic
def survey_save(*, survey: Survey, changes: Mapping[str, Any]) -> Survey:
    """Create ``survey`` (no pk yet) or change it by ``changes`` (see survey_problems, which
    must find nothing: else SurveyError ``invalid``, the first problem, with ``extra``
    holding them all). Returns the survey, saved, with its teams set."""
    existing = Survey.objects.select_for_update().get(pk=survey.pk) if survey.pk else None
    problems = survey_problems(existing, changes)
    if problems:
        field, messages = next(iter(problems.items()))
        raise SurveyError(messages[0], code="invalid", field=field, details=problems)
    teams = changes.get("teams")
    for name, value in changes.items():
        if name != "teams":
            setattr(survey, name, value)
    survey.save()
    if teams is not None:
        survey.teams.set(teams)
    return survey


def survey_clone(*, survey: Survey) -> Survey:
    """Start the next round like ``survey``: a draft with its framework, teams (archived
    ones left out) and settings, opening now and lasting as long (when it had an end)."""
    now = timezone.now()
    duration = survey.closes_at - survey.opens_at if survey.closes_at else None
    try:
        closes_at = now + duration if duration else None
    except OverflowError:  # a round "lasting" millennia: the clone gets no end
        closes_at = None
    clone = Survey(
        title=f"{survey.title} (next round)"[:200],
        description=survey.description,
        framework=survey.framework,
        opens_at=now,
        closes_at=closes_at,
        anonymous=survey.anonymous,
        min_group_size=survey.min_group_size,
        members_see_results=survey.members_see_results,
        carry_forward=survey.carry_forward,
    )
    teams = list(survey.teams.filter(archived_at__isnull=True))
    return survey_save(survey=clone, changes={"teams": teams})


def survey_event_ref(survey: Survey) -> dict[str, Any]:
    """The round as ``survey.opened`` and ``survey.closed`` carry it (common.events): no
    person, times in ISO 8601 UTC."""

    def iso(moment: datetime | None) -> str | None:
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None

    return {
        "id": survey.pk,
        "title": survey.title,
        "anonymous": survey.anonymous,
        "opens_at": iso(survey.opens_at),
        "closes_at": iso(survey.closes_at),
    }


def survey_open(*, survey: Survey) -> Survey:
    """Open a draft (or reopen a closed) survey for answers; ``survey.opened`` is
    published (after commit) when it was not open already."""
    if not survey.teams.exists():
        raise SurveyError("A survey needs at least one team before it opens.", code="no_teams")
    was_open = survey.status == Survey.Status.OPEN
    survey.status = Survey.Status.OPEN
    survey.closed_at = None
    if survey.closes_at is not None and survey.closes_at <= timezone.now():
        survey.closes_at = None
    survey.save(update_fields=["status", "closes_at", "closed_at"])
    if not was_open:
        events.publish("survey.opened", {"survey": survey_event_ref(survey)})
    return survey


@transaction.atomic
def survey_extend(*, survey: Survey, closes_at: datetime) -> Survey:
    """Move the closing time of a draft or open round to ``closes_at`` (in the future);
    a closed round is reopened first (survey_open). Raises SurveyError ``invalid``."""
    locked = Survey.objects.select_for_update().get(pk=survey.pk)
    if closes_at <= timezone.now() or closes_at <= locked.opens_at:
        raise SurveyError(
            "The new closing time must be in the future and after the opening.",
            code="invalid",
            field="closes_at",
        )
    if locked.status == Survey.Status.CLOSED:
        survey_open(survey=locked)
    locked.closes_at = closes_at
    locked.save(update_fields=["closes_at"])
    survey.status, survey.closes_at, survey.closed_at = (
        locked.status,
        locked.closes_at,
        locked.closed_at,
    )
    return survey


@transaction.atomic
def survey_close(*, survey: Survey) -> Survey:
    """Close a survey and, once committed, score every team one final time (and publish
    ``survey.closed`` when it was not closed already).

    The survey's row is locked first. Every write of answers holds a share lock on it
    while it checks that the survey is open (``_lock_open``), so closing waits for the
    writes already under way, which commit before the close and are in the final scores;
    writes that come later see the survey closed and are refused (409 ``closed``).
    """
    locked = Survey.objects.select_for_update().get(pk=survey.pk)
    if locked.status != Survey.Status.CLOSED:
        locked.status = Survey.Status.CLOSED
        locked.closed_at = timezone.now()
        locked.save(update_fields=["status", "closed_at"])
        events.publish("survey.closed", {"survey": survey_event_ref(locked)})
    survey.status, survey.closed_at = locked.status, locked.closed_at
    score_after_commit(survey.pk, None, "survey closed")
    return survey


def require_open(survey: Survey) -> None:
    """Raise SurveyError unless ``survey`` (as read) takes answers now."""
    if survey.status == Survey.Status.DRAFT or survey.opens_at > timezone.now():
        raise SurveyError("This survey is not open yet.", code="survey_not_open")
    if not survey.accepts_answers():
        raise SurveyError("This survey is closed; answers can no longer change.", code="closed")


# The survey's state and whether a team takes part; on PostgreSQL under a share lock that
# conflicts with survey_close's FOR UPDATE but not with ordinary updates.
_LOCK_SURVEY_SQL = (
    "SELECT s.status, s.opens_at, s.closes_at,"  # noqa: S608 - table names, not input
    f" EXISTS (SELECT 1 FROM {Survey.teams.through._meta.db_table} st"
    "  WHERE st.survey_id = s.id AND st.team_id = %s)"
    f" FROM {Survey._meta.db_table} s WHERE s.id = %s"
)


def _lock_open(survey: Survey, team: Team | None = None) -> None:
    """Check, inside the caller's transaction, that the survey takes answers and, given
    ``team``, that the team takes part (one statement); hold the survey open.

    The survey's status is read again under a share lock (PostgreSQL) that survey_close's
    row lock waits for, so no answer commits after a close. SQLite serialises writing
    transactions, so there reading it again inside the transaction is enough.
    """
    sql = _LOCK_SURVEY_SQL + (" FOR KEY SHARE" if connection.vendor == "postgresql" else "")
    with connection.cursor() as cursor:
        cursor.execute(sql, [team.pk if team is not None else None, survey.pk])
        row = cursor.fetchone()
    if row is None:
        raise SurveyError("This survey no longer exists.", code="closed")
    # SQLite answers naive UTC datetimes to a raw statement (the ORM makes them aware).
    survey.status, survey.opens_at, survey.closes_at = (
        row[0],
        *(
            value if value is None or timezone.is_aware(value) else timezone.make_aware(value, UTC)
            for value in row[1:3]
        ),
    )
    require_open(survey)
    if team is not None and not row[3]:
        raise SurveyError(
            f"Team '{team.slug}' is not part of this survey.", code="team_not_in_survey"
        )


def _require_team(survey: Survey, team: Team) -> None:
    if not survey.teams.filter(pk=team.pk).exists():
        raise SurveyError(
            f"Team '{team.slug}' is not part of this survey.", code="team_not_in_survey"
        )


def user_can_answer(user: User, team: Team) -> bool:
    """Tell whether ``user`` answers for ``team``: any member (member or manager) does."""
    return Membership.objects.filter(user=user, team=team).exists()


# --- responses ---------------------------------------------------------------------------


def _lock_respondent(survey: Survey, team: Team, respondent_key: str) -> None:
    """Serialise one respondent's submissions until the transaction ends.

    Two racing submissions would otherwise both supersede the same earlier response and
    then collide on "one counted response". On PostgreSQL a transaction-scoped advisory
    lock makes the second wait and then see the first; SQLite serialises writers anyway.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"maturity:response:{survey.pk}:{team.pk}:{respondent_key}"],
        )


def _locked_draft(survey: Survey, team: Team, respondent_key: str) -> Response | None:
    return (
        Response.objects.select_for_update()
        .filter(survey=survey, team=team, respondent_key=respondent_key, status="draft")
        .first()
    )


@transaction.atomic
def response_start(
    *,
    survey: Survey,
    team: Team,
    respondent_key: str,
    respondent: User | None = None,
) -> Response:
    """Return the respondent's draft, creating it (from their last submission) if needed.

    Reopening after a submission starts a draft pre-filled with the submitted answers; the
    submission keeps counting until the draft is submitted.
    """
    _lock_open(survey, team)
    draft = _locked_draft(survey, team, respondent_key)
    if draft is not None:
        return draft
    return _retry_on_conflict(lambda: _create_draft(survey, team, respondent_key, respondent))


def _create_draft(
    survey: Survey, team: Team, respondent_key: str, respondent: User | None
) -> Response:
    with transaction.atomic():
        existing = _locked_draft(survey, team, respondent_key)
        if existing is not None:
            return existing
        draft = Response.objects.create(
            survey=survey, team=team, respondent=respondent, respondent_key=respondent_key
        )
        submitted = Response.objects.filter(
            survey=survey, team=team, respondent_key=respondent_key, status="submitted"
        ).first()
        if submitted is not None:
            draft.last_dimension = submitted.last_dimension
            draft.save(update_fields=["last_dimension"])
            Answer.objects.bulk_create(
                Answer(
                    response=draft,
                    question_id=answer.question_id,
                    score=answer.score,
                    na=answer.na,
                    dont_know=answer.dont_know,
                    comment=answer.comment,
                    carried=answer.carried,
                )
                for answer in submitted.answers.all()
            )
        elif survey.carry_forward:
            carry_forward(draft)
        return draft


def carry_forward(draft: Response) -> int:
    """Prefill a new draft of a named round from the respondent's last submitted response
    for the same team in an earlier round; return how many answers were carried.

    Questions are matched across framework versions by maturity.selectors.question_matches
    (renames through ``replaces``); a question that split or merged (several earlier
    questions) starts blank, and so does one whose earlier answer is not one of its choices
    now (a changed scale, N/A no longer allowed). Only questions the team is asked are
    prefilled. Each carried answer is ``carried`` and ``prefilled`` until the respondent
    confirms its page. Anonymous rounds carry nothing: their respondents are not linked
    across rounds.
    """
    survey, team = draft.survey, draft.team
    if survey.anonymous or not draft.respondent_key.startswith("u:"):
        return 0
    previous = (
        Response.objects.filter(
            team=team,
            respondent_key=draft.respondent_key,
            status=Response.Status.SUBMITTED,
            survey__opens_at__lt=survey.opens_at,
        )
        .exclude(survey=survey)
        .select_related("survey__framework")
        .order_by("-survey__opens_at")
        .first()
    )
    if previous is None:
        return 0
    matches = question_matches(survey.framework, previous.survey.framework)
    # An earlier question that several questions now take from was split: none inherits it.
    heirs: dict[str, int] = {}
    for keys in matches.values():
        for key in keys:
            heirs[key] = heirs.get(key, 0) + 1
    earlier = {
        answer.question.key: answer for answer in previous.answers.select_related("question")
    }
    asked = selectors.team_plan(survey, team).asked
    choices: dict[int, set[int]] = {}
    for question_id, score in Choice.objects.filter(
        question__framework=survey.framework
    ).values_list("question_id", "score"):
        choices.setdefault(question_id, set()).add(score)
    rows = []
    for question in survey.framework.questions.filter(pk__in=asked):
        keys = matches.get(question.key, ())
        answer = earlier.get(keys[0]) if len(keys) == 1 and heirs[keys[0]] == 1 else None
        if answer is None or not _still_valid(answer, question, choices.get(question.pk, set())):
            continue
        rows.append(
            Answer(
                response=draft,
                question=question,
                score=answer.score,
                na=answer.na,
                dont_know=answer.dont_know,
                comment=answer.comment,
                carried=True,
                prefilled=True,
            )
        )
    Answer.objects.bulk_create(rows)
    return len(rows)


def _still_valid(answer: Answer, question: Question, scores: set[int]) -> bool:
    if answer.na:
        return question.allow_na
    if answer.dont_know:
        return True
    return answer.score is not None and answer.score in scores


def unconfirmed_questions(response: Response, plan: TeamPlan | None = None) -> list[Question]:
    """The asked questions whose answer was carried forward and whose page the respondent
    has not confirmed yet (submission waits for them)."""
    if plan is None:
        plan = selectors.team_plan(response.survey, response.team)
    return list(
        Question.objects.filter(
            answers__response=response, answers__prefilled=True, pk__in=plan.asked
        ).order_by("order")
    )


def _retry_on_conflict(action: Callable[[], T], attempts: int = 5) -> T:
    """Run ``action`` in a savepoint, retrying when a concurrent writer won a unique race."""
    for attempt in range(attempts):
        try:
            with transaction.atomic():
                return action()
        except IntegrityError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


class AnswerValues(TypedDict):
    """One question's answer as a page posts it: a choice's ``score``, or ``na``, or
    ``dont_know``, and a ``comment``; all empty clears the answer."""

    score: int | None
    na: bool
    dont_know: bool
    comment: str


def stored_values(answer: Answer | None) -> AnswerValues:
    """Return a stored answer (or no answer) in the shape pages post."""
    if answer is None:
        return {"score": None, "na": False, "dont_know": False, "comment": ""}
    return {
        "score": answer.score,
        "na": answer.na,
        "dont_know": answer.dont_know,
        "comment": answer.comment,
    }


@dataclass(frozen=True)
class SavedAnswers:
    """What answers_save left: the draft, and the ids of the questions it answers (a
    choice, N/A or don't know) once committed."""

    response: Response
    answered: set[int]


def answers_save(
    *,
    survey: Survey,
    team: Team,
    respondent_key: str,
    respondent: User | None,
    answers: Sequence[tuple[Question, AnswerValues]],
    dimension_key: str = "",
    confirm: bool = False,
) -> SavedAnswers:
    """Save a page's (or an autosave's) answers into the respondent's draft, all or none.

    The draft is created as by :func:`response_start` when there is none. Only answers that
    differ from the stored ones are written (one upsert for those with a value, one delete
    for those sent empty), so an unchanged answer keeps its ``updated_at``; the draft
    remembers ``dimension_key`` as where to resume. About eight statements whatever the
    number of answers (issue 17: an autosave took 24, and under load every statement waits
    its turn at the database).

    At most one of ``score``, ``na`` and ``dont_know`` per answer (the edge checks it; the
    database refuses the rest). An answer written is no longer carried forward nor
    prefilled; ``confirm`` (a page saved with its button, not an autosave) also confirms
    the page's carried answers left as they were. Raises SurveyError: survey not open or
    closed meanwhile, team not in the survey, a question of another framework, N/A where
    not allowed.
    """
    for question, values in answers:
        if question.framework_id != survey.framework_id:
            raise SurveyError("That question is not part of this survey.", code="unknown_question")
        if values["na"] and not question.allow_na:
            raise SurveyError(f"'{question.key}' cannot be answered N/A.", code="na_not_allowed")
    with transaction.atomic():
        _lock_open(survey, team)
        draft = _locked_draft(survey, team, respondent_key) or _retry_on_conflict(
            lambda: _create_draft(survey, team, respondent_key, respondent)
        )
        stored = {answer.question_id: answer for answer in draft.answers.all()}
        changed = [
            (question, values)
            for question, values in answers
            if values != stored_values(stored.get(question.pk))
        ]
        _write_answers(draft, changed)
        if confirm:
            page = [question.pk for question, _ in answers]
            draft.answers.filter(question_id__in=page, prefilled=True).update(prefilled=False)
        draft.last_dimension = dimension_key or draft.last_dimension
        draft.save(update_fields=["updated_at", "last_dimension"])
    answered = {pk for pk, answer in stored.items() if _holds_answer(stored_values(answer))}
    for question, values in changed:
        if _holds_answer(values):
            answered.add(question.pk)
        else:
            answered.discard(question.pk)
    return SavedAnswers(draft, answered)


def _holds_answer(values: AnswerValues) -> bool:
    """Tell whether ``values`` answer the question (a choice, N/A or don't know), as
    :func:`surveys.selectors.answered` does in SQL."""
    return values["score"] is not None or values["na"] or values["dont_know"]


def _write_answers(draft: Response, changed: list[tuple[Question, AnswerValues]]) -> None:
    """Upsert the answers in ``changed`` that hold something; delete those sent empty."""
    cleared = [
        question.pk
        for question, values in changed
        if not _holds_answer(values) and not values["comment"]
    ]
    if cleared:
        Answer.objects.filter(response=draft, question_id__in=cleared).delete()
    rows = [
        Answer(
            response=draft,
            question=question,
            score=None if values["na"] or values["dont_know"] else values["score"],
            na=values["na"],
            dont_know=values["dont_know"],
            comment=values["comment"],
        )
        for question, values in changed
        if question.pk not in cleared
    ]
    if rows:
        Answer.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["response", "question"],
            # Written by the respondent: no longer the carried answer, nor to confirm.
            update_fields=[
                "score",
                "na",
                "dont_know",
                "comment",
                "updated_at",
                "carried",
                "prefilled",
            ],
        )


def answer_save(
    *,
    response: Response,
    question: Question,
    score: int | None = None,
    na: bool = False,
    comment: str = "",
    dont_know: bool = False,
    dimension_key: str = "",
) -> None:
    """Save (autosave) one answer of a draft, through :func:`answers_save`; an empty answer
    removes the stored one. Raises SurveyError, also when ``response`` is no draft any more.
    """
    if response.status != Response.Status.DRAFT:
        raise SurveyError("Only a draft can be edited.", code="not_draft")
    with transaction.atomic():  # undone if the draft was submitted meanwhile
        saved = answers_save(
            survey=response.survey,
            team=response.team,
            respondent_key=response.respondent_key,
            respondent=response.respondent,
            answers=[
                (question, {"score": score, "na": na, "dont_know": dont_know, "comment": comment})
            ],
            dimension_key=dimension_key,
        )
        if saved.response.pk != response.pk:
            raise SurveyError("Only a draft can be edited.", code="not_draft")


def response_resume_at(*, response: Response, dimension_key: str) -> None:
    """Remember the dimension the respondent is on, so they resume there on any device."""
    if response.last_dimension != dimension_key:
        Response.objects.filter(pk=response.pk).update(last_dimension=dimension_key)
        response.last_dimension = dimension_key


def missing_questions(response: Response, plan: TeamPlan | None = None) -> list[Question]:
    """Return the questions the response's team is asked (``plan``, by default the team's
    :func:`surveys.selectors.team_plan`) still without a choice, N/A or don't know."""
    if plan is None:
        plan = selectors.team_plan(response.survey, response.team)
    answered = response.answers.filter(selectors.answered()).values("question_id")
    return list(
        Question.objects.filter(framework_id=response.survey.framework_id, pk__in=plan.asked)
        .exclude(pk__in=answered)
        .select_related("dimension")
        .order_by("order")
    )


def na_without_reason(response: Response, plan: TeamPlan | None = None) -> list[Question]:
    """Return the asked questions the response answers N/A without a reason (a comment),
    which a submission refuses."""
    if plan is None:
        plan = selectors.team_plan(response.survey, response.team)
    return list(
        Question.objects.filter(
            pk__in=response.answers.filter(na=True, comment="").values("question_id")
        )
        .filter(pk__in=plan.asked)
        .select_related("dimension")
        .order_by("order")
    )


def response_submit(
    *,
    survey: Survey,
    team: Team,
    respondent_key: str,
    respondent: User | None = None,
    answers: Sequence[AnswerInput] | None = None,
    idempotency_key: str | None = None,
    idempotency_fingerprint: str = "",
    plan: TeamPlan | None = None,
) -> SubmitResult:
    """Submit the respondent's draft, or ``answers`` given whole (API); return the response.

    Complete means every question the team is asked (``plan``, by default the team's
    :func:`surveys.selectors.team_plan`) has a choice, N/A or don't know, and every N/A of a
    draft a reason (answers given whole were checked at the edge).

    The new submission replaces the respondent's earlier one atomically (it is marked
    ``superseded``). A repeated ``idempotency_key`` with the same ``idempotency_fingerprint``
    (a hash of the request) returns the first result and writes nothing, also under
    concurrency: the key's unique constraint refuses the second write, which is then
    answered with the first (see also response_replay, for callers that answer replays
    before checking anything). The same key with another fingerprint raises
    SurveyError(code="idempotency_key_reused"). Raises SurveyError(code="incomplete")
    listing missing question keys, SurveyError(code="closed") when the survey closed
    before this committed. Scores are recomputed after commit.
    """
    attempts = 5
    for attempt in range(attempts):
        try:
            result = None
            # First in one statement, without the respondent's lock; after a conflict
            # (the same respondent submitting concurrently), in turn under the lock.
            idempotency = (idempotency_key or None, idempotency_fingerprint)
            if attempt == 0 and answers is not None and connection.vendor == "postgresql":
                result = _submit_whole(
                    survey, team, respondent_key, respondent, answers, idempotency, plan
                )
            if result is None:
                result = _submit_once(
                    survey, team, respondent_key, respondent, answers, idempotency, plan
                )
        except IntegrityError:
            # A concurrent submission with the same key, or by the same respondent, won.
            if idempotency_key:
                earlier = response_replay(survey, idempotency_key, idempotency_fingerprint)
                if earlier is not None:
                    return SubmitResult(earlier, replayed=True)
            if attempt == attempts - 1:
                raise
            continue
        return result
    raise AssertionError("unreachable")


def submission_respondent(
    *,
    survey: Survey,
    team: Team,
    requester: User,
    on_behalf: str | None = None,
) -> tuple[User | None, str]:
    """Return who a submission counts for: (user to record or None, respondent key).

    - Without ``on_behalf``: the requester, who must be a member of ``team`` (else
      SurveyError "permission_denied", 403). In anonymous surveys no user is recorded,
      only the keyed hash (respondent_key_for).
    - With ``on_behalf`` (admins only, else a 400 on the ``respondent`` field): a username
      in named surveys (an unknown one is a 400), or an opaque external id in anonymous
      surveys, kept only as a keyed hash (``x:...``).

    ``team.requester_is_member``, when a read already set it, spares a query.
    """
    if on_behalf:
        if not requester.is_staff:
            raise SurveyError(
                "Only admins may submit on behalf of others.",
                code="on_behalf_admin_only",
                field="respondent",
            )
        if survey.anonymous:
            digest = salted_hmac("surveys.external", f"{survey.pk}:{on_behalf}").hexdigest()
            return None, f"x:{digest[:32]}"
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.filter(username=on_behalf).first()
        if user is None:
            raise SurveyError(
                f"No user '{on_behalf}'.", code="unknown_respondent", field="respondent"
            )
        return user, respondent_key_for(user, survey)
    is_member = getattr(team, "requester_is_member", None)
    if is_member is None:
        is_member = user_can_answer(requester, team)
    if not is_member:
        raise SurveyError(f"You are not a member of team '{team.slug}'.", code="permission_denied")
    return (None if survey.anonymous else requester), respondent_key_for(requester, survey)


def _replay_for(requester: User, survey: Survey, earlier: Response) -> SubmitResult:
    """Return an earlier submission as this request's result, to its submitter or an admin.

    Anyone else reusing the key is refused (409 "idempotency_key_in_use"): a key must not
    reveal someone else's response.
    """
    if requester.is_staff or earlier.respondent_key == respondent_key_for(requester, survey):
        return SubmitResult(earlier, replayed=True)
    raise SurveyError(
        "This Idempotency-Key was already used for another submission; use a new key.",
        code="idempotency_key_in_use",
    )


def response_submit_as(
    *,
    survey: Survey,
    team: Team,
    requester: User,
    answers: Sequence[AnswerInput],
    on_behalf: str | None = None,
    idempotency_key: str | None = None,
    idempotency_fingerprint: str = "",
    plan: TeamPlan | None = None,
) -> SubmitResult:
    """Submit answers given whole for ``requester`` (or on behalf of someone; see
    submission_respondent): the API's submission, rules included.

    A key seen before answers with its first result (to the same submitter or an admin;
    else 409 "idempotency_key_in_use"), or 422 "idempotency_key_reused" when it came with
    another request; see response_submit for the rest.
    """
    if idempotency_key:
        earlier = Response.objects.filter(survey=survey, idempotency_key=idempotency_key).first()
        if earlier is not None:
            # Someone else's key is a 409 whatever the body; then the body must match.
            result = _replay_for(requester, survey, earlier)
            response_replay(survey, idempotency_key, idempotency_fingerprint)
            return result
    respondent, respondent_key = submission_respondent(
        survey=survey, team=team, requester=requester, on_behalf=on_behalf
    )
    result = response_submit(
        survey=survey,
        team=team,
        respondent=respondent,
        respondent_key=respondent_key,
        answers=answers,
        idempotency_key=idempotency_key,
        idempotency_fingerprint=idempotency_fingerprint,
        plan=plan,
    )
    if result.replayed:  # a concurrent request with the key stored it first
        return _replay_for(requester, survey, result.response)
    return result


def response_replay(
    survey: Survey, idempotency_key: str, idempotency_fingerprint: str = ""
) -> Response | None:
    """Return the response submitted first with ``idempotency_key`` in ``survey``, if any.

    Raises SurveyError(code="idempotency_key_reused") when that response came with another
    request (its stored fingerprint differs from ``idempotency_fingerprint``): a client
    reusing a key for a different submission must not be told it succeeded. Responses
    stored before fingerprints were recorded have none and replay as before.
    """
    earlier = Response.objects.filter(survey=survey, idempotency_key=idempotency_key).first()
    if (
        earlier is not None
        and earlier.idempotency_fingerprint
        and idempotency_fingerprint
        and earlier.idempotency_fingerprint != idempotency_fingerprint
    ):
        raise SurveyError(
            "This Idempotency-Key was used with a different request; use a new key for a "
            "new submission.",
            code="idempotency_key_reused",
        )
    return earlier


def _unanswered(
    survey: Survey, team: Team, answers: Sequence[AnswerInput], plan: TeamPlan | None
) -> list[Question]:
    """Return the questions the team is asked (``plan``; by default its team_plan) that
    answers given whole (API) leave without a choice, N/A or don't know."""
    if plan is None:
        plan = selectors.team_plan(survey, team)
    answered = {answer.question.pk for answer in answers if answer.given}
    return [
        question
        for question in answer_rules(survey.framework).missing(answered)
        if question.pk in plan.asked
    ]


# Answers given whole, as one statement: the open check, the team check, superseding the
# counted response, inserting the new one and its answers. Nothing is written when the
# survey does not take answers, the team is not the survey's or the respondent has a draft
# (which _submit_once submits instead). The open check locks the survey's row FOR KEY
# SHARE, which survey_close's FOR UPDATE waits for; a statement that waits for a close
# re-reads the row and sees it closed. Superseding is finished before the insert reads its
# count, so "one counted response" holds; a racing submission by the same respondent fails
# that constraint and is retried.
_SUBMIT_WHOLE_SQL = f"""
WITH open AS (
    SELECT 1 FROM {Survey._meta.db_table}
    WHERE id = %(survey)s AND status = 'open' AND opens_at <= %(now)s
      AND (closes_at IS NULL OR closes_at > %(now)s)
    FOR KEY SHARE
), team AS (
    SELECT EXISTS (
        SELECT 1 FROM {Survey.teams.through._meta.db_table}
        WHERE survey_id = %(survey)s AND team_id = %(team)s
    ) AS ok
), draft AS (
    SELECT id FROM {Response._meta.db_table}
    WHERE survey_id = %(survey)s AND team_id = %(team)s AND respondent_key = %(key)s
      AND status = 'draft'
    FOR UPDATE
), go AS (
    SELECT ok AND NOT EXISTS (SELECT 1 FROM draft) AND EXISTS (SELECT 1 FROM open) AS ok
    FROM team
), superseded AS (
    UPDATE {Response._meta.db_table} SET status = 'superseded', updated_at = %(now)s
    WHERE survey_id = %(survey)s AND team_id = %(team)s AND respondent_key = %(key)s
      AND status = 'submitted' AND (SELECT ok FROM go)
    RETURNING id
), response AS (
    INSERT INTO {Response._meta.db_table} (
        survey_id, team_id, respondent_id, respondent_key, status, started_at, updated_at,
        submitted_at, idempotency_key, idempotency_fingerprint, last_dimension,
        withdrawn_reason
    )
    SELECT %(survey)s, %(team)s, %(respondent)s, %(key)s, 'submitted', %(now)s, %(now)s,
        %(now)s, %(idempotency_key)s, %(fingerprint)s, '', ''
    FROM (SELECT count(*) FROM superseded) AS after_superseding
    WHERE (SELECT ok FROM go)
    RETURNING id
), answers AS (
    INSERT INTO {Answer._meta.db_table} (
        response_id, question_id, score, na, dont_know, comment, updated_at
    )
    SELECT response.id, a.question_id, a.score, a.na, a.dont_know, a.comment, %(now)s
    FROM response, json_to_recordset(%(answers)s::json)
        AS a (question_id bigint, score smallint, na boolean, dont_know boolean, comment text)
)
SELECT (SELECT ok FROM team), EXISTS (SELECT 1 FROM draft), (SELECT count(*) FROM superseded),
    (SELECT id FROM response), EXISTS (SELECT 1 FROM open)
"""  # noqa: S608 - our table names


def _submit_whole(
    survey: Survey,
    team: Team,
    respondent_key: str,
    respondent: User | None,
    answers: Sequence[AnswerInput],
    idempotency: tuple[str | None, str],
    plan: TeamPlan | None = None,
) -> SubmitResult | None:
    """Submit answers given whole in one statement (PostgreSQL); None to use _submit_once.

    _submit_once (ORM statements in a transaction) takes the uncommon cases: incomplete
    answers (it words the error), a closed survey (likewise), or a draft to submit. On its
    own the statement commits at once: one round trip instead of nine from BEGIN to COMMIT.
    Inside a caller's transaction it runs in a savepoint, as _submit_once does.
    ``idempotency`` is (key or None, fingerprint).
    """
    require_open(survey)
    if _unanswered(survey, team, answers, plan):
        return None
    now = timezone.now()
    idempotency_key, fingerprint = idempotency
    params: dict[str, int | str | datetime | None] = {
        "survey": survey.pk,
        "team": team.pk,
        "key": respondent_key,
        "respondent": respondent.pk if respondent is not None else None,
        "now": now,
        "idempotency_key": idempotency_key,
        "fingerprint": fingerprint,
        # One JSON text, not four arrays: psycopg quotes one string instead of 200 values.
        "answers": orjson.dumps(
            [
                {
                    "question_id": answer.question.pk,
                    "score": None if answer.na or answer.dont_know else answer.score,
                    "na": answer.na,
                    "dont_know": answer.dont_know,
                    "comment": answer.comment,
                }
                for answer in answers
            ]
        ).decode(),
    }
    in_transaction = transaction.atomic() if connection.in_atomic_block else nullcontext()
    with in_transaction, connection.cursor() as cursor:
        cursor.execute(_SUBMIT_WHOLE_SQL, params)
        in_survey, has_draft, superseded, response_id, is_open = cursor.fetchone()
    if not in_survey or has_draft or not is_open:
        return None  # nothing was written; _submit_once raises or submits the draft
    response = Response(
        pk=response_id,
        survey=survey,
        team=team,
        respondent=respondent,
        respondent_key=respondent_key,
        status=Response.Status.SUBMITTED,
        started_at=now,
        updated_at=now,
        submitted_at=now,
        idempotency_key=idempotency_key,
        idempotency_fingerprint=fingerprint,
    )
    response._state.adding = False
    response._state.db = connection.alias
    response.answer_count = len(answers)
    score_after_commit(survey.pk, team.pk, "submission")
    return SubmitResult(response, replayed=False, superseded=superseded)


@transaction.atomic
def _submit_once(
    survey: Survey,
    team: Team,
    respondent_key: str,
    respondent: User | None,
    answers: Sequence[AnswerInput] | None,
    idempotency: tuple[str | None, str],
    plan: TeamPlan | None = None,
) -> SubmitResult:
    _lock_open(survey, team)
    _lock_respondent(survey, team, respondent_key)
    draft = _locked_draft(survey, team, respondent_key)
    if plan is None:
        plan = selectors.team_plan(survey, team)
    if answers is not None:
        missing = _unanswered(survey, team, answers, plan)
    elif draft is None:
        raise SurveyError("There is no draft to submit.", code="no_draft")
    else:
        missing = missing_questions(draft, plan)
    if missing:
        keys = [question.key for question in missing]
        raise SurveyError(
            f"{len(missing)} question(s) still need an answer, N/A or don't know.",
            code="incomplete",
            extra={"missing": keys},
            details=keys,
        )
    unconfirmed = unconfirmed_questions(draft, plan) if answers is None and draft else []
    if unconfirmed:
        keys = [question.key for question in unconfirmed]
        raise SurveyError(
            f"{len(unconfirmed)} {'answer' if len(unconfirmed) == 1 else 'answers'} carried "
            "from your last round not confirmed yet: open their pages, check them and save.",
            code="unconfirmed",
            extra={"questions": keys},
            details=keys,
        )
    unexplained = na_without_reason(draft, plan) if answers is None and draft is not None else []
    if unexplained:
        keys = [question.key for question in unexplained]
        raise SurveyError(
            f"{len(unexplained)} N/A answer(s) need a reason in the comment.",
            code="na_reason_required",
            extra={"questions": keys},
            details=keys,
        )
    now = timezone.now()
    # Supersede the counted response first: one counted response per respondent.
    superseded = Response.objects.filter(
        survey=survey, team=team, respondent_key=respondent_key, status=Response.Status.SUBMITTED
    ).update(status=Response.Status.SUPERSEDED, updated_at=now)
    submitted = {
        "status": Response.Status.SUBMITTED,
        "submitted_at": now,
        "idempotency_key": idempotency[0],
        "idempotency_fingerprint": idempotency[1],
    }
    if draft is None:
        # API submissions without a draft insert the counted response directly.
        response = Response.objects.create(
            survey=survey,
            team=team,
            respondent=respondent,
            respondent_key=respondent_key,
            **submitted,
        )
    else:
        response = draft
        for field, value in submitted.items():
            setattr(response, field, value)
        if respondent is not None and response.respondent_id is None:
            response.respondent = respondent
        response.save(update_fields=[*submitted, "respondent"])
        if answers is not None:
            response.answers.all().delete()
    if answers is not None:
        insert_rows(
            Answer,
            ["response_id", "question_id", "score", "na", "dont_know", "comment", "updated_at"],
            (
                (
                    response.pk,
                    answer.question.pk,
                    None if answer.na or answer.dont_know else answer.score,
                    answer.na,
                    answer.dont_know,
                    answer.comment,
                    now,
                )
                for answer in answers
            ),
        )
        response.answer_count = len(answers)

    score_after_commit(survey.pk, team.pk, "submission")
    return SubmitResult(response, replayed=False, superseded=superseded)


# --- invitations ---------------------------------------------------------------------------


def user_can_invite(user: User, survey: Survey, team: Team) -> bool:
    """Tell whether ``user`` may invite people to answer for ``team`` in ``survey``.

    Admins always. A team's managers only in named surveys: in an anonymous survey anyone
    who reads a team's report and could create respondents for it could pad the team past
    ``min_group_size`` with answers of their own and subtract them from the result.
    """
    if user.is_staff:
        return True
    if survey.anonymous:
        return False
    return Membership.objects.filter(user=user, team=team, role=Membership.Role.MANAGER).exists()


@transaction.atomic
def invitation_create(
    *,
    survey: Survey,
    team: Team,
    created_by: User | None,
    expires_at: datetime | None = None,
    max_uses: int | None = None,
    invitee_email: str = "",
) -> tuple[Invitation, str]:
    """Create an invitation; return it with its secret token (shown or sent only once).

    Named surveys: a shareable link (optional expiry and use limit) that joins whoever
    signs in with it to the team. Anonymous surveys: only a personal, single-use link for
    ``invitee_email``, created by an admin (``created_by`` staff, or None for the system);
    it answers as the address's respondent key (``link_respondent_key``), so one address
    is one respondent however many links it gets. Raises SurveyError otherwise.
    """
    _require_team(survey, team)
    if expires_at is not None and expires_at <= timezone.now():
        raise SurveyError("The expiry must be in the future.", code="expired")
    invitee_key = ""
    if survey.anonymous:
        if created_by is not None and not created_by.is_staff:
            raise SurveyError(
                "In anonymous surveys only an administrator can invite people.",
                code="anonymous_invitations_admin_only",
            )
        if not invitee_email:
            raise SurveyError(
                "Anonymous surveys have no shareable links: invite each person by e-mail, "
                "so that every respondent is one person.",
                code="anonymous_invitations_personal_only",
            )
        invitee_key, max_uses = invitee_key_for(survey, team, invitee_email), 1
    token = secrets.token_urlsafe(24)
    invitation = Invitation.objects.create(
        survey=survey,
        team=team,
        token_hash=hash_token(token),
        created_by=created_by,
        expires_at=expires_at,
        max_uses=max_uses,
        invitee_key=invitee_key,
    )
    return invitation, token


def invitation_lookup(token: str) -> Invitation:
    """Return the usable invitation for a token, or raise SurveyError saying why not.

    An anonymous survey's invitation without an invitee (a shareable link made before they
    were withdrawn) no longer works: its uses could not be told apart as people.
    """
    invitation = (
        Invitation.objects.select_related("survey", "team").filter(token_hash=hash_token(token))
    ).first()
    if invitation is None or invitation.revoked:
        raise SurveyError("This invitation link is not valid.", code="invalid_invitation")
    if invitation.survey.anonymous and not invitation.invitee_key:
        raise SurveyError(
            "This invitation link is no longer valid: anonymous surveys are answered by the "
            "team's members signed in, or through a personal invitation from an administrator.",
            code="invalid_invitation",
        )
    if invitation.expires_at is not None and invitation.expires_at <= timezone.now():
        raise SurveyError("This invitation link has expired.", code="invitation_expired")
    if invitation.max_uses is not None and invitation.uses >= invitation.max_uses:
        # The invitation comes along: its invitee, returning with their cookie, may go on.
        raise SurveyError(
            "This invitation link has been used up.",
            code="invitation_used_up",
            details=invitation,
        )
    return invitation


def invitation_revoke(*, survey: Survey, team: Team, invitation_id: int) -> bool:
    """Make an invitation link of the survey's team stop working; tell whether one did."""
    return bool(
        Invitation.objects.filter(survey=survey, team=team, pk=invitation_id).update(revoked=True)
    )


@transaction.atomic
def invitation_accept(*, token: str, user: User | None = None) -> Invitation:
    """Use an invitation once: count the use and, in a named survey, join the user as member.

    Named surveys need a signed-in user; in anonymous surveys the caller keeps the
    invitee's respondent key (invitee_respondent_key) in a signed cookie, and nothing about
    the person is stored.
    """
    invitation = invitation_lookup(token)
    require_open(invitation.survey)
    if not invitation.survey.anonymous:
        if user is None:
            raise SurveyError("Log in to accept this invitation.", code="login_required")
        Membership.objects.get_or_create(user=user, team=invitation.team)
    counted = Invitation.objects.filter(pk=invitation.pk).filter(
        Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses"))
    )
    if counted.update(uses=F("uses") + 1) != 1:
        raise SurveyError("This invitation link has been used up.", code="invitation_used_up")
    invitation.refresh_from_db()
    return invitation


# --- targets ---------------------------------------------------------------------------


@transaction.atomic
def target_set(
    *, team: Team, dimension_key: str, target_level: int | None, set_by: User
) -> DimensionTarget | None:
    """Set (or, with None, clear) a team's target level for a dimension, then re-rank.

    The roadmap of every survey the team takes is re-scored after commit, since targets
    change recommendation priorities (see maturity.scoring._target_factors).
    """
    if target_level is None:
        DimensionTarget.objects.filter(team=team, dimension_key=dimension_key).delete()
        target = None
    else:
        target, _ = DimensionTarget.objects.update_or_create(
            team=team,
            dimension_key=dimension_key,
            defaults={"target_level": target_level, "set_by": set_by},
        )
    survey_ids = list(team.surveys.exclude(status=Survey.Status.DRAFT).values_list("id", flat=True))
    for survey_id in survey_ids:
        score_after_commit(survey_id, team.pk, "target")
    return target


# --- team profiles ---------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileInput:
    """A team profile as the edge checked it (values of maturity.schema.TeamProfile)."""

    serving: list[str]
    model_kinds: list[str]
    gpu: bool = False
    regulated: bool = False


def user_manages_team(user: User, team: Team) -> bool:
    """Tell whether ``user`` manages ``team``: an admin, or a manager of it or of a team
    above it (as reports count it, see selectors.managed_team_ids)."""
    managed = selectors.managed_team_ids(user)
    return managed is None or team.pk in managed


def user_can_read_profile(user: User, team: Team) -> bool:
    """Tell whether ``user`` may read ``team``'s profile: its members and its managers."""
    return user_manages_team(user, team) or user_can_answer(user, team)


def _profile_writable(survey: Survey, team: Team) -> None:
    _require_team(survey, team)
    if survey.status == Survey.Status.CLOSED:
        raise SurveyError(
            "This survey is closed; its team profiles can no longer change.", code="closed"
        )


def _profile_values(values: ProfileInput) -> dict[str, object]:
    return {
        "serving": list(values.serving),
        "model_kinds": list(values.model_kinds),
        "gpu": values.gpu,
        "regulated": values.regulated,
    }


@transaction.atomic
def profile_set(*, survey: Survey, team: Team, values: ProfileInput, set_by: User) -> TeamProfile:
    """Set a team's profile for a round as its manager (or an admin): it is confirmed.

    Editing a respondent's proposal confirms it too. Raises SurveyError: "permission_denied"
    (403) for anyone else, "closed" (409) once the survey closed. The team is re-scored after
    commit, since the profile decides which of its answers count; answers to questions that
    fall out of scope stay stored and stop counting.
    """
    if not user_manages_team(set_by, team):
        raise SurveyError(
            f"Only a manager of {team.name} or an admin may change its profile.",
            code="permission_denied",
        )
    _profile_writable(survey, team)
    confirmed = {**_profile_values(values), "confirmed_by": set_by, "confirmed_at": timezone.now()}
    # get_or_create: of two first writes at once, the second finds the first's row.
    profile, created = TeamProfile.objects.get_or_create(
        survey=survey, team=team, defaults={"declared_by": set_by, **confirmed}
    )
    if not created:
        profile = TeamProfile.objects.select_for_update().get(pk=profile.pk)
        for field, value in confirmed.items():
            setattr(profile, field, value)
        profile.save()
    score_after_commit(survey.pk, team.pk, "profile")
    return profile


@transaction.atomic
def profile_propose(
    *, survey: Survey, team: Team, values: ProfileInput, declared_by: User | None
) -> TeamProfile:
    """Declare the profile of a team that has none, as its first respondent: a proposal
    (``confirmed_at`` null) that applies at once, until a manager edits or confirms it.

    ``declared_by`` is None in anonymous surveys. Raises SurveyError "profile_exists" (409)
    when the team has a profile already (someone declared it first), "closed" when the
    survey takes no answers.
    """
    _lock_open(survey, team)
    try:
        with transaction.atomic():
            profile = TeamProfile.objects.create(
                survey=survey, team=team, declared_by=declared_by, **_profile_values(values)
            )
    except IntegrityError:
        raise SurveyError(
            f"{team.name} already has a profile for this survey.", code="profile_exists"
        ) from None
    score_after_commit(survey.pk, team.pk, "profile")
    return profile


def same_profile(one: ProfileInput, other: ProfileInput) -> bool:
    """Tell whether two profiles declare the same (the lists' order does not matter)."""
    return (
        set(one.serving) == set(other.serving)
        and set(one.model_kinds) == set(other.model_kinds)
        and (one.gpu, one.regulated) == (other.gpu, other.regulated)
    )


@transaction.atomic
def profile_confirm(
    *, survey: Survey, team: Team, confirmed_by: User, seen: ProfileInput | None = None
) -> TeamProfile:
    """Confirm a proposed profile unchanged, as a manager of the team (or an admin).

    ``seen`` is the profile as the manager confirms it (the page's form): when it differs
    from the stored proposal nothing is written and SurveyError "profile_differs" (409) is
    raised, since confirming must never silently drop the manager's edits. A profile that
    is confirmed already stays as it is (its confirmed_at too): SurveyError
    "profile_confirmed" (409). Raises "no_profile" when the team has none.
    """
    profile = TeamProfile.objects.select_for_update().filter(survey=survey, team=team).first()
    if profile is None:
        raise SurveyError(f"{team.name} has no profile to confirm.", code="no_profile")
    values = ProfileInput(profile.serving, profile.model_kinds, profile.gpu, profile.regulated)
    if profile.confirmed_at is not None:
        raise SurveyError(
            f"The team profile of {team.name} is already confirmed.", code="profile_confirmed"
        )
    if seen is not None and not same_profile(seen, values):
        raise SurveyError(
            "Your changes were not saved: use Save and confirm to apply them.",
            code="profile_differs",
        )
    return profile_set(survey=survey, team=team, values=values, set_by=confirmed_by)


# --- e-mail: invitations, reminders, closing on time --------------------------------------


def invitation_email(
    *,
    survey: Survey,
    team: Team,
    emails: Sequence[str],
    invited_by: User,
    link_for: Callable[[str], str],
) -> int:
    """E-mail each address its own single-use invitation link; return how many were sent.

    ``link_for`` turns a token into an absolute URL (the view knows the host). Raises
    SurveyError when ``invited_by`` may not invite for this team (see user_can_invite).
    In anonymous surveys each link is personal: it answers as the address's respondent.
    """
    if not user_can_invite(invited_by, survey, team):
        raise SurveyError(
            "In anonymous surveys only an administrator can invite people.",
            code="anonymous_invitations_admin_only",
        )
    if survey.anonymous:
        member_addresses = {
            address.lower()
            for address in Membership.objects.filter(team=team).values_list(
                "user__email", flat=True
            )
        }
        members = [address for address in emails if address.lower() in member_addresses]
        if members:
            raise SurveyError(
                f"{', '.join(members)}: members of {team.name} answer signed in; "
                "personal links are for people without an account in the team.",
                code="invitee_is_member",
                field="emails",
            )
    sent = 0
    for email in emails:
        _, token = invitation_create(
            survey=survey,
            team=team,
            created_by=invited_by,
            max_uses=1,
            expires_at=survey.closes_at,
            invitee_email=email if survey.anonymous else "",
        )
        # The reader's zone when the address is a known account's, else the deployment's.
        reader = get_user_model().objects.filter(email__iexact=email, is_active=True).first()
        zone = zone_of(reader) if reader is not None else None
        sent += send_mail(
            subject=f"Please take part in “{survey.title}” for {team.name}",
            message=render_to_string(
                "surveys/email/invitation.txt",
                {
                    "survey": survey,
                    "team": team,
                    "link": link_for(token),
                    "inviter": invited_by,
                    "zone": zone,
                },
            ),
            from_email=None,
            recipient_list=[email],
        )
    return sent


def reminders_send(*, now: datetime | None = None) -> int:
    """Remind members who have not submitted, N days before their survey closes.

    N is REMINDER_DAYS_BEFORE_CLOSE. Each person gets at most one automatic reminder per
    survey, recorded in Reminder; people without an e-mail address are skipped.
    """
    now = now or timezone.now()
    window_end = now + timedelta(days=settings.REMINDER_DAYS_BEFORE_CLOSE)
    surveys = Survey.objects.filter(
        status=Survey.Status.OPEN, opens_at__lte=now, closes_at__gt=now, closes_at__lte=window_end
    )
    return sum(_remind(survey, now=now) for survey in surveys)


def reminders_send_now(*, survey: Survey, sent_by: User, now: datetime | None = None) -> int:
    """A lead's "send a reminder now": e-mail every member of the round's teams who has not
    submitted (active accounts with an address). Returns how many e-mails are on their way.

    Raises SurveyError ``closed`` unless the round takes answers, and ``too_soon`` when a
    lead sent one for this survey less than REMINDER_MANUAL_INTERVAL_HOURS ago (people are
    not to be flooded). The reminders are recorded (Reminder, kind manual, ``sent_by``) in
    one transaction with that check, and the e-mails go after it commits, from a worker
    (surveys.tasks.send_manual_reminders): a slow mail server never holds the page, and a
    failure after the commit can leave a recorded reminder unsent but never sends one twice.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = Survey.objects.select_for_update().get(pk=survey.pk)
        if not locked.accepts_answers(now):
            raise SurveyError("The round takes no answers now.", code="closed")
        interval = timedelta(hours=settings.REMINDER_MANUAL_INTERVAL_HOURS)
        last = (
            locked.reminders.filter(kind=Reminder.Kind.MANUAL)
            .order_by("-sent_at")
            .values_list("sent_at", flat=True)
            .first()
        )
        if last is not None and now - last < interval:
            raise SurveyError(
                f"A reminder was sent {when(last)}; the next may go {when(last + interval)}.",
                code="too_soon",
            )
        due = _not_submitted(locked)
        people = {m.user_id: m.user for m in due}
        Reminder.objects.bulk_create(
            Reminder(
                survey=locked, user=user, kind=Reminder.Kind.MANUAL, sent_at=now, sent_by=sent_by
            )
            for user in people.values()
        )
        pairs = [(m.user_id, m.team_id) for m in due]
        transaction.on_commit(lambda: _send_later(locked.pk, pairs))
    return len(people)


def _send_later(survey_id: int, pairs: list[tuple[int, int]]) -> None:
    from surveys.tasks import send_manual_reminders  # the tasks module imports this one

    send_manual_reminders.delay(survey_id, [list(pair) for pair in pairs])  # JSON: lists


def reminders_deliver(*, survey: Survey, pairs: Sequence[tuple[int, int]]) -> int:
    """Send the reminder e-mails of (user id, team id) ``pairs`` over one connection to the
    mail server; people deactivated meanwhile are skipped. Returns how many were sent."""
    wanted = set(pairs)
    memberships = (
        Membership.objects.filter(
            user_id__in={user_id for user_id, _ in wanted},
            team_id__in={team_id for _, team_id in wanted},
            user__is_active=True,
        )
        .exclude(user__email="")
        .select_related("user", "team")
    )
    teams_of: dict[int, list[Membership]] = {}  # one e-mail per person, naming their teams
    for membership in memberships:
        if (membership.user_id, membership.team_id) in wanted:
            teams_of.setdefault(membership.user_id, []).append(membership)
    messages = [_reminder_message(survey, rows[0], rows) for rows in teams_of.values()]
    if not messages:
        return 0
    with get_connection() as connection:
        return connection.send_messages(messages) or 0


def _not_submitted(survey: Survey) -> list[Membership]:
    """The memberships of the round's teams whose person (active, with an address) has not
    submitted."""
    submitted = set(
        survey.responses.filter(status="submitted").values_list("respondent_key", flat=True)
    )
    memberships = (
        Membership.objects.filter(team__in=survey.teams.all(), user__is_active=True)
        .exclude(user__email="")
        .select_related("user", "team")
    )
    return [m for m in memberships if respondent_key_for(m.user, survey) not in submitted]


def _remind(survey: Survey, *, now: datetime) -> int:
    """Beat's automatic reminders: e-mail each member of ``survey`` who has not submitted,
    once per person and survey."""
    already = set(
        survey.reminders.filter(kind=Reminder.Kind.AUTOMATIC).values_list("user_id", flat=True)
    )
    sent = 0
    for membership in _not_submitted(survey):
        user = membership.user
        if user.pk in already:
            continue
        with transaction.atomic():
            _, created = Reminder.objects.get_or_create(
                survey=survey, user=user, kind=Reminder.Kind.AUTOMATIC, defaults={"sent_at": now}
            )
            if not created:
                continue
            _reminder_message(survey, membership).send()
        already.add(user.pk)
        sent += 1
    return sent


def _reminder_message(
    survey: Survey, membership: Membership, memberships: Sequence[Membership] = ()
) -> EmailMessage:
    """The reminder to ``membership``'s person; ``memberships``: all their teams to name."""
    user = membership.user
    teams = [m.team for m in memberships] or [membership.team]
    zone = zone_of(user)  # the recipient's, not the sender's
    closes = f"closes {when(survey.closes_at, zone)}" if survey.closes_at else "is open"
    body = render_to_string(
        "surveys/email/reminder.txt",
        {
            "survey": survey,
            "team": membership.team,
            "user": user,
            "site_url": settings.SITE_URL,
            "path": f"/surveys/{survey.pk}/{membership.team.slug}/",
            "teams": teams,
            "zone": zone,
        },
    )
    return EmailMessage(subject=f"Reminder: “{survey.title}” {closes}", body=body, to=[user.email])


def results_notify(*, survey: Survey, team_ids: Iterable[int]) -> int:
    """E-mail each person who may read the results of ``team_ids`` (the round's teams whose
    scores are shown: the caller knows what is withheld) that they are ready: once per
    person and round (ResultsNotice), one e-mail naming their teams. Returns how many.

    Named rounds: the team's respondents who submitted and its managers (members only when
    the round lets members read results). Anonymous rounds: every member who may read them
    (who answered is not known, nor to be guessed from who is told).
    """
    shown = set(team_ids)
    memberships = (
        Membership.objects.filter(team_id__in=shown, user__is_active=True)
        .exclude(user__email="")
        .select_related("user", "team")
        .order_by("user_id", "team__name")
    )
    submitted = set(
        survey.responses.filter(status="submitted").values_list("respondent_key", flat=True)
    )
    already = set(survey.results_notices.values_list("user_id", flat=True))
    teams_of: dict[int, list[Membership]] = {}
    for membership in memberships:
        manager = membership.role == Membership.Role.MANAGER
        if not (manager or survey.members_see_results) or membership.user_id in already:
            continue
        if not (
            manager or survey.anonymous or respondent_key_for(membership.user, survey) in submitted
        ):
            continue
        teams_of.setdefault(membership.user_id, []).append(membership)
    messages = []
    for rows in teams_of.values():
        user = rows[0].user
        # Recorded first: the unique row makes "once" hold against a concurrent run.
        _, created = ResultsNotice.objects.get_or_create(survey=survey, user=user)
        if created:
            context = {
                "survey": survey,
                "user": user,
                "teams": [m.team for m in rows],
                "site_url": settings.SITE_URL,
            }
            body = render_to_string("surveys/email/results_ready.txt", context)
            subject = f"Results of “{survey.title}” are ready"
            messages.append(EmailMessage(subject=subject, body=body, to=[user.email]))
    if not messages:
        return 0
    with get_connection() as connection:  # one connection to the mail server for them all
        return connection.send_messages(messages) or 0


def surveys_close_due(*, now: datetime | None = None) -> list[int]:
    """Close every open survey whose closes_at has passed (final scoring follows)."""
    now = now or timezone.now()
    closed = []
    for survey in Survey.objects.filter(status=Survey.Status.OPEN, closes_at__lte=now):
        survey_close(survey=survey)
        closed.append(survey.pk)
    return closed


# --- history: withdrawal, archiving, erasure ------------------------------------------------


@transaction.atomic
def response_withdraw(*, response: Response, withdrawn_by: User | None, reason: str) -> Response:
    """Withdraw a counted response: it stops counting, stays stored, and the team is re-scored.

    Only a submitted (counted) response can be withdrawn; ``reason`` is required. Who,
    when and why are kept on the response and in the audit log. A closed round's scores
    change too: withdrawal is how an admin corrects history deliberately, never a delete.
    Raises SurveyError(code="not_counted") for any other response.
    """
    reason = reason.strip()
    if not reason:
        raise SurveyError("Give a reason for the withdrawal.", code="reason_required")
    locked = Response.objects.select_for_update().get(pk=response.pk)
    if locked.status != Response.Status.SUBMITTED:
        raise SurveyError(
            f"Only a counted response can be withdrawn; this one is {locked.status}.",
            code="not_counted",
        )
    locked.status = Response.Status.WITHDRAWN
    locked.withdrawn_at = timezone.now()
    locked.withdrawn_by = withdrawn_by
    locked.withdrawn_reason = reason
    locked.save(
        update_fields=["status", "withdrawn_at", "withdrawn_by", "withdrawn_reason", "updated_at"]
    )
    score_after_commit(locked.survey_id, locked.team_id, "withdrawal")
    return locked


def parent_problem(team: Team | None, parent: Team | None) -> str | None:
    """Say why ``parent`` cannot be the parent of ``team`` (None: it can): a team cannot
    be its own ancestor, and an archived team takes no new children."""
    if parent is None:
        return None
    ancestor: Team | None = parent
    seen: set[int] = set()
    while team is not None and ancestor is not None and ancestor.pk not in seen:
        if ancestor.pk == team.pk:
            return "A team cannot be its own ancestor."
        seen.add(ancestor.pk)
        ancestor = ancestor.parent
    if parent.archived_at is not None and (team is None or team.parent_id != parent.pk):
        return f'The team "{parent.name}" is archived: it takes no new teams.'
    return None


@transaction.atomic
def team_save(
    *, team: Team, name: str, parent: Team | None, members_track_actions: bool | None = None
) -> Team:
    """Rename ``team`` and/or move it under ``parent`` (None: a top-level team), and set
    whether its members track actions (None: unchanged); a new team (no pk) is created.
    Raises SurveyError (field "parent") for a move that parent_problem refuses. The
    parent chain is locked, so two concurrent moves cannot make a loop."""
    if parent is not None:
        list(Team.objects.select_for_update().filter(pk__in=_chain(parent)))
    problem = parent_problem(team if team.pk else None, parent)
    if problem:
        raise SurveyError(problem, code="invalid_parent", field="parent")
    team.name = name
    team.parent = parent
    if members_track_actions is not None:
        team.members_track_actions = members_track_actions
    team.save()
    return team


def _chain(team: Team) -> list[int]:
    """The pks of ``team`` and its ancestors."""
    chain: list[int] = []
    current: Team | None = team
    while current is not None and current.pk not in chain:
        chain.append(current.pk)
        current = current.parent
    return chain


@transaction.atomic
def team_unarchive(*, team: Team) -> Team:
    """Undo team_archive: the team may join new surveys again."""
    if team.archived_at is not None:
        team.archived_at = None
        team.save(update_fields=["archived_at", "updated_at"])
    return team


_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")


def group_teams(mapping: str) -> dict[str, list[tuple[str, str]]]:
    """Parse OIDC_GROUP_TEAMS: ``"group=team-slug:role, ..."`` -> {group: [(slug, role)]}.

    A group may appear several times (one group, several teams); a group name may itself
    hold "=" (the last one separates it from the team). The role is member or manager
    (member when left out). Raises ValueError naming the first pair it cannot read.
    """
    parsed: dict[str, list[tuple[str, str]]] = {}
    for pair in (part.strip() for part in mapping.split(",")):
        if not pair:
            continue
        group, _, target = pair.rpartition("=")
        slug, _, role = target.partition(":")
        slug, role = slug.strip(), role.strip() or Membership.Role.MEMBER
        if not group.strip() or not _SLUG.match(slug) or role not in Membership.Role.values:
            raise ValueError(f'OIDC_GROUP_TEAMS: cannot read "{pair}" (group=team-slug:role).')
        parsed.setdefault(group.strip(), []).append((slug, role))
    return parsed


@transaction.atomic
def sso_memberships_sync(*, user: User, groups: Sequence[str]) -> None:
    """Make ``user``'s single sign-on memberships those their ``groups`` map to
    (OIDC_GROUP_TEAMS): missing ones are created (source sso), roles follow the mapping,
    and sso memberships whose group is gone are removed. Memberships added any other way
    are never changed. An archived team takes no new member but keeps the ones it has; a
    group mapped to a team that does not exist is logged and skipped."""
    mapping = group_teams(settings.OIDC_GROUP_TEAMS)
    wanted: dict[str, str] = {}  # team slug -> role (manager wins over member)
    for group in groups:
        for slug, role in mapping.get(group, []):
            if wanted.get(slug) != Membership.Role.MANAGER:
                wanted[slug] = role
    teams = {t.slug: t for t in Team.objects.filter(slug__in=wanted)}
    for slug in sorted(set(wanted) - set(teams)):
        logger.warning("OIDC_GROUP_TEAMS maps to %r, which is no team", slug)
    current = {m.team_id: m for m in Membership.objects.select_for_update().filter(user=user)}
    for slug, team in teams.items():
        membership = current.get(team.pk)
        if membership is None and team.archived_at is None:
            Membership.objects.create(
                user=user, team=team, role=wanted[slug], source=Membership.Source.SSO
            )
        elif membership is not None and membership.source == Membership.Source.SSO:
            membership_role_set(membership=membership, role=wanted[slug])
    keep = {team.pk for team in teams.values()}
    for team_id, membership in current.items():
        if membership.source == Membership.Source.SSO and team_id not in keep:
            membership.delete()


def sso_signed_in(sender: object, *, user: User, claims: Mapping[str, Any], **kwargs: Any) -> None:
    """Receiver of accounts.oidc.signed_in_with_sso: sync the groups claim's memberships.
    A claim that is not a list of names counts as no groups (logged)."""
    groups = claims.get(settings.OIDC_GROUPS_CLAIM, [])
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        logger.warning("the %s claim is not a list of names", settings.OIDC_GROUPS_CLAIM)
        groups = []
    try:
        sso_memberships_sync(user=user, groups=groups)
    except ValueError as error:  # a mapping manage.py check would have refused
        logger.error("single sign-on groups not applied: %s", error)


@transaction.atomic
def membership_role_set(*, membership: Membership, role: str) -> bool:
    """Give ``membership`` the ``role`` (member or manager; the caller checked it); return
    whether it changed. Saved on its own, so the audit log records it."""
    if membership.role == role:
        return False
    membership.role = role
    membership.save(update_fields=["role"])
    return True


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    """Remove a person from a team. Their responses stay (they are the round's history);
    they no longer answer for the team nor read its reports."""
    membership.delete()


@transaction.atomic
def team_archive(*, team: Team) -> Team:
    """Archive a team: it keeps its history (responses, scores, reports) and joins no new
    survey. A team that took part in a round is never deleted (the database refuses)."""
    if team.archived_at is None:
        team.archived_at = timezone.now()
        team.save(update_fields=["archived_at", "updated_at"])
    return team


def _forget_in_audit_log(user: User) -> None:
    """Remove the person from the audit log: the entries about their memberships (which
    name them and their user id) keep their action and time but lose every detail, and
    entries they made lose their actor and address."""
    from auditlog.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    memberships = [
        str(pk) for pk in Membership.objects.filter(user=user).values_list("pk", flat=True)
    ]
    membership_entries = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Membership)
    ).filter(Q(object_pk__in=memberships) | Q(object_repr__startswith=f"{user.get_username()} in "))
    membership_entries.update(
        object_repr="an erased person's membership",
        changes=None,
        changes_text="",
        serialized_data=None,
        additional_data=None,
    )
    LogEntry.objects.filter(actor=user).update(actor=None, actor_email="", remote_addr=None)
    user_type = ContentType.objects.get_for_model(type(user))
    LogEntry.objects.filter(content_type=user_type, object_pk=str(user.pk)).update(
        object_repr="an erased person",
        changes=None,
        changes_text="",
        serialized_data=None,
        additional_data=None,
    )


@dataclass(frozen=True)
class ErasureResult:
    erasure: Erasure
    rescored: set[tuple[int, int]]


@transaction.atomic
def person_erase(
    *, user: User, performed_by: str, withdraw: bool = False, reason: str = ""
) -> ErasureResult:
    """Erase a person (GDPR art. 17): remove every link between them and their answers.

    - Their responses (named and anonymous surveys, every status) get a fresh random
      respondent key (``e:...``) each and no user, so no answer or comment can be traced to
      them or joined with their other answers; the answers and comments stay.
    - Their drafts (never counted) are deleted.
    - Their account is deleted, with its memberships, tokens and reminders (the reports
      app's ``person_erase`` first removes their name from export audits).
    - The numbers stay as published unless ``withdraw``: then their counted responses are
      withdrawn (reason recorded) and their teams re-scored.

    Records an Erasure row (who ran it, counts; not the person). ``performed_by`` names the
    admin or ``cli:<os user>``.
    """
    anonymous_keys = [
        respondent_key_for(user, survey) for survey in Survey.objects.filter(anonymous=True)
    ]
    mine = Response.objects.select_for_update().filter(
        Q(respondent=user) | Q(respondent_key=f"u:{user.pk}") | Q(respondent_key__in=anonymous_keys)
    )
    drafts = list(mine.filter(status=Response.Status.DRAFT).values_list("pk", flat=True))
    Answer.objects.filter(response_id__in=drafts).delete()
    Response.objects.filter(pk__in=drafts).delete()
    rescored: set[tuple[int, int]] = set()
    withdrawn = unlinked = 0
    # The day, not the moment: responses withdrawn at one instant would be linkable.
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    for response in mine.exclude(pk__in=drafts):
        # QuerySet.update: updated_at keeps its value, so no shared time links the
        # person's responses either.
        changes: dict[str, object] = {
            "respondent": None,
            "respondent_key": f"e:{secrets.token_urlsafe(18)}",
        }
        if withdraw and response.status == Response.Status.SUBMITTED:
            changes.update(
                status=Response.Status.WITHDRAWN,
                withdrawn_at=today,
                withdrawn_reason=reason or "erasure of the respondent's personal data",
            )
            rescored.add((response.survey_id, response.team_id))
            withdrawn += 1
        Response.objects.filter(pk=response.pk).update(**changes)
        unlinked += 1
    Response.objects.filter(withdrawn_by=user).update(withdrawn_by=None)
    _forget_in_audit_log(user)
    with disable_auditlog():  # the cascade would log the person's memberships once more
        user.delete()
    erasure = Erasure.objects.create(
        performed_by=performed_by,
        responses_unlinked=unlinked,
        responses_withdrawn=withdrawn,
        drafts_deleted=len(drafts),
        reason=reason,
    )
    for survey_id, team_id in sorted(rescored):
        score_after_commit(survey_id, team_id, "erasure")
    return ErasureResult(erasure, rescored)

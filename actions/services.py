"""Creating and changing improvement actions: one implementation for the team report's
forms, the API and the issue-tracker sync (trackers).

Every change is saved through ``Action.save``, so the audit log (django-auditlog) records
who changed what; ``action.created`` is published once the creating transaction commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from actions import selectors
from actions.models import Action
from actions.signals import action_done
from common import events
from common.errors import ApplicationError
from maturity.models import Question
from surveys.models import Membership, Survey, Team

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class ActionError(ApplicationError):
    """A broken rule about actions; ``field`` names the input at fault."""

    STATUS: ClassVar[dict[str, int]] = {"forbidden": 403}


# The fields a change may touch (PATCH, the team report's edit form, the tracker sync).
CHANGEABLE = ("title", "owner", "due", "status", "wont_do_reason", "notes", "external_url")

# How far ahead a due date may be: a date a year 9999 typo would make is refused.
MAX_DUE_YEARS = 10


@dataclass(frozen=True)
class ActionInput:
    """A new action as the edge read it: the round (a survey the team takes part in), the
    question's key in that round's framework, and the rest optional."""

    team: Team
    survey: Survey
    question_key: str
    owner: User | None = None
    due: date | None = None
    title: str = ""
    notes: str = ""
    external_url: str = ""


def _check_owner(team: Team, owner: User | None) -> None:
    if owner is not None and not Membership.objects.filter(team=team, user=owner).exists():
        raise ActionError(
            f"{owner.get_username()} is not a member of {team.name}.",
            code="owner_not_member",
            field="owner",
        )


def _check_due(due: date | None, *, today: date) -> None:
    if due is not None and due.year > today.year + MAX_DUE_YEARS:
        raise ActionError(
            f"A due date more than {MAX_DUE_YEARS} years ahead is not accepted.",
            code="due_too_far",
            field="due",
        )


def _check_url(url: str) -> None:
    if not url:
        return
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ActionError(
            "Enter an http(s) address.", code="invalid_url", field="external_url"
        ) from None


def _question_of(survey: Survey, key: str) -> Question:
    question = Question.objects.filter(framework=survey.framework_id, key=key).first()
    if question is None:
        raise ActionError(
            f"The round's framework has no question {key!r}.",
            code="unknown_question",
            field="question",
        )
    return question


@transaction.atomic
def action_create(data: ActionInput, *, by: User) -> Action:
    """Create an action from ``data`` for ``by`` (who must be allowed:
    selectors.can_track_actions) and publish ``action.created`` after commit.

    The title defaults to the question's text. Raises ActionError (403 ``forbidden``; 400
    with a field for a round the team does not take part in or a draft, an unknown
    question, an owner who is not a team member, a bad due date or link).
    """
    if not selectors.can_track_actions(by, data.team):
        raise ActionError("You may not track actions for this team.", code="forbidden")
    if (
        data.survey.status == Survey.Status.DRAFT
        or not data.survey.teams.filter(pk=data.team.pk).exists()
    ):
        raise ActionError(
            f"{data.team.name} does not take part in that round.",
            code="not_in_round",
            field="survey",
        )
    if data.team.archived_at is not None:
        raise ActionError(
            f"{data.team.name} is archived: it takes no new actions.",
            code="team_archived",
            field="team",
        )
    question = _question_of(data.survey, data.question_key)
    _check_owner(data.team, data.owner)
    _check_due(data.due, today=timezone.localdate())
    _check_url(data.external_url)
    action = Action(
        team=data.team,
        survey=data.survey,
        question=question,
        title=(data.title.strip() or question.text)[:200],
        owner=data.owner,
        due=data.due,
        notes=data.notes,
        external_url=data.external_url,
        created_by=by,
    )
    action.full_clean(exclude=["team", "survey", "question", "owner", "created_by"])
    action.save()
    events.publish("action.created", {"action": selectors.event_ref(action)})
    return action


def _apply_status(action: Action, status: str, reason: str) -> None:
    if status not in Action.Status.values:
        raise ActionError(
            f"Status must be one of {', '.join(Action.Status.values)}.",
            code="invalid_status",
            field="status",
        )
    if status == Action.Status.WONT_DO and not reason.strip():
        raise ActionError(
            "Say why the team won't do it.", code="reason_required", field="wont_do_reason"
        )
    if status != action.status:
        action.done_at = timezone.now() if status == Action.Status.DONE else None
        if status == Action.Status.DONE:
            action_id = action.pk
            transaction.on_commit(lambda: action_done.send(sender=Action, action_id=action_id))
        if status != Action.Status.DONE:
            # A reopened action is checked again by the next round that scores it.
            action.verification = Action.Verification.PENDING
            action.verified_survey = None
            action.verified_score = None
    action.status = status
    action.wont_do_reason = reason if status == Action.Status.WONT_DO else ""


@transaction.atomic
def action_update(action: Action, changes: dict[str, Any], *, by: User | None) -> Action:
    """Apply ``changes`` (keys of CHANGEABLE) to ``action`` and save it (audited).

    ``by`` None is the issue-tracker sync (trackers), which may only change the status;
    a person must be allowed (selectors.can_change_action: those who track the team's
    actions, and the action's owner, who may not give it to someone else). Raises
    ActionError as action_create does, and for a key not in CHANGEABLE.
    """
    unknown = sorted(set(changes) - set(CHANGEABLE))
    if unknown:
        raise ActionError(
            f"These fields cannot be changed: {', '.join(unknown)}.", code="not_changeable"
        )
    if by is not None and not selectors.can_change_action(by, action):
        raise ActionError("You may not change this action.", code="forbidden")
    if by is None and set(changes) - {"status", "wont_do_reason"}:
        raise ActionError("The tracker sync changes only the status.", code="not_changeable")
    action = Action.objects.select_for_update().get(pk=action.pk)
    if "owner" in changes and changes["owner"] != action.owner:
        if by is not None and not selectors.can_track_actions(by, action.team):
            # The owner changes the rest of their action; assigning it is for those who
            # track the team's actions (the team report offers them alone the field).
            raise ActionError(
                "Only those who track the team's actions may change its owner.",
                code="forbidden",
                field="owner",
            )
        _check_owner(action.team, changes["owner"])
        action.owner = changes["owner"]
    if "due" in changes and changes["due"] != action.due:
        # Only a new due date makes the action due for ``action.overdue`` again: the
        # report's form sends the unchanged date with every change.
        _check_due(changes["due"], today=timezone.localdate())
        action.due = changes["due"]
        action.overdue_notified_at = None
    if "external_url" in changes:
        _check_url(changes["external_url"])
        action.external_url = changes["external_url"]
    if "title" in changes:
        title = str(changes["title"]).strip()
        if not title:
            raise ActionError("The title cannot be empty.", code="blank", field="title")
        action.title = title[:200]
    if "notes" in changes:
        action.notes = changes["notes"]
    if "status" in changes or "wont_do_reason" in changes:
        _apply_status(
            action,
            changes.get("status", action.status),
            changes.get("wont_do_reason", action.wont_do_reason),
        )
    action.save()
    return action


def actions_overdue_notify(*, today: date | None = None) -> int:
    """Publish ``action.overdue`` once for each open or in-progress action past its due
    date (beat, hourly; a new due date makes it due again). Returns how many."""
    today = today or timezone.localdate()
    count = 0
    overdue = Action.objects.filter(
        status__in=[Action.Status.OPEN, Action.Status.IN_PROGRESS],
        due__lt=today,
        overdue_notified_at__isnull=True,
    ).select_related("team", "question", "owner")
    for action in overdue.iterator(chunk_size=500):
        with transaction.atomic():
            claimed = Action.objects.filter(pk=action.pk, overdue_notified_at__isnull=True).update(
                overdue_notified_at=timezone.now()
            )
            if claimed:
                events.publish("action.overdue", {"action": selectors.event_ref(action)})
                count += 1
    return count

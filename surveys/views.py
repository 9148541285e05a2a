"""Respondent pages: my surveys, the survey one dimension per page, review, submit.

Every page works without JavaScript (plain form POSTs); with JavaScript
(static/js/autosave.js) each change is kept in the browser and autosaved through
``survey_autosave``, which answers JSON only (the contract is in the README, "Taking a
survey").
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ParamSpec, Protocol

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.forms import SignUpForm
from accounts.views import signed_up
from common.http import AuthenticatedHttpRequest
from common.times import when
from maturity.models import Dimension, Question
from maturity.scope import TeamPlan
from maturity.selectors import answer_rules, question_rules
from surveys import selectors, services
from surveys.forms import (
    MODEL_KIND_LABELS,
    SERVING_LABELS,
    EmailInvitationForm,
    InvitationForm,
    TeamProfileForm,
)
from surveys.models import Answer, Invitation, Membership, Response, Survey, Team, TeamProfile
from surveys.services import AnswerValues
from surveys.validation import answer_problems, scope_problem, unknown_question_problem

if TYPE_CHECKING:
    from django.contrib.auth.models import User

P = ParamSpec("P")

RESPONDENT_COOKIE_SALT = "surveys.anonymous-respondent"
RESPONDENT_COOKIE_AGE = 60 * 60 * 24 * 120


def respondent_cookie_name(survey: Survey, team: Team) -> str:
    return f"mm_respondent_{survey.pk}_{team.pk}"


@dataclass(frozen=True)
class Respondent:
    user: User | None
    key: str


def _resolve(request: HttpRequest, survey_id: int, team_slug: str) -> tuple[Survey, Team]:
    survey = get_object_or_404(
        Survey.objects.select_related("framework").exclude(status=Survey.Status.DRAFT),
        pk=survey_id,
    )
    team = get_object_or_404(survey.teams.all(), slug=team_slug)
    return survey, team


def _respondent(request: HttpRequest, survey: Survey, team: Team) -> Respondent:
    """Return who answers: a member of the team, or an anonymous invitee; else 404.

    404 rather than 403 so that URL guessing does not reveal which surveys exist.
    """
    user = request.user
    if user.is_authenticated and services.user_can_answer(user, team):
        return Respondent(
            None if survey.anonymous else user, services.respondent_key_for(user, survey)
        )
    if survey.anonymous:
        key = request.get_signed_cookie(
            respondent_cookie_name(survey, team), default=None, salt=RESPONDENT_COOKIE_SALT
        )
        if key:
            return Respondent(None, key)
    raise Http404("No such survey for you.")


def _signed_in_or_invitee(request: HttpRequest, survey_id: int) -> bool:
    return request.user.is_authenticated or any(
        name.startswith(f"mm_respondent_{survey_id}_") for name in request.COOKIES
    )


class SurveyPageView(Protocol[P]):
    """A survey page's view: Django passes ``survey_id`` and ``team_slug`` (and any other
    URL parts) by name."""

    __name__: str

    def __call__(
        self,
        request: HttpRequest,
        survey_id: int,
        team_slug: str,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> HttpResponse: ...


def _login_or_invitee(view: SurveyPageView[P]) -> SurveyPageView[P]:
    """Send strangers to the login page, but let anonymous invitees (cookie holders) in.

    A page POST from someone whose session expired keeps its answers first (see
    _keep_posted_answers), so that signing in does not lose what they typed.
    """

    def wrapped(
        request: HttpRequest, survey_id: int, team_slug: str, *args: P.args, **kwargs: P.kwargs
    ) -> HttpResponse:
        if not _signed_in_or_invitee(request, survey_id):
            if request.method == "POST":
                _keep_posted_answers(request)
            return redirect(f"{reverse('login')}?next={request.path}")
        return view(request, survey_id, team_slug, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


@login_required
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    entries = selectors.survey_entries_for(request.user)
    managed = Membership.objects.filter(user=request.user, role=Membership.Role.MANAGER)
    return render(
        request,
        "surveys/home.html",
        {
            "entries": entries,
            "manages_teams": managed.exists() or request.user.is_staff,
            # Programme leads who are not staff find the console here (the menu shows it
            # to staff only: checking a permission costs every page two statements).
            "runs_programme": selectors.runs_programme(request.user),
        },
    )


def _closed_page(request: HttpRequest, survey: Survey, team: Team) -> HttpResponse | None:
    """Answer a survey page of a round that takes no answers (yet): say when. A page
    posted meanwhile (no JavaScript) gets 409 and its comments back, to copy: nothing
    typed is lost to the close."""
    if survey.accepts_answers():
        return None
    not_yet = survey.opens_at > timezone.now()
    unsaved = _posted_comments(request, survey) if request.method == "POST" else []
    return render(
        request,
        "surveys/closed.html",
        {"survey": survey, "team": team, "not_yet": not_yet, "unsaved": unsaved},
        status=409 if request.method == "POST" else 200,
    )


def _posted_comments(request: HttpRequest, survey: Survey) -> list[dict[str, str]]:
    """Return the non-empty comments of a posted page with their questions' text, in the
    framework's order (unknown keys left out; bounded as kept answers are)."""
    questions = answer_rules(survey.framework).questions
    return [
        {"question": question.text, "comment": comment[:KEPT_ANSWER_MAX_CHARS]}
        for key, question in questions.items()
        if (comment := request.POST.get(f"comment-{key}", "").strip())
    ][:KEPT_ANSWER_MAX_FIELDS]


@_login_or_invitee
def survey_start(request: HttpRequest, survey_id: int, team_slug: str) -> HttpResponse:
    """Resume where the respondent stopped, or start at the first dimension."""
    survey, team = _resolve(request, survey_id, team_slug)
    respondent = _respondent(request, survey, team)
    closed = _closed_page(request, survey, team)
    if closed:
        return closed
    response = services.response_start(
        survey=survey, team=team, respondent_key=respondent.key, respondent=respondent.user
    )
    if _profile_to_declare(request, survey, team, response):
        return redirect(f"{reverse('survey-profile', args=[survey.pk, team.slug])}?start=1")
    outline = selectors.asked_outline(survey, selectors.team_plan(survey, team))
    if not outline:  # the team is asked nothing itself (everything is answered above it)
        return redirect("survey-review", survey.pk, team.slug)
    keys = [page.key for page in outline]
    key = response.last_dimension if response.last_dimension in keys else keys[0]
    return redirect("survey-dimension", survey.pk, team.slug, key)


def _profile_skip_key(survey: Survey, team: Team) -> str:
    return f"surveys.profile_skipped.{survey.pk}.{team.pk}"


def _profile_to_declare(
    request: HttpRequest, survey: Survey, team: Team, response: Response
) -> bool:
    """Tell whether the respondent should first declare the team's profile: the framework's
    questions depend on one, the team has none, and this respondent has neither answered
    anything yet nor chosen to skip it (then every question is shown)."""
    return (
        question_rules(survey.framework).uses_profiles
        and not request.session.get(_profile_skip_key(survey, team))
        and selectors.team_profile(survey, team) is None
        and not response.answers.filter(prefilled=False).exists()  # carried: not theirs yet
    )


DONT_KNOW = "dont_know"  # the value of the "Don't know" radio button (``q-<key>``)
_LINE_BREAK = re.compile(r"\r\n?")


def _parse_page(
    request: HttpRequest, questions: list[Question]
) -> tuple[dict[int, AnswerValues], dict[str, str]]:
    """Turn the page's POST into answer values per question id, and per-key errors.

    Each answer is checked by ``answer_problems``, as the API checks its answers.
    """
    values: dict[int, AnswerValues] = {}
    errors: dict[str, str] = {}
    for question in questions:
        raw = request.POST.get(f"q-{question.key}", "").strip()
        # A form posts a textarea's line breaks as CRLF, which its maxlength and the page's
        # script count as one character: store LF, as an autosave does.
        comment = _LINE_BREAK.sub("\n", request.POST.get(f"comment-{question.key}", "")).strip()
        na, dont_know = raw == "na", raw == DONT_KNOW
        choice = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 5 else None
        if raw and not na and not dont_know and choice is None:
            errors[question.key] = "Choose one of the offered levels."
            continue
        offered = {c.score for c in question.choices.all()}
        problems = answer_problems(
            question,
            offered,
            choice=choice,
            na=na,
            dont_know=dont_know,
            comment=comment,
            require_choice=False,
        )
        if problems:
            errors[question.key] = " ".join(
                message for messages in problems.values() for message in messages
            )
            continue
        values[question.pk] = {
            "score": choice,
            "na": na,
            "dont_know": dont_know,
            "comment": comment,
        }
    return values, errors


@_login_or_invitee
@require_http_methods(["GET", "POST"])
def survey_dimension(
    request: HttpRequest, survey_id: int, team_slug: str, dimension_key: str
) -> HttpResponse:
    survey, team = _resolve(request, survey_id, team_slug)
    respondent = _respondent(request, survey, team)
    closed = _closed_page(request, survey, team)
    if closed:
        return closed
    plan = selectors.team_plan(survey, team)
    outline = selectors.asked_outline(survey, plan)
    position = next((i for i, d in enumerate(outline) if d.key == dimension_key), None)
    if position is None:
        raise Http404("No such dimension for your team.")
    dimension = outline[position].dimension
    questions = outline[position].questions
    # The draft first: a round that closes between this and the save below is then told on
    # the page (422, what was typed kept), not an error.
    response = services.response_start(
        survey=survey, team=team, respondent_key=respondent.key, respondent=respondent.user
    )
    errors: dict[str, str] = {}
    shown: Mapping[str, str] | None = None  # values to show instead of the stored ones
    if request.method == "POST" and _opened_by_someone_else(request, respondent):
        # Opened by someone else on this browser (who signed out since): saving it here
        # would put their answers in this person's draft, showing it would show them.
        messages.error(
            request,
            "This page was opened by someone else signed in on this browser, so its "
            "answers were not saved. Here are your own answers.",
        )
        return redirect(request.path)
    if request.method == "POST":
        values, errors = _parse_page(request, questions)
        try:
            _save_answers(survey, team, respondent, dimension, questions, values, confirm=True)
        except services.SurveyError as error:
            errors["form"] = error.message
        if not errors:
            return _after_page_save(request, survey, team, outline, position)
        shown = request.POST  # show what was posted, so nothing typed is lost
    else:
        if response.last_dimension != dimension.key:
            services.response_resume_at(response=response, dimension_key=dimension.key)
        shown = _pop_kept_answers(request, respondent)

    answered = selectors.answered_question_ids(response)
    steps = [
        {
            "dimension": page.dimension,
            "current": page.key == dimension.key,
            "complete": all(q.pk in answered for q in page.questions),
        }
        for page in outline
    ]
    numbers = {q.pk: n for n, q in enumerate((q for page in outline for q in page.questions), 1)}
    stored = selectors.answers_by_question(response)
    return render(
        request,
        "surveys/dimension.html",
        {
            "survey": survey,
            "team": team,
            "dimension": dimension,
            "position": position + 1,
            "dimension_count": len(outline),
            "items": _page_items(questions, numbers, stored, errors, shown),
            "steps": steps,
            "previous": outline[position - 1].dimension if position > 0 else None,
            "next": outline[position + 1].dimension if position + 1 < len(outline) else None,
            "progress": _progress(plan, answered),
            "scope": _scope_note(survey, team, plan),
            "errors": errors,
            "kept": shown is not None and not errors,
            "prefilled": sum(1 for q in questions if getattr(stored.get(q.pk), "prefilled", False)),
            "response": response,
            "storage_key": _storage_key(survey, team, dimension, respondent),
            "respondent_tag": _respondent_tag(respondent),
        },
        status=422 if errors else 200,
    )


def _save_answers(
    survey: Survey,
    team: Team,
    respondent: Respondent,
    dimension: Dimension,
    questions: list[Question],
    values: dict[int, AnswerValues],
    *,
    confirm: bool = False,
) -> set[int]:
    """Save the page's valid answers (``values``, by question id) into the respondent's
    draft, all or nothing (services.answers_save), so that a caller that answers "saved"
    after this returns is right about every answer; return the ids of the questions the
    draft answers. Raises SurveyError (survey closed meanwhile, team no longer in it)."""
    saved = services.answers_save(
        survey=survey,
        team=team,
        respondent_key=respondent.key,
        respondent=respondent.user,
        answers=[
            (question, values[question.pk]) for question in questions if question.pk in values
        ],
        dimension_key=dimension.key,
        confirm=confirm,
    )
    return saved.answered


def _after_page_save(
    request: HttpRequest,
    survey: Survey,
    team: Team,
    outline: list[selectors.AskedDimension],
    position: int,
) -> HttpResponseRedirect:
    """Go where the pressed button says: previous or next dimension, review, or stay."""
    action = request.POST.get("action", "save")
    if action == "next" and position + 1 < len(outline):
        return redirect("survey-dimension", survey.pk, team.slug, outline[position + 1].key)
    if action == "previous" and position > 0:
        return redirect("survey-dimension", survey.pk, team.slug, outline[position - 1].key)
    if action in {"review", "next"}:
        return redirect("survey-review", survey.pk, team.slug)
    messages.success(request, "Your answers are saved.")
    return redirect("survey-dimension", survey.pk, team.slug, outline[position].key)


def _page_items(
    questions: list[Question],
    numbers: Mapping[int, int],
    answers: dict[int, Answer],
    errors: dict[str, str],
    shown: Mapping[str, str] | None,
) -> list[dict[str, object]]:
    """Return one row per question for the page: the stored value, or the one in ``shown``.

    ``number`` counts the questions the team is asked, across pages. ``unsaved`` marks a
    row whose shown value is not the stored one; the page's script sends those again.
    """
    items: list[dict[str, object]] = []
    for question in questions:
        stored = _stored_value(answers.get(question.pk))
        value = stored
        if shown is not None:
            value = {
                "selected": shown.get(f"q-{question.key}", ""),
                "comment": shown.get(f"comment-{question.key}", ""),
            }
        items.append(
            {
                "question": question,
                "number": numbers.get(question.pk),
                "error": errors.get(question.key),
                "unsaved": value != stored,
                "prefilled": bool(getattr(answers.get(question.pk), "prefilled", False)),
                **value,
            }
        )
    return items


def _stored_value(answer: Answer | None) -> dict[str, str]:
    if answer is None:
        return {"selected": "", "comment": ""}
    selected = "" if answer.score is None else str(answer.score)
    if answer.na or answer.dont_know:
        selected = "na" if answer.na else DONT_KNOW
    return {"selected": selected, "comment": answer.comment}


def _progress(plan: TeamPlan, answered_ids: set[int]) -> dict[str, int]:
    """Return how many of the questions the team is asked have an answer."""
    total = len(plan.asked)
    answered = len(answered_ids & plan.asked)
    return {
        "answered": answered,
        "total": total,
        "percent": selectors.progress_percent(answered, total),
    }


def _scope_note(survey: Survey, team: Team, plan: TeamPlan) -> dict[str, object]:
    """Return what the pages tell respondents about the questions they are not asked: how
    many a team above answers for them (named) and how many their profile excludes."""
    answered_by = selectors.team_names(set(plan.inherited.values()))
    return {
        "inherited": len(plan.inherited),
        "answered_by": sorted(answered_by.values()),
        "out_of_scope": len(plan.out_of_scope),
        "uses_profiles": question_rules(survey.framework).uses_profiles,
        "profile": selectors.team_profile(survey, team),
    }


# --- autosave (JSON) ----------------------------------------------------------------------


def _storage_key(survey: Survey, team: Team, dimension: Dimension, respondent: Respondent) -> str:
    """Return the browser storage key under which the page keeps its unsaved answers."""
    return f"mm-autosave:{survey.pk}:{team.slug}:{dimension.key}:{_respondent_tag(respondent)}"


def _respondent_tag(respondent: Respondent) -> str:
    """Return a short opaque tag of the respondent, safe to put in pages and browser storage.

    It keeps one person's unsaved answers from being restored into another person's page
    on a shared browser, without revealing the respondent key of an anonymous survey.
    """
    return salted_hmac("surveys.autosave-respondent", respondent.key).hexdigest()[:16]


def _opened_by_someone_else(request: HttpRequest, respondent: Respondent) -> bool:
    """Tell whether a posted page carries another respondent's tag than ``respondent``'s:
    it was opened by someone else signed in (or invited) on this browser before."""
    sent_tag = request.POST.get("respondent")
    return sent_tag is not None and sent_tag != _respondent_tag(respondent)


def _problem(status: int, code: str, detail: str, **extra: object) -> JsonResponse:
    """Answer an autosave that saved nothing as ``{"code", "detail", ...}`` (README contract)."""
    response = JsonResponse({"code": code, "detail": detail, **extra}, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _closed_detail(survey: Survey) -> str:
    """Say plainly why a survey takes no answers, with the date where there is one."""
    now = timezone.now()
    if survey.opens_at > now:
        return f"This survey is not open yet. It opens on {when(survey.opens_at)}."
    if survey.ended_at is not None:
        return f"This survey closed on {when(survey.ended_at)}. Answers can no longer be saved."
    return "This survey is closed. Answers can no longer be saved."


_SENT_FIELD = re.compile(r"^(?:q|comment)-(.{1,100})$")


def _sent_keys(request: HttpRequest) -> set[str]:
    """Return the question keys an autosave sends an answer or comment for."""
    return {match[1] for name in request.POST if (match := _SENT_FIELD.match(name))}


def _not_on_page(
    survey: Survey, plan: TeamPlan, page: selectors.AskedDimension, sent: set[str]
) -> dict[str, str]:
    """Return, by key, why answers sent for questions that are not on this page were not
    saved: another page's, not the team's to answer (scope_problem), or unknown."""
    on_page = {question.key for question in page.questions}
    rules = answer_rules(survey.framework)
    errors = {}
    for key in sorted(sent - on_page)[:100]:
        question = rules.questions.get(key)
        if question is None:
            errors[key] = unknown_question_problem(key)
        else:
            errors[key] = scope_problem(question, plan) or f"'{key}' is not on this page."
    return errors


@transaction.non_atomic_requests
def survey_autosave(
    request: HttpRequest, survey_id: int, team_slug: str, dimension_key: str
) -> JsonResponse:
    """Answer JSON for the autosave endpoint, whatever goes wrong (see _autosave; an
    oversized form is refused before any view runs, by config.errors.bad_request)."""
    if request.method != "POST":
        response = _problem(405, "method_not_allowed", "Send the answers with POST.")
        response["Allow"] = "POST"
        return response
    return _autosave(request, survey_id, team_slug, dimension_key)


def _autosave(
    request: HttpRequest, survey_id: int, team_slug: str, dimension_key: str
) -> JsonResponse:
    """Save the answers a survey page sends and answer JSON: never a page, never a redirect.

    Takes the page's fields (``q-<key>``: a choice score, "na" or "" for none;
    ``comment-<key>``) for the questions it sends; questions not sent are left alone, and
    a question sent with neither a choice nor a comment is cleared. ``respondent`` (the
    page's respondent tag), when sent, must still be the signed-in respondent.
    Statuses: 200 once every answer is committed; 422 per-question errors (the valid
    answers are saved and listed in ``saved``); 401 ``session_expired`` or
    ``other_respondent``; 404 ``not_found``; 409 ``closed`` or ``not_open``. The shapes
    are in the README, "Taking a survey".
    """
    if not _signed_in_or_invitee(request, survey_id):
        return _problem(
            401,
            "session_expired",
            "Your session has expired. Log in again, then retry.",
            login_url=f"{reverse('login')}?next={reverse('signed-in')}",
        )
    try:
        survey, team = _resolve(request, survey_id, team_slug)
        respondent = _respondent(request, survey, team)
        plan = selectors.team_plan(survey, team)
        page = next(p for p in selectors.asked_outline(survey, plan) if p.key == dimension_key)
    except (Http404, StopIteration):
        return _problem(404, "not_found", "There is no such survey page for you.")
    if _opened_by_someone_else(request, respondent):
        detail = (
            "You are now signed in as someone else than the person who opened this page. "
            "Log in again as yourself, then retry."
            if request.user.is_authenticated
            else "Another invitation was opened in this browser since this page was. Open "
            "your own invitation link again, then retry."  # an invitee has no login
        )
        return _problem(
            401,
            "other_respondent",
            detail,
            login_url=f"{reverse('login')}?next={reverse('signed-in')}",
        )
    sent = _sent_keys(request)
    questions = [question for question in page.questions if question.key in sent]
    values, errors = _parse_page(request, questions)
    errors.update(_not_on_page(survey, plan, page, sent))
    try:
        if values:
            answered = _save_answers(survey, team, respondent, page.dimension, questions, values)
        else:  # nothing to save: write nothing (no draft started), say where things stand
            services.require_open(survey)
            if not sent:
                return _problem(400, "nothing_sent", "No answer was sent, so nothing was saved.")
            answered = selectors.respondent_answered_ids(survey, team, respondent.key)
    except services.SurveyError as error:
        survey.refresh_from_db()
        if error.code in {"closed", "survey_not_open"}:
            code = "not_open" if error.code == "survey_not_open" else "closed"
            return _problem(409, code, _closed_detail(survey))
        return _problem(409, error.code, error.message)
    # Committed: _save_answers' transaction is the outermost one (non_atomic_requests).
    saved = [question.key for question in questions if question.pk in values]
    progress = _progress(plan, answered)
    if errors:
        return _problem(
            422,
            "invalid",
            "Some answers were not saved.",
            errors=errors,
            saved=saved,
            progress=progress,
        )
    saved_at = timezone.now()
    result = JsonResponse(
        {
            "saved_at": saved_at.isoformat(timespec="milliseconds"),
            "saved_at_display": timezone.localtime(saved_at).strftime("%H:%M:%S"),
            "saved": saved,
            "progress": progress,
        }
    )
    result["Cache-Control"] = "no-store"
    return result


@never_cache
@require_GET
def session_state(request: HttpRequest) -> JsonResponse:
    """Tell a page whether it is signed in, with a CSRF token valid from now on.

    Answers ``{"authenticated": bool, "username": str, "csrf_token": str}``. Signing in
    rotates the CSRF token, so a page that was open meanwhile fetches a fresh one here
    before it retries.
    """
    user = request.user
    return JsonResponse(
        {
            "authenticated": user.is_authenticated,
            "username": user.get_username() if user.is_authenticated else "",
            "csrf_token": get_token(request),
        }
    )


@login_required
def signed_in(request: HttpRequest) -> HttpResponse:
    """Confirm a sign-in made in a new tab, and send the person back to their survey tab."""
    return render(request, "registration/signed_in.html")


# --- answers kept over a sign-in (no JavaScript) ------------------------------------------

KEPT_ANSWERS_SESSION_KEY = "surveys.kept_answers"
KEPT_ANSWERS_MAX_AGE = 60 * 60 * 24  # seconds
KEPT_ANSWERS_MAX_PAGES = 5
KEPT_ANSWER_MAX_FIELDS = 100
KEPT_ANSWER_MAX_CHARS = 10_000  # above the 5,000 allowed, so an over-long comment is kept
_ANSWER_FIELD = re.compile(r"^(q|comment)-[\w-]{1,100}$")


def _keep_posted_answers(request: HttpRequest) -> None:
    """Keep the answer fields of a signed-out page POST in the session, for after login.

    Django keeps an anonymous session's data when the person signs in (``login`` cycles
    the key, it does not flush), so the page shows them again (_pop_kept_answers). Only
    answer fields are kept, bounded in number and length, for at most the last
    KEPT_ANSWERS_MAX_PAGES pages: a stranger's POST cannot fill the session store.
    """
    fields = {
        name: value[:KEPT_ANSWER_MAX_CHARS]
        for name, value in list(request.POST.items())[:KEPT_ANSWER_MAX_FIELDS]
        if _ANSWER_FIELD.match(name)
    }
    if not fields:
        return
    kept = dict(request.session.get(KEPT_ANSWERS_SESSION_KEY, {}))
    kept.pop(request.path, None)
    # Whose they are: the page's respondent tag, so that only that person gets them back.
    respondent = request.POST.get("respondent", "")[:64]
    kept[request.path] = {"fields": fields, "at": int(time.time()), "respondent": respondent}
    request.session[KEPT_ANSWERS_SESSION_KEY] = dict(list(kept.items())[-KEPT_ANSWERS_MAX_PAGES:])


def _pop_kept_answers(request: HttpRequest, respondent: Respondent) -> dict[str, str] | None:
    """Return (once) the answers kept for this page at a sign-in, unless they are too old
    or were typed by someone else than ``respondent`` (another person signing in on the
    same browser gets nothing of them)."""
    kept = request.session.get(KEPT_ANSWERS_SESSION_KEY)
    if not kept or request.path not in kept:
        return None
    entry = kept.pop(request.path)
    request.session[KEPT_ANSWERS_SESSION_KEY] = kept
    if time.time() - entry["at"] > KEPT_ANSWERS_MAX_AGE:
        return None
    if entry.get("respondent") != _respondent_tag(respondent):
        return None
    fields: dict[str, str] = entry["fields"]  # as _keep_posted_answers stored them
    return fields


@_login_or_invitee
@require_http_methods(["GET", "POST"])
def survey_review(request: HttpRequest, survey_id: int, team_slug: str) -> HttpResponse:
    survey, team = _resolve(request, survey_id, team_slug)
    respondent = _respondent(request, survey, team)
    closed = _closed_page(request, survey, team)
    if closed:
        return closed
    if request.method == "POST":
        already = _submitted_before(request, survey, team, respondent.key)
        if already is not None:
            return already
    response = services.response_start(
        survey=survey, team=team, respondent_key=respondent.key, respondent=respondent.user
    )
    plan = selectors.team_plan(survey, team)
    error = None
    if request.method == "POST":
        try:
            services.response_submit(
                survey=survey,
                team=team,
                respondent_key=respondent.key,
                respondent=respondent.user,
                plan=plan,
            )
        except services.SurveyError as problem:
            error = problem.message
        else:
            return redirect("survey-done", survey.pk, team.slug)
    answers = selectors.answers_by_question(response)
    summary = [
        {
            "dimension": page.dimension,
            "rows": [
                {"question": q, "answer": answers.get(q.pk), "label": _choice_label(q, answers)}
                for q in page.questions
            ],
        }
        for page in selectors.asked_outline(survey, plan)
    ]
    return render(
        request,
        "surveys/review.html",
        {
            "survey": survey,
            "team": team,
            "missing": services.missing_questions(response, plan),
            "unexplained": services.na_without_reason(response, plan),
            "unconfirmed": services.unconfirmed_questions(response, plan),
            "answered_above": selectors.answered_above(survey, plan),
            "summary": summary,
            "progress": _progress(plan, selectors.answered_question_ids(response)),
            "new_in_scope": selectors.new_in_scope(survey, team, respondent.key, plan),
            "scope": _scope_note(survey, team, plan),
            "error": error,
            "draft": response,
        },
        status=422 if error else 200,
    )


def _submitted_before(
    request: HttpRequest, survey: Survey, team: Team, respondent_key: str
) -> HttpResponse | None:
    """Refuse a second submission of the same answers: the review page posted is of a draft
    already submitted (the browser's Back button showed it again), or the draft holds
    exactly the answers of the counted submission. Either way nothing new is submitted:
    the respondent is sent to the done page, told why. None when the submission may go."""
    posted = request.POST.get("draft", "")
    counted = Response.objects.filter(
        survey=survey, team=team, respondent_key=respondent_key, status="submitted"
    ).first()
    if counted is None:
        return None
    draft = Response.objects.filter(
        survey=survey, team=team, respondent_key=respondent_key, status="draft"
    ).first()
    readable = posted.isascii() and posted.isdigit() and len(posted) <= 18
    # No draft now (a new one would copy the submission), or not the page's one (Back).
    if draft is None or (readable and int(posted) != draft.pk):
        message = "These answers were already submitted: nothing was submitted twice."
    elif selectors.same_answers(draft, counted):
        draft.delete()
        message = "Nothing changed since your submission: it stands as it was."
    else:
        return None
    messages.info(request, message)
    return redirect("survey-done", survey.pk, team.slug)


@_login_or_invitee
@require_http_methods(["GET", "POST"])
def survey_profile(request: HttpRequest, survey_id: int, team_slug: str) -> HttpResponse:
    """The team's profile in this survey: its managers (and admins) set, edit and confirm
    it; while it has none, a respondent proposes one (or skips: every question is shown);
    members read it. Anyone else gets a 404.

    ``start=1`` (from survey_start) leads on to the survey after saving or skipping.
    """
    survey, team = _resolve(request, survey_id, team_slug)
    manager = _manager(request, team)
    respondent = None if manager else _respondent(request, survey, team)
    profile = selectors.team_profile(survey, team)
    can_edit = survey.status != Survey.Status.CLOSED and (
        manager is not None or (profile is None and survey.accepts_answers())
    )
    starting = "1" in (request.GET.get("start"), request.POST.get("start"))
    posted = request.method == "POST"
    if posted and not can_edit:
        raise PermissionDenied("Only a manager of the team or an admin may change its profile.")
    form = TeamProfileForm(request.POST if posted else None, initial=_profile_initial(profile))
    if posted and request.POST.get("action") == "skip":
        request.session[_profile_skip_key(survey, team)] = True
        return redirect("survey-start", survey.pk, team.slug)
    if posted:
        try:
            saved = _profile_save(request, survey, team, form, manager, respondent)
        except services.SurveyError as error:
            form.add_error(None, error.message)
            saved = False
        if saved:
            if starting:
                return redirect("survey-start", survey.pk, team.slug)
            return redirect("survey-profile", survey.pk, team.slug)
    plan = selectors.team_plan(survey, team)
    return render(
        request,
        "surveys/profile.html",
        {
            "survey": survey,
            "team": team,
            "profile": profile,
            "form": form,
            "can_edit": can_edit,
            "manages": manager is not None,
            "starting": starting,
            "plan": plan,
            "scope": _scope_note(survey, team, plan),
            "declared": _declared(profile),
            "answers_here": respondent is not None
            or (manager is not None and services.user_can_answer(manager, team)),
        },
        status=422 if form.errors else 200,
    )


def _manager(request: HttpRequest, team: Team) -> User | None:
    """Return the signed-in user if they manage ``team`` (or are an admin), else None."""
    user = request.user
    if user.is_authenticated and services.user_manages_team(user, team):
        return user
    return None


def _declared(profile: TeamProfile | None) -> dict[str, list[str]]:
    """Return the profile's lists as the labels the form shows."""
    if profile is None:
        return {"serving": [], "model_kinds": []}
    return {
        "serving": [SERVING_LABELS.get(value, value) for value in profile.serving],
        "model_kinds": [MODEL_KIND_LABELS.get(value, value) for value in profile.model_kinds],
    }


def _profile_initial(profile: TeamProfile | None) -> dict[str, object]:
    if profile is None:
        return {}
    return {
        "serving": profile.serving,
        "model_kinds": profile.model_kinds,
        "gpu": profile.gpu,
        "regulated": profile.regulated,
    }


PROFILE_NOT_SAVED = "Your changes were not saved: use Save and confirm to apply them."


def _profile_save(
    request: HttpRequest,
    survey: Survey,
    team: Team,
    form: TeamProfileForm,
    manager: User | None,
    respondent: Respondent | None,
) -> bool:
    """Carry out the profile page's POST; tell whether anything was saved.

    A manager's "confirm" confirms the proposal unchanged; a manager's save sets (and
    confirms) the profile; a respondent's save proposes it. Raises SurveyError.
    """
    if manager is not None and request.POST.get("action") == "confirm":
        return _profile_confirm(request, survey, team, form, manager)
    if not form.is_valid():
        return False
    if manager is not None:
        services.profile_set(survey=survey, team=team, values=form.profile_input(), set_by=manager)
        messages.success(request, "The team profile is saved.")
    else:
        services.profile_propose(
            survey=survey,
            team=team,
            values=form.profile_input(),
            declared_by=respondent.user if respondent is not None else None,
        )
        messages.success(
            request, "The team profile is saved; a manager of the team will confirm it."
        )
    return True


def _profile_confirm(
    request: HttpRequest, survey: Survey, team: Team, form: TeamProfileForm, manager: User
) -> bool:
    """Confirm the proposal as it stands, if the form posted it unchanged; tell whether
    the page may move on. Edits posted with "Confirm as proposed" are refused, never
    dropped; a profile confirmed already is left as it is (its confirmed_at too)."""
    seen = form.profile_input() if form.is_valid() else None
    if seen is not None:
        try:
            services.profile_confirm(survey=survey, team=team, confirmed_by=manager, seen=seen)
        except services.SurveyError as error:
            stored = selectors.team_profile(survey, team)
            if error.code != "profile_confirmed" or stored is None:
                form.add_error(None, error.message)
                return False
            if services.same_profile(seen, _profile_input(stored)):
                messages.info(request, error.message)
                return True
        else:
            messages.success(request, "The team profile is confirmed.")
            return True
    stored = selectors.team_profile(survey, team)
    if stored is not None and stored.confirmed_at is not None:
        form.add_error(
            None,
            "The team profile is already confirmed. Your changes were not saved: "
            "use Save to apply them.",
        )
    else:
        form.add_error(None, PROFILE_NOT_SAVED)
    return False


def _profile_input(profile: TeamProfile) -> services.ProfileInput:
    return services.ProfileInput(
        profile.serving, profile.model_kinds, profile.gpu, profile.regulated
    )


def _choice_label(question: Question, answers: dict[int, Answer]) -> str:
    answer = answers.get(question.pk)
    if answer is None or answer.score is None:
        return ""
    return next((c.label for c in question.choices.all() if c.score == answer.score), "")


@_login_or_invitee
def survey_done(request: HttpRequest, survey_id: int, team_slug: str) -> HttpResponse:
    survey, team = _resolve(request, survey_id, team_slug)
    respondent = _respondent(request, survey, team)
    submitted = Response.objects.filter(
        survey=survey, team=team, respondent_key=respondent.key, status="submitted"
    ).first()
    if submitted is None:
        return redirect("survey-start", survey.pk, team.slug)
    return render(
        request,
        "surveys/done.html",
        {
            "survey": survey,
            "team": team,
            "submitted": submitted,
            # Where the respondent may read the team's results (the report itself says
            # when they are withheld or not scored yet).
            "results": team.pk in selectors.readable_team_ids(request.user, survey),
        },
    )


def _returning_invitee(request: HttpRequest, invitation: object) -> HttpResponse | None:
    """Send an anonymous invitee who already used their link back to their survey.

    Their signed cookie must hold this invitation's respondent key: a used-up link keeps
    working for the person who used it, on the device they used it on, and for nobody else.
    """
    if not isinstance(invitation, Invitation) or not invitation.survey.anonymous:
        return None
    survey, team = invitation.survey, invitation.team
    key = request.get_signed_cookie(
        respondent_cookie_name(survey, team), default=None, salt=RESPONDENT_COOKIE_SALT
    )
    if key and key == services.invitee_respondent_key(invitation.invitee_key):
        return redirect("survey-start", survey.pk, team.slug)
    return None


def invitation_open(request: HttpRequest, token: str) -> HttpResponse:
    """Follow an invitation link: anonymous surveys start at once, named ones need a login."""
    try:
        invitation = services.invitation_lookup(token)
    except services.SurveyError as error:
        returning = _returning_invitee(request, error.details)
        if returning is not None:
            return returning
        return render(request, "surveys/invitation_invalid.html", {"error": error}, status=404)
    survey, team = invitation.survey, invitation.team
    if survey.anonymous:
        cookie = respondent_cookie_name(survey, team)
        returning = _returning_invitee(request, invitation)
        if returning is not None:
            return returning
        if request.method != "POST":
            return render(request, "surveys/invitation.html", {"invitation": invitation})
        try:
            invitation = services.invitation_accept(token=token)
        except services.SurveyError as error:
            return render(request, "surveys/invitation_invalid.html", {"error": error}, status=410)
        redirect_response = redirect("survey-start", survey.pk, team.slug)
        redirect_response.set_signed_cookie(
            cookie,
            services.invitee_respondent_key(invitation.invitee_key),
            salt=RESPONDENT_COOKIE_SALT,
            max_age=RESPONDENT_COOKIE_AGE,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure(),
        )
        return redirect_response
    if not request.user.is_authenticated:
        return _invitation_sign_up(request, token, invitation)
    if services.user_can_answer(request.user, team):
        return redirect("survey-start", survey.pk, team.slug)
    if request.method != "POST":
        return render(request, "surveys/invitation.html", {"invitation": invitation})
    try:
        services.invitation_accept(token=token, user=request.user)
    except services.SurveyError as error:
        return render(request, "surveys/invitation_invalid.html", {"error": error}, status=410)
    messages.success(request, f"You joined {team.name}.")
    return redirect("survey-start", survey.pk, team.slug)


def _invitation_sign_up(request: HttpRequest, token: str, invitation: Invitation) -> HttpResponse:
    """A named round's invitation opened by someone signed out: log in, or create an account
    with the e-mail address and a password. The account is usable once the e-mailed link
    confirms the address; the link brings the person back here, signed in, to accept."""
    login_url = f"{reverse('login')}?next={request.path}"
    if not settings.PASSWORD_LOGIN:  # single sign-on only: no password accounts
        return redirect(login_url)
    if request.method != "POST":
        context = {"invitation": invitation, "form": SignUpForm(), "login_url": login_url}
        return render(request, "surveys/invitation.html", context)
    form = SignUpForm(request.POST)
    if form.is_valid():
        # The address is confirmed by the e-mailed link, which brings the person back here
        # signed in, to accept the invitation.
        user = signed_up(request, form, next_url=request.path)
        if user is not None:
            context = {"email": user.email, "invitation": invitation}
            return render(request, "accounts/verify_sent.html", context)
    context = {"invitation": invitation, "form": form, "login_url": login_url}
    return render(request, "surveys/invitation.html", context, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def invitation_manage(
    request: AuthenticatedHttpRequest, survey_id: int, team_slug: str
) -> HttpResponse:
    """Let a team's manager (or an admin) invite people to answer for the team.

    Named surveys: shareable links and e-mail invitations. Anonymous surveys: admins only,
    and only personal e-mail invitations (services.user_can_invite says why); a manager
    gets a 404 here, as for any page they may not see.
    """
    survey = get_object_or_404(Survey, pk=survey_id)
    team = get_object_or_404(survey.teams.all(), slug=team_slug)
    if not services.user_can_invite(request.user, survey, team):
        raise Http404("No such survey for you.")
    is_email = request.POST.get("action") == "email" or survey.anonymous
    form = InvitationForm(request.POST if request.method == "POST" and not is_email else None)
    email_form = EmailInvitationForm(
        request.POST if request.method == "POST" and is_email else None
    )
    link = None
    if request.method == "POST" and is_email and email_form.is_valid():
        try:
            sent = services.invitation_email(
                survey=survey,
                team=team,
                emails=email_form.cleaned_data["emails"],
                invited_by=request.user,
                link_for=lambda token: request.build_absolute_uri(
                    reverse("invitation-open", args=[token])
                ),
            )
        except services.SurveyError as error:
            email_form.add_error("emails", error.message)
        else:
            messages.success(request, f"Sent {sent} invitation e-mail(s).")
            return redirect("survey-invitations", survey.pk, team.slug)
    if request.method == "POST" and not is_email and form.is_valid():
        try:
            _, token = services.invitation_create(
                survey=survey,
                team=team,
                created_by=request.user,
                expires_at=form.cleaned_data["expires_at"],
                max_uses=form.cleaned_data["max_uses"],
            )
        except services.SurveyError as error:
            form.add_error(None, error.message)
        else:
            link = request.build_absolute_uri(reverse("invitation-open", args=[token]))
            form = InvitationForm()
    return render(
        request,
        "surveys/invitations.html",
        {
            "survey": survey,
            "team": team,
            "form": form,
            "email_form": email_form,
            "link": link,
            "invitations": survey.invitations.filter(team=team),
        },
        status=422 if form.errors or email_form.errors else 200,
    )


@login_required
@require_POST
def invitation_revoke(
    request: AuthenticatedHttpRequest, survey_id: int, team_slug: str, invitation_id: int
) -> HttpResponseRedirect:
    survey = get_object_or_404(Survey, pk=survey_id)
    team = get_object_or_404(survey.teams.all(), slug=team_slug)
    if not services.user_can_invite(request.user, survey, team):
        raise Http404("No such survey for you.")
    services.invitation_revoke(survey=survey, team=team, invitation_id=invitation_id)
    messages.success(request, "The invitation link no longer works.")
    return redirect("survey-invitations", survey.pk, team.slug)

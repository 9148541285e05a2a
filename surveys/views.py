"""Respondent pages: my surveys, the survey one dimension per page, review, submit.

Every page works without JavaScript (plain form POSTs); with htmx, each change autosaves
the draft without a reload.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from maturity.models import Dimension, Question
from surveys import selectors, services
from surveys.forms import EmailInvitationForm, InvitationForm
from surveys.models import Answer, Invitation, Membership, Response, Survey, Team
from surveys.validation import answer_problems

RESPONDENT_COOKIE_SALT = "surveys.anonymous-respondent"
RESPONDENT_COOKIE_AGE = 60 * 60 * 24 * 120


def respondent_cookie_name(survey: Survey, team: Team) -> str:
    return f"mm_respondent_{survey.pk}_{team.pk}"


@dataclass(frozen=True)
class Respondent:
    user: AbstractBaseUser | None
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


def _login_or_invitee(view):  # type: ignore[no-untyped-def]
    """Send strangers to the login page, but let anonymous invitees (cookie holders) in."""

    def wrapped(request: HttpRequest, survey_id: int, team_slug: str, *args, **kwargs):
        if not request.user.is_authenticated and not any(
            name.startswith(f"mm_respondent_{survey_id}_") for name in request.COOKIES
        ):
            return redirect(f"{reverse('login')}?next={request.path}")
        return view(request, survey_id, team_slug, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


@login_required
def home(request: HttpRequest) -> HttpResponse:
    entries = selectors.survey_entries_for(request.user)
    managed = Membership.objects.filter(user=request.user, role=Membership.Role.MANAGER)
    return render(
        request,
        "surveys/home.html",
        {"entries": entries, "manages_teams": managed.exists() or request.user.is_staff},
    )


def _closed_page(request: HttpRequest, survey: Survey, team: Team) -> HttpResponse | None:
    if survey.accepts_answers():
        return None
    not_yet = survey.opens_at > timezone.now()
    return render(
        request,
        "surveys/closed.html",
        {"survey": survey, "team": team, "not_yet": not_yet},
        status=200,
    )


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
    dimensions = list(survey.framework.dimensions.order_by("order").values_list("key", flat=True))
    key = response.last_dimension if response.last_dimension in dimensions else dimensions[0]
    return redirect("survey-dimension", survey.pk, team.slug, key)


def _parse_page(
    request: HttpRequest, questions: list[Question]
) -> tuple[dict[int, dict], dict[str, str]]:
    """Turn the page's POST into answer values per question id, and per-key errors.

    Each answer is checked by ``answer_problems``, as the API checks its answers.
    """
    values, errors = {}, {}
    for question in questions:
        raw = request.POST.get(f"q-{question.key}", "").strip()
        comment = request.POST.get(f"comment-{question.key}", "").strip()
        na = raw == "na"
        choice = int(raw) if raw.isdigit() and len(raw) <= 5 else None
        if raw and not na and choice is None:
            errors[question.key] = "Choose one of the offered levels."
            continue
        offered = {c.score for c in question.choices.all()}
        problems = answer_problems(
            question, offered, choice=choice, na=na, comment=comment, require_choice=False
        )
        if problems:
            errors[question.key] = " ".join(
                message for messages in problems.values() for message in messages
            )
            continue
        values[question.pk] = {"score": choice, "na": na, "comment": comment}
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
    outline = selectors.framework_outline(survey.framework)
    position = next((i for i, d in enumerate(outline) if d.key == dimension_key), None)
    if position is None:
        raise Http404("No such dimension.")
    dimension: Dimension = outline[position]
    questions = list(dimension.questions.all())
    response = services.response_start(
        survey=survey, team=team, respondent_key=respondent.key, respondent=respondent.user
    )

    errors: dict[str, str] = {}
    if request.method == "POST":
        values, errors = _parse_page(request, questions)
        stored = selectors.answers_by_question(response)
        try:
            for question in questions:
                # The page posts all its answers on every change; write only what changed.
                if question.pk in values and values[question.pk] != _stored_answer(
                    stored.get(question.pk)
                ):
                    services.answer_save(
                        response=response,
                        question=question,
                        dimension_key=dimension.key,
                        **values[question.pk],
                    )
        except services.SurveyError as error:
            errors["form"] = error.message
        if request.headers.get("HX-Request"):
            return render(
                request,
                "surveys/_save_status.html",
                {"errors": errors, "saved_at": timezone.now(), "progress": _progress(response)},
            )
        if not errors:
            action = request.POST.get("action", "save")
            if action == "next" and position + 1 < len(outline):
                return redirect("survey-dimension", survey.pk, team.slug, outline[position + 1].key)
            if action == "previous" and position > 0:
                return redirect("survey-dimension", survey.pk, team.slug, outline[position - 1].key)
            if action in {"review", "next"}:
                return redirect("survey-review", survey.pk, team.slug)
            messages.success(request, "Your answers are saved.")
            return redirect("survey-dimension", survey.pk, team.slug, dimension.key)
    elif response.last_dimension != dimension.key:
        Response.objects.filter(pk=response.pk).update(last_dimension=dimension.key)

    answers = selectors.answers_by_question(response)
    answered = selectors.answered_question_ids(response)
    items = []
    for question in questions:
        stored = _stored_value(answers.get(question.pk))
        if errors:  # show what was posted, so nothing typed is lost
            stored = {
                "selected": request.POST.get(f"q-{question.key}", ""),
                "comment": request.POST.get(f"comment-{question.key}", ""),
            }
        items.append({"question": question, "error": errors.get(question.key), **stored})
    steps = [
        {
            "dimension": d,
            "current": d.key == dimension.key,
            "complete": all(q.pk in answered for q in d.questions.all()),
        }
        for d in outline
    ]
    return render(
        request,
        "surveys/dimension.html",
        {
            "survey": survey,
            "team": team,
            "dimension": dimension,
            "position": position + 1,
            "dimension_count": len(outline),
            "items": items,
            "steps": steps,
            "previous": outline[position - 1] if position > 0 else None,
            "next": outline[position + 1] if position + 1 < len(outline) else None,
            "progress": _progress(response, answered),
            "errors": errors,
            "response": response,
        },
        status=422 if errors else 200,
    )


def _stored_answer(answer: Answer | None) -> dict[str, object]:
    if answer is None:
        return {"score": None, "na": False, "comment": ""}
    return {"score": answer.score, "na": answer.na, "comment": answer.comment}


def _stored_value(answer: Answer | None) -> dict[str, str]:
    if answer is None:
        return {"selected": "", "comment": ""}
    selected = "na" if answer.na else ("" if answer.score is None else str(answer.score))
    return {"selected": selected, "comment": answer.comment}


def _progress(response: Response, answered_ids: set[int] | None = None) -> dict[str, int]:
    total = Question.objects.filter(framework_id=response.survey.framework_id).count()
    if answered_ids is None:
        answered_ids = selectors.answered_question_ids(response)
    answered = len(answered_ids)
    return {
        "answered": answered,
        "total": total,
        "percent": round(100 * answered / total) if total else 0,
    }


@_login_or_invitee
@require_http_methods(["GET", "POST"])
def survey_review(request: HttpRequest, survey_id: int, team_slug: str) -> HttpResponse:
    survey, team = _resolve(request, survey_id, team_slug)
    respondent = _respondent(request, survey, team)
    closed = _closed_page(request, survey, team)
    if closed:
        return closed
    response = services.response_start(
        survey=survey, team=team, respondent_key=respondent.key, respondent=respondent.user
    )
    error = None
    if request.method == "POST":
        try:
            services.response_submit(
                survey=survey, team=team, respondent_key=respondent.key, respondent=respondent.user
            )
        except services.SurveyError as problem:
            error = problem.message
        else:
            return redirect("survey-done", survey.pk, team.slug)
    missing = services.missing_questions(response)
    outline = selectors.framework_outline(survey.framework)
    answers = selectors.answers_by_question(response)
    summary = [
        {
            "dimension": d,
            "rows": [
                {"question": q, "answer": answers.get(q.pk), "label": _choice_label(q, answers)}
                for q in d.questions.all()
            ],
        }
        for d in outline
    ]
    return render(
        request,
        "surveys/review.html",
        {
            "survey": survey,
            "team": team,
            "missing": missing,
            "summary": summary,
            "progress": _progress(response),
            "error": error,
        },
        status=422 if error else 200,
    )


def _choice_label(question: Question, answers: dict) -> str:
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
        {"survey": survey, "team": team, "submitted": submitted},
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
    if key and key == invitation.invitee_key:
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
            invitation.invitee_key,
            salt=RESPONDENT_COOKIE_SALT,
            max_age=RESPONDENT_COOKIE_AGE,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure(),
        )
        return redirect_response
    if not request.user.is_authenticated:
        return redirect(f"{reverse('login')}?next={request.path}")
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


@login_required
@require_http_methods(["GET", "POST"])
def invitation_manage(request: HttpRequest, survey_id: int, team_slug: str) -> HttpResponse:
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
        sent = services.invitation_email(
            survey=survey,
            team=team,
            emails=email_form.cleaned_data["emails"],
            invited_by=request.user,
            link_for=lambda token: request.build_absolute_uri(
                reverse("invitation-open", args=[token])
            ),
        )
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
    request: HttpRequest, survey_id: int, team_slug: str, invitation_id: int
) -> HttpResponseRedirect:
    survey = get_object_or_404(Survey, pk=survey_id)
    team = get_object_or_404(survey.teams.all(), slug=team_slug)
    if not services.user_can_invite(request.user, survey, team):
        raise Http404("No such survey for you.")
    survey.invitations.filter(team=team, pk=invitation_id).update(revoked=True)
    messages.success(request, "The invitation link no longer works.")
    return redirect("survey-invitations", survey.pk, team.slug)

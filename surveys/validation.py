"""Input checks at the edge: the one check of an answer, called by the web survey pages and
the submission API, and the one check of the API's submission body.

Both edges turn their own input shape (form fields, JSON) into (question, choice, na,
dont_know, comment) and ask ``answer_problems``, and ask ``scope_problem`` whether the team
is asked the question at all; they word every problem the same way. The team profile's
values are checked by ``profile_problems`` (the profile page's form and the API).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, get_args

from common.text import text_problem
from maturity.models import Question
from maturity.schema import ModelKind, Serving
from maturity.scope import TeamPlan
from maturity.selectors import AnswerRules
from surveys.selectors import team_names
from surveys.services import AnswerInput

SERVING: tuple[str, ...] = get_args(Serving)
MODEL_KINDS: tuple[str, ...] = get_args(ModelKind)

COMMENT_MAX_LENGTH = 5000


def comment_problem(comment: str) -> str | None:
    """Return why a comment cannot be stored (NUL, lone surrogate, over 5,000 characters)."""
    return text_problem(comment, max_length=COMMENT_MAX_LENGTH)


def answer_problems(
    question: Question,
    offered: Collection[int],
    *,
    choice: int | None,
    na: bool,
    comment: str,
    dont_know: bool = False,
    require_choice: bool = True,
) -> dict[str, list[str]]:
    """Return the problems of one answer by field (``choice``, ``na``, ``comment``), or {}.

    ``offered`` holds the scores of the question's choices. An answer is at most one of a
    choice, N/A and don't know. A submission (``require_choice``) needs exactly one, and an
    N/A needs its reason in the comment; a draft may hold only a comment, or nothing.
    """
    problems: dict[str, list[str]] = {}
    if (choice is not None) + na + dont_know > 1:
        problems["choice"] = ["Give exactly one of a choice, na: true or dont_know: true."]
    elif na and not question.allow_na:
        problems["na"] = [f"'{question.key}' cannot be answered N/A."]
    elif choice is None and not na and not dont_know and require_choice:
        problems["choice"] = ["A choice score is required unless na or dont_know is true."]
    elif choice is not None and choice not in offered:
        problems["choice"] = [
            f"Score {choice} is not offered for '{question.key}'; choose one of {sorted(offered)}."
        ]
    wrong = comment_problem(comment)
    if wrong:
        problems["comment"] = [wrong]
    elif not problems and na and require_choice and not comment.strip():
        problems["comment"] = [
            f"Give the reason why '{question.key}' does not apply (N/A needs a comment)."
        ]
    return problems


def scope_problem(question: Question, plan: TeamPlan) -> str | None:
    """Return why a team may not answer ``question``, or None when it is asked it.

    Platform and org questions of a product team are answered by the team above it (named);
    a question whose ``applies_when`` does not match the team's profile is out of scope.
    """
    if question.pk in plan.asked:
        return None
    answerer = plan.inherited.get(question.pk)
    if answerer is not None:
        name = team_names([answerer]).get(answerer, "above this team")
        return f"'{question.key}' is answered by the platform team {name}, not by this team."
    return f"'{question.key}' is out of scope for this team's profile."


def unknown_question_problem(key: str) -> str:
    """Return the message for a question key the survey's framework does not have."""
    return f"Unknown question key '{key}': it is not in this framework."


def profile_problems(serving: Sequence[str], model_kinds: Sequence[str]) -> dict[str, list[str]]:
    """Return the problems of a team profile's lists by field, or {}.

    Each list needs at least one known value; ``none`` (models that are not served) stands
    alone. The booleans need no check beyond their type.
    """
    problems: dict[str, list[str]] = {}
    for field, values, known in (
        ("serving", serving, SERVING),
        ("model_kinds", model_kinds, MODEL_KINDS),
    ):
        unknown = [value for value in values if value not in known]
        if unknown:
            problems[field] = [f"Unknown value(s) {unknown}; choose from {list(known)}."]
        elif not values:
            problems[field] = [f"Choose at least one of {list(known)}."]
    if "serving" not in problems and "none" in serving and len(set(serving)) > 1:
        problems["serving"] = ["'none' (models that are not served) cannot be combined."]
    return problems


def canonical(values: Sequence[str], known: Sequence[str]) -> list[str]:
    """Return ``values`` without repeats, in the order of ``known``."""
    return [value for value in known if value in set(values)]


# --- the submission API's body ----------------------------------------------------------------

MAX_ANSWERS = 1000
_SLUG = re.compile(r"[-a-zA-Z0-9_]+")
Errors = dict[str, Any]


@dataclass(frozen=True)
class SubmissionBody:
    """A submission body whose every value has the right type and form (not yet checked
    against the framework: see answer_inputs)."""

    team: str
    # question: str, choice: int | None, na: bool, dont_know: bool, comment: str
    answers: list[dict[str, Any]]
    respondent: str | None = None


def _string(
    value: Any, *, max_length: int, blank: bool = False, slug: bool = False
) -> tuple[str | None, str | None]:
    """Return (the trimmed text, None) or (None, why not), as DRF's CharField would.

    Like DRF, a number is taken as its text; a boolean, list or object is not text.
    """
    if value is None:
        return None, "This field may not be null."
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None, "Not a valid string."
    value = str(value).strip()
    if not value and not blank:
        return None, "This field may not be blank."
    problem = text_problem(value, max_length=max_length)
    if problem:
        return None, problem
    if slug and not _SLUG.fullmatch(value):
        return None, 'Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.'
    return value, None


_WHOLE = re.compile(r"\.0*\s*$")  # "3.0", "3." and 3.0 are 3, as DRF's IntegerField reads them


def _choice(value: Any) -> tuple[int | None, str | None]:
    """Return (the choice score or None, None) or (None, why not), as DRF's IntegerField."""
    if value is None:
        return None, None
    if isinstance(value, bool) or (isinstance(value, str) and len(value) > 1000):
        return None, "A valid integer is required."
    try:
        number = int(_WHOLE.sub("", str(value)))
    except (TypeError, ValueError):
        return None, "A valid integer is required."
    if number < 0:
        return None, "Ensure this value is greater than or equal to 0."
    if number > 32767:
        return None, "Ensure this value is less than or equal to 32767."
    return number, None


# The texts DRF's BooleanField reads as true or false.
_TRUE = {"t", "T", "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "1"}
_FALSE = {"f", "F", "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "0"}


def _boolean(value: Any) -> bool | None:
    if value is True or value is False:
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value in _TRUE | _FALSE:
        return value in _TRUE
    return None


def _answer_item(item: Any) -> tuple[dict[str, Any] | None, Errors]:
    """Check one answer object's types; return it normalised, or its errors by field."""
    if not isinstance(item, dict):
        kind = type(item).__name__
        return None, {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}
    errors: Errors = {}
    question: str | None = None
    problem: str | None = "This field is required."
    if "question" in item:
        question, problem = _string(item["question"], max_length=64)
    if problem:
        errors["question"] = [problem]
    choice, problem = _choice(item.get("choice"))
    if problem:
        errors["choice"] = [problem]
    na = _boolean(item.get("na", False))
    if na is None:
        errors["na"] = ["Must be a valid boolean."]
    dont_know = _boolean(item.get("dont_know", False))
    if dont_know is None:
        errors["dont_know"] = ["Must be a valid boolean."]
    comment, problem = _string(item.get("comment", ""), max_length=COMMENT_MAX_LENGTH, blank=True)
    if problem:
        errors["comment"] = [problem]
    if errors:
        return None, errors
    return {
        "question": question,
        "choice": choice,
        "na": na,
        "dont_know": dont_know,
        "comment": comment,
    }, {}


def _answer_list(value: Any) -> tuple[list[dict[str, Any]] | None, Any]:
    if value is None:
        return None, ["This field may not be null."]
    if not isinstance(value, list):
        return None, [f'Expected a list of items but got type "{type(value).__name__}".']
    if not value:
        return None, ["This list may not be empty."]
    if len(value) > MAX_ANSWERS:
        return None, [f"Ensure this field has no more than {MAX_ANSWERS} elements."]
    checked = [_answer_item(item) for item in value]
    if any(errors for _, errors in checked):
        return None, [errors for _, errors in checked]
    return [answer for answer, _ in checked if answer is not None], None


def submission_body(data: Any) -> tuple[SubmissionBody | None, Errors]:
    """Check the types and forms of a submission body; return it, or errors shaped like
    DRF's (``{"team": [...], "answers": [{...}, {}]}``) for a 400.

    The one check of the API's submission input (the OpenAPI schema documents the same
    shape with ResponseInSerializer, which is not used at run time). It reads values as
    DRF's fields would (text trimmed, "3" and 3.0 as 3, "false" as false), so clients see
    the contract they always had. What the framework allows is answer_inputs' business.
    """
    if not isinstance(data, dict):
        kind = type(data).__name__
        return None, {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}
    errors: Errors = {}
    team: str | None = None
    problem: str | None = "This field is required."
    if "team" in data:
        team, problem = _string(data["team"], max_length=64, slug=True)
    if problem:
        errors["team"] = [problem]
    answers, answer_errors = (None, ["This field is required."])
    if "answers" in data:
        answers, answer_errors = _answer_list(data["answers"])
    if answer_errors:
        errors["answers"] = answer_errors
    respondent = None
    if "respondent" in data:
        respondent, problem = _string(data["respondent"], max_length=150)
        if problem:
            errors["respondent"] = [problem]
    if errors or team is None or answers is None:
        return None, errors
    return SubmissionBody(team=team, answers=answers, respondent=respondent), {}


def answer_inputs(
    answers: list[dict[str, Any]], rules: AnswerRules, plan: TeamPlan
) -> tuple[list[AnswerInput], list[Errors]]:
    """Check answers (of the right types) against the framework and the team's ``plan``
    with answer_problems and scope_problem.

    Returns the AnswerInputs, or, when any answer is wrong, one error dict per answer in
    order (``{}`` for a good one), as DRF reports errors of a list of objects.
    """
    errors: list[Errors] = []
    seen: set[str] = set()
    result = []
    for answer in answers:
        error: Errors = {}
        question = rules.questions.get(answer["question"])
        choice, na, comment = answer["choice"], answer["na"], answer["comment"]
        dont_know = answer["dont_know"]
        if question is None:
            error["question"] = [unknown_question_problem(answer["question"])]
        elif answer["question"] in seen:
            error["question"] = [f"Question '{answer['question']}' is answered twice."]
        elif (why := scope_problem(question, plan)) is not None:
            error["question"] = [why]
        else:
            error = answer_problems(
                question,
                rules.offered[question.pk],
                choice=choice,
                na=na,
                dont_know=dont_know,
                comment=comment,
            )
        errors.append(error)
        if not error and question is not None:
            seen.add(question.key)
            result.append(
                AnswerInput(
                    question=question, score=choice, na=na, dont_know=dont_know, comment=comment
                )
            )
    return (result, []) if not any(errors) else ([], errors)

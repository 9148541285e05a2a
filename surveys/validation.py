"""The one check of an answer, called by the web survey pages and the submission API.

Both edges turn their own input shape (form fields, JSON) into (question, choice, na,
comment) and ask ``answer_problems``; they word every problem the same way.
"""

from __future__ import annotations

from collections.abc import Collection

from common.text import text_problem
from maturity.models import Question

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
    require_choice: bool = True,
) -> dict[str, list[str]]:
    """Return the problems of one answer by field (``choice``, ``na``, ``comment``), or {}.

    ``offered`` holds the scores of the question's choices. A submission needs a choice or
    N/A (``require_choice``); a draft may hold only a comment, or nothing.
    """
    problems: dict[str, list[str]] = {}
    if na and choice is not None:
        problems["choice"] = ["Give either a choice or na: true, not both."]
    elif na and not question.allow_na:
        problems["na"] = [f"'{question.key}' cannot be answered N/A."]
    elif not na and choice is None and require_choice:
        problems["choice"] = ["A choice score is required unless na is true."]
    elif not na and choice is not None and choice not in offered:
        problems["choice"] = [
            f"Score {choice} is not offered for '{question.key}'; choose one of {sorted(offered)}."
        ]
    wrong = comment_problem(comment)
    if wrong:
        problems["comment"] = [wrong]
    return problems

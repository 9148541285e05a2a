"""Checks that a piece of text can be stored, shared by web forms, the API and the CLI.

PostgreSQL refuses NUL characters in text (a 500 if it reaches the database) and UTF-8
cannot encode lone surrogates; SQLite takes both and would then hand them to exports. Every
input path checks text here, so they all refuse the same values with the same messages.
"""

from __future__ import annotations

NUL_MESSAGE = "Null characters are not allowed."


def storable(value: object) -> bool:
    """Tell whether a string can reach the database: no NUL, no lone surrogates.

    Non-strings are not this check's business and pass.
    """
    return not isinstance(value, str) or text_problem(value) is None


def text_problem(value: str, *, max_length: int | None = None) -> str | None:
    """Return why ``value`` cannot be stored as text (one sentence), or None if it can.

    Refused: NUL characters, lone surrogates (U+D800..U+DFFF, which UTF-8 cannot encode),
    and more than ``max_length`` characters. The messages are DRF's, so a web form and the
    API word the same problem alike.
    """
    if "\x00" in value:
        return NUL_MESSAGE
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        code_point = ord(value[error.start])
        return f"Surrogate characters are not allowed: U+{code_point:X}."
    if max_length is not None and len(value) > max_length:
        return f"Ensure this field has no more than {max_length} characters."
    return None

"""The one exception type of broken business rules, and how the API answers it.

Services raise a subclass (surveys.services.SurveyError, ...) with a stable ``code``;
``common.api.api_exception_handler`` turns it into HTTP once, for every view (HackSoft's
"ApplicationError" pattern), so no view maps errors to statuses itself.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ApplicationError(Exception):
    """A broken business rule: ``message`` for people, ``code`` for programs.

    The HTTP status comes from the subclass's ``STATUS`` by code (default 400). With
    ``field``, the API answers ``{field: [message]}``, like a validation error of that
    input field; otherwise ``{"detail": message, "code": code, **extra}``. ``details``
    carries anything else the caller may want (never rendered).
    """

    STATUS: ClassVar[dict[str, int]] = {}

    def __init__(
        self,
        message: str,
        *,
        code: str,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
        details: object = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        self.extra = extra or {}
        self.details = details

    @property
    def status_code(self) -> int:
        return self.STATUS.get(self.code, 400)

    def body(self) -> dict[str, Any]:
        """Return the JSON body the API answers this error with."""
        if self.field is not None:
            return {self.field: [self.message]}
        return {"detail": self.message, "code": self.code, **self.extra}

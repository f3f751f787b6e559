"""One error type for everything a caller can get wrong. Each carries the HTTP status and a
stable machine `code`; the web layer renders it as RFC 9457 problem details."""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FieldError:
    """One offending input field: a dotted path (`pickup.lat`) and what is wrong with it."""

    field: str
    message: str


class SidewalkError(Exception):
    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"
    headers: dict[str, str] = {}

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        errors: list[FieldError] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.errors = errors or []
        self.extra = extra or {}


class NotFound(SidewalkError):
    status, code, title = 404, "not_found", "Not found"


class Unauthorized(SidewalkError):
    status, code, title = 401, "unauthorized", "Unauthorized"
    headers = {"WWW-Authenticate": 'Bearer realm="sidewalk"'}


class Forbidden(SidewalkError):
    status, code, title = 403, "forbidden", "Forbidden"


class Conflict(SidewalkError):
    status, code, title = 409, "conflict", "Conflict"


class Gone(SidewalkError):
    status, code, title = 410, "gone", "Gone"


class Unprocessable(SidewalkError):
    status, code, title = 422, "unprocessable", "Unprocessable request"


class ValidationFailed(SidewalkError):
    status, code, title = 422, "validation_error", "Invalid request"


class PayloadTooLarge(SidewalkError):
    status, code, title = 413, "payload_too_large", "Request body too large"


class InvalidTransition(Conflict):
    """A state machine refused a move; the entity keeps its state."""

    code, title = "invalid_transition", "Invalid status transition"

    def __init__(self, entity: str, current: str, requested: str, allowed: frozenset[str]) -> None:
        super().__init__(
            f"{entity} cannot go from {current!r} to {requested!r}",
            extra={"current_status": current, "allowed": sorted(allowed)},
        )
        self.entity, self.current, self.requested = entity, current, requested

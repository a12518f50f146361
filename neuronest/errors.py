"""One error hierarchy: each error owns its HTTP status and GraphQL `extensions.code`."""

from __future__ import annotations

from typing import Any, ClassVar


class AppError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "BAD_REQUEST"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = {k: v for k, v in extensions.items() if v is not None}

    def headers(self) -> dict[str, str]:
        return {}


class NotFound(AppError):
    status = 404
    code = "NOT_FOUND"


class Forbidden(AppError):
    status = 403
    code = "FORBIDDEN"


class Conflict(AppError):
    status = 409
    code = "CONFLICT"


class Invalid(AppError):
    status = 422
    code = "BAD_USER_INPUT"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.field = field


class Unauthenticated(AppError):
    status = 401
    code = "UNAUTHENTICATED"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class RateLimited(AppError):
    status = 429
    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class Unavailable(AppError):
    status = 503
    code = "UNAVAILABLE"


class TooCostly(AppError):
    """A GraphQL document over its budget (cost, depth, password mutations): refused unrun."""

    status = 422
    code = "QUERY_TOO_COSTLY"


class TooManyFields(AppError):
    """A GraphQL document with too many root fields, aliases or repeats of one field."""

    status = 422
    code = "TOO_MANY_FIELDS"


CODE_TO_ERROR: dict[str, type[AppError]] = {
    cls.code: cls
    for cls in (
        NotFound,
        Forbidden,
        Conflict,
        Invalid,
        Unauthenticated,
        RateLimited,
        Unavailable,
        TooCostly,
        TooManyFields,
    )
}
INTERNAL_CODE = "INTERNAL_SERVER_ERROR"

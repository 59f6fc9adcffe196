"""JSON error responses: `{"error": {"code", "message"}}` with the right status, never a trace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from asyncpg import PostgresError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.db.deadline import is_statement_timeout
from service.db.errors import is_unavailable
from service.responses import OrjsonResponse

log = structlog.get_logger(__name__)

STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_parameter",
    429: "too_many_requests",
    503: "unavailable",
}
RETRY_AFTER_S = 5  # what a client should wait when the database is unavailable


class ApiError(Exception):
    """An expected failure with its HTTP status; raised by routes and services, rendered as JSON."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None, **extra: Any
) -> OrjsonResponse:
    return OrjsonResponse(
        {"error": {"code": code, "message": message, **extra}}, status_code=status, headers=headers
    )


def _describe_validation_error(exc: RequestValidationError) -> tuple[str, str | None]:
    """The first error, as `<parameter>: <what is wrong>` (a repeated parameter's position in
    the list, and pydantic's "Value error, " prefix, left out)."""
    first = exc.errors()[0] if exc.errors() else {}
    location = [
        part
        for part in first.get("loc", ())
        if isinstance(part, str) and part not in ("query", "path", "body")
    ]
    parameter = ".".join(location) or None
    message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
    return (f"{parameter}: {message}" if parameter else message), parameter


def install_error_handlers(app: FastAPI, *, statement_timeout_s: float) -> None:
    limit = statement_timeout_s

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> OrjsonResponse:
        return error_response(exc.status, exc.code, exc.message, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> OrjsonResponse:
        code = STATUS_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> OrjsonResponse:
        message, parameter = _describe_validation_error(exc)
        return error_response(422, "invalid_parameter", message, parameter=parameter)

    async def _database_error(request: Request, exc: Exception) -> OrjsonResponse:
        """Database and network errors, handled here rather than by the catch-all so that the
        server does not log them again with a traceback."""
        if is_statement_timeout(exc):
            log.warning("request.statement_timeout", path=request.url.path, limit_s=limit)
            message = (
                f"the query ran longer than {limit:g} s (CALLSIFT_API_STATEMENT_TIMEOUT_S); "
                "narrow the time range or the filters"
            )
            return error_response(503, "query_timeout", message)
        if is_unavailable(exc):
            log.warning(
                "request.database_unavailable", path=request.url.path, error=type(exc).__name__
            )
            return error_response(
                503,
                "database_unavailable",
                "the database is unavailable; try again shortly",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        log.error("request.failed", path=request.url.path, error=type(exc).__name__, exc_info=exc)
        return error_response(500, "internal_error", "internal error")

    for error_class in (SQLAlchemyError, PostgresError, OSError, TimeoutError):
        app.add_exception_handler(error_class, _database_error)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> OrjsonResponse:
        log.exception("request.failed", error=type(exc).__name__)
        return error_response(500, "internal_error", "internal error")

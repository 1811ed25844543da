"""RFC 9457 problem details: the one shape every error response of the platform takes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.cursors import InvalidCursor
from shared.request_context import current_request_id
from shared.trace_ids import current_trace_id

PROBLEM_CONTENT_TYPE = "application/problem+json"
# An error answers one request at one moment, and may reflect it (the fields it sent, the
# order it named): no cache keeps one, nor serves it to anyone later (RFC 9111 §5.2.2.5).
_NOT_STORED = {"Cache-Control": "no-store"}


_DEFAULT_DETAILS = {
    404: "There is nothing at this path.",
    405: "This path does not accept this method.",
}


def problem_type(slug: str) -> str:
    """The type URI of one of the platform's named problems, such as `out-of-stock`."""
    return f"/problems/{slug}"


class Problem(Exception):
    """Raised by a handler (or mapped from a domain error) to answer with problem details."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        title: str | None = None,
        slug: str | None = None,
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or title or status_phrase(status))
        self.status = status
        self.detail = detail
        self.title = title
        self.type = problem_type(slug) if slug else "about:blank"
        self.headers = dict(headers or {})
        self.extensions = dict(extensions or {})


# RFC 9110's names where Python's `HTTPStatus` still has the older ones.
_PHRASES = {413: "Content Too Large", 414: "URI Too Long", 422: "Unprocessable Content"}


def status_phrase(status: int) -> str:
    return _PHRASES.get(status) or HTTPStatus(status).phrase


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    title: str | None = None,
    type_: str = "about:blank",
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> JSONResponse:
    phrase = status_phrase(status)
    # Extensions come first: none may replace a member that RFC 9457 or the contract defines.
    body: dict[str, Any] = {
        **(extensions or {}),
        "type": type_,
        "title": title or phrase,
        "status": status,
        "detail": detail or _DEFAULT_DETAILS.get(status, f"{phrase}."),
        "request_id": current_request_id(),
    }
    if (trace_id := current_trace_id()) is not None:  # while tracing is on
        body["trace_id"] = trace_id
    return JSONResponse(
        body,
        status_code=status,
        headers={**_NOT_STORED, **(headers or {})},
        media_type=PROBLEM_CONTENT_TYPE,
    )


def render_problem(problem: Problem) -> JSONResponse:
    return problem_response(
        problem.status,
        problem.detail,
        title=problem.title,
        type_=problem.type,
        headers=problem.headers,
        extensions=problem.extensions,
    )


def validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic's errors without `input` or `ctx`: they may echo secrets such as passwords."""
    return [
        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]} for error in errors
    ]


async def _handle_problem(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return render_problem(exc)


async def _handle_http_exception(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    phrase = status_phrase(exc.status_code)
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    return problem_response(exc.status_code, detail, headers=exc.headers)


async def _handle_invalid_cursor(_: Request, exc: Exception) -> JSONResponse:
    return problem_response(
        422,
        "The cursor is not valid: pass `next_cursor` from a previous page unchanged.",
        title="Unprocessable Content",
        type_=problem_type("validation-error"),
        extensions={
            "errors": [{"loc": ["query", "cursor"], "msg": "Invalid cursor", "type": "cursor"}]
        },
    )


async def _handle_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem_response(
        422,
        "The request is not valid; see `errors`.",
        title="Unprocessable Content",
        type_=problem_type("validation-error"),
        extensions={"errors": validation_errors(exc.errors())},
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Answer HTTP errors, validation errors and `Problem`s as problem+json.

    Unexpected exceptions are answered by `RequestContextMiddleware`, which also logs them.
    """
    app.add_exception_handler(Problem, _handle_problem)
    app.add_exception_handler(StarletteHTTPException, _handle_http_exception)
    app.add_exception_handler(RequestValidationError, _handle_validation_error)
    app.add_exception_handler(InvalidCursor, _handle_invalid_cursor)

"""RFC 9457 problem details: the one shape every error response of the platform takes.

Every problem has a type from the catalogue (`shared.problem_types`): a client can tell what
happened by `type` alone, and read at `/problems/<slug>` what to do about it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from shared.cursors import InvalidCursor
from shared.problem_types import (
    FOR_STATUS,
    MALFORMED_BODY,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    VALIDATION_ERROR,
    ProblemType,
)
from shared.request_context import current_request_id
from shared.trace_ids import current_trace_id

PROBLEM_CONTENT_TYPE = "application/problem+json"
# An error answers one request at one moment, and may reflect it (the fields it sent, the
# order it named): no cache keeps one, nor serves it to anyone later (RFC 9111 §5.2.2.5).
_NOT_STORED = {"Cache-Control": "no-store"}

_FRAMEWORK_DETAILS = {
    NOT_FOUND: "There is nothing at this path.",
    METHOD_NOT_ALLOWED: "This path does not accept this method.",
    # The framework's only 400: a body its JSON parser could not take (not UTF-8, too deep).
    MALFORMED_BODY: "The body cannot be read as JSON text in UTF-8.",
}


# RFC 9110's names where Python's `HTTPStatus` still has the older ones.
_PHRASES = {413: "Content Too Large", 414: "URI Too Long", 422: "Unprocessable Content"}


def status_phrase(status: int) -> str:
    return _PHRASES.get(status) or HTTPStatus(status).phrase


class Problem(Exception):
    """Raised by a handler (or mapped from a domain error) to answer with problem details."""

    def __init__(
        self,
        problem_type: ProblemType,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.problem_type = problem_type
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = dict(extensions or {})

    @property
    def status(self) -> int:
        return self.problem_type.status


def problem_response(
    problem_type: ProblemType,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> JSONResponse:
    # Extensions come first: none may replace a member that RFC 9457 or the contract defines.
    body: dict[str, Any] = {
        **(extensions or {}),
        "type": problem_type.uri,
        "title": problem_type.title,
        "status": problem_type.status,
        "detail": detail,
        "request_id": current_request_id(),
    }
    if (trace_id := current_trace_id()) is not None:  # while tracing is on
        body["trace_id"] = trace_id
    return JSONResponse(
        body,
        status_code=problem_type.status,
        headers={**_NOT_STORED, **(headers or {})},
        media_type=PROBLEM_CONTENT_TYPE,
    )


def render_problem(problem: Problem) -> JSONResponse:
    return problem_response(
        problem.problem_type,
        problem.detail,
        headers=problem.headers,
        extensions=problem.extensions,
    )


def validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic's errors without `input` or `ctx`: they may echo secrets such as passwords."""
    return [
        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]} for error in errors
    ]


def unreadable_body(exc: RequestValidationError) -> str | None:
    """Why the body of a failed request could not be read as JSON at all, if that is what
    failed: then it is a malformed body (400), not an invalid one (422)."""
    for error in exc.errors():
        if error["type"] == "json_invalid":
            reason = error.get("ctx", {}).get("error", "invalid JSON")
            return f"The body is not valid JSON: {reason} at character {error['loc'][-1]}."
    # The framework reads a body as JSON only when its Content-Type says JSON; otherwise it
    # hands on the bytes, which no JSON body validates against.
    if isinstance(exc.body, bytes | bytearray):
        return "The body must be JSON, sent with `Content-Type: application/json`."
    return None


async def _handle_problem(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return render_problem(exc)


async def _handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    # The statuses the framework raises (unmapped would be a bug: logged, and a 500).
    problem_type = FOR_STATUS[exc.status_code]
    headers = dict(exc.headers or {})
    if problem_type is METHOD_NOT_ALLOWED:
        headers["Allow"] = ", ".join(allowed_methods(request))
    return problem_response(problem_type, _FRAMEWORK_DETAILS[problem_type], headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method the request's path takes. The framework's 405 names those of the first
    route on the path only, and a path may have one route per method."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= route.methods or set()
    return sorted(methods)


async def _handle_invalid_cursor(_: Request, exc: Exception) -> JSONResponse:
    return problem_response(
        VALIDATION_ERROR,
        "The cursor is not valid: pass `next_cursor` from a previous page unchanged.",
        extensions={
            "errors": [{"loc": ["query", "cursor"], "msg": "Invalid cursor", "type": "cursor"}]
        },
    )


async def _handle_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if (reason := unreadable_body(exc)) is not None:
        return problem_response(MALFORMED_BODY, reason)
    return problem_response(
        VALIDATION_ERROR,
        "The request is not valid; see `errors`.",
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

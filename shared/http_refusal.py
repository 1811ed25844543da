"""A request the server refuses itself, before any app sees it, and its answer on the wire."""

from __future__ import annotations

import json
from collections.abc import Iterable

from shared.problem_types import ProblemType
from shared.problems import PROBLEM_CONTENT_TYPE, status_phrase

Headers = list[tuple[bytes, bytes]]


class Refusal(Exception):
    """A refusal's problem type, the detail its problem gives, and any headers to add."""

    def __init__(
        self, problem_type: ProblemType, detail: str, headers: Headers | None = None
    ) -> None:
        super().__init__(detail)
        self.problem_type = problem_type
        self.detail = detail
        self.headers = headers or []


def refusal_message(
    refusal: Refusal, request_id: str, default_headers: Iterable[tuple[bytes, bytes]]
) -> bytes:
    """The whole HTTP/1.1 response that answers `refusal`, announcing the connection's end."""
    problem_type = refusal.problem_type
    body = json.dumps(
        {
            "type": problem_type.uri,
            "title": problem_type.title,
            "status": problem_type.status,
            "detail": refusal.detail,
            "request_id": request_id,
        }
    ).encode()
    headers = [
        *default_headers,
        (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
        # What every answer of the platform carries (shared/request_context.py, problems).
        (b"x-content-type-options", b"nosniff"),
        (b"cache-control", b"no-store"),
        *refusal.headers,
        (b"connection", b"close"),
    ]
    status_line = (
        f"HTTP/1.1 {problem_type.status} {status_phrase(problem_type.status)}\r\n".encode()
    )
    fields = [name + b": " + value + b"\r\n" for name, value in headers]
    return b"".join([status_line, *fields, b"\r\n", body])

"""Request ids, the access log, the last-resort 500 and the headers every response carries,
as one pure ASGI middleware.

They belong together: the id must exist before anything logs, and the access log and the
500 answer must see every outcome, including an exception nothing else caught. Being the
one layer that sees every response start, it also adds `X-Content-Type-Options: nosniff`,
and, while tracing is on, `traceresponse` (the trace the server span began: `shared.trace_ids`).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterable
from contextvars import ContextVar

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.problem_types import INTERNAL_ERROR
from shared.trace_ids import current_request_trace, current_trace_id

logger = logging.getLogger("shared.access")

REQUEST_ID_HEADER = "x-request-id"
# Browsers take a response for what its Content-Type says, never for what its bytes look like:
# a JSON body that echoes input cannot be run as a script or rendered as HTML.
_NOSNIFF = (b"x-content-type-options", b"nosniff")
# The trace of the response, and the server's span in it (W3C Trace Context Level 2; what
# OpenTelemetry's `TraceResponsePropagator` writes): a client can name the trace of any answer.
TRACERESPONSE_HEADER = b"traceresponse"
# A client's id is kept when it is 1-128 visible ASCII characters; anything else is replaced,
# so that ids cannot inject into logs or headers.
_SANE_REQUEST_ID = re.compile(rb"[\x21-\x7e]{1,128}")
# Probes and scrapes would drown the log: they are logged at debug level.
_QUIET_PATH_PREFIXES = ("/health/", "/metrics")

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being served by this task, if any."""
    return _request_id.get()


def request_id_from(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The client's `X-Request-ID` if it is sane, else a new one (header names lower-case)."""
    for name, value in headers:
        if name == b"x-request-id" and _SANE_REQUEST_ID.fullmatch(value):
            return str(value.decode("ascii"))
    return str(uuid.uuid4())


def _internal_error_body(request_id: str) -> bytes:
    body = {
        "type": INTERNAL_ERROR.uri,
        "title": INTERNAL_ERROR.title,
        "status": INTERNAL_ERROR.status,
        "detail": "An unexpected error occurred; it has been logged.",
        "request_id": request_id,
    }
    if (trace_id := current_trace_id()) is not None:  # while tracing is on
        body["trace_id"] = trace_id
    return json.dumps(body).encode()


class RequestContextMiddleware:
    """Assigns the request id, echoes it in `X-Request-ID`, logs one line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = request_id_from(scope["headers"])
        context_token = _request_id.set(request_id)
        request_trace = current_request_trace()
        started_at = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = request_id
                # Appended, not set: nothing inside sets them (the gateway drops an upstream's).
                headers.raw.append(_NOSNIFF)
                if request_trace is not None:  # while tracing is on
                    headers.raw.append((TRACERESPONSE_HEADER, request_trace.traceparent))
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception:
            logger.exception("unhandled_exception", extra={"path": scope["path"]})
            if not response_started:
                body = _internal_error_body(request_id)
                await send_with_request_id(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store"),
                        ],
                    }
                )
                await send_with_request_id({"type": "http.response.body", "body": body})
        finally:
            self._log_access(scope, status, time.perf_counter() - started_at)
            _request_id.reset(context_token)

    @staticmethod
    def _log_access(scope: Scope, status: int, seconds: float) -> None:
        path: str = scope["path"]
        level = logging.DEBUG if path.startswith(_QUIET_PATH_PREFIXES) else logging.INFO
        if not logger.isEnabledFor(level):
            return
        route = scope.get("route")
        client = scope.get("client")
        logger.log(
            level,
            "request",
            extra={
                "method": scope["method"],
                "path": path,
                "route": getattr(route, "path", None),
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "client": client[0] if client else None,
            },
        )

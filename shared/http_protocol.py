"""uvicorn's httptools protocol with the limits a server on the internet needs.

httptools parses whatever arrives and uvicorn keeps all of it: a request head of any size
with any number of fields, trailer fields without end, and a connection that never finishes
its head stays open for ever. This protocol bounds each request head in bytes, fields and
time, caps the connections a process holds, and holds requests to RFC 9112 §3.2's one `Host`.
What it refuses is answered with a problem (application/problem+json) and the connection
closed; where no answer can be given any more, the connection is closed.

A head's bytes are counted before httptools sees them, so that an endless header is refused
as soon as it passes the limit, never buffered; the rest is checked once per request, when
its head is complete.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from shared.http_refusal import Refusal, refusal_message
from shared.problem_types import (
    BAD_REQUEST,
    REQUEST_HEADER_FIELDS_TOO_LARGE,
    REQUEST_TIMEOUT,
    TOO_MANY_CONNECTIONS,
    URI_TOO_LONG,
)
from shared.request_context import request_id_from
from shared.settings import ServiceSettings

logger = logging.getLogger("shared.http")

_NOT_HTTP = Refusal(BAD_REQUEST, "The request is not valid HTTP/1.1.")


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` within `settings`' limits (`guarded_protocol` binds them)."""

    settings: ClassVar[ServiceSettings]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.url = b""
        self.headers = []
        # From the end of one request until the next one's head is complete.
        self._is_reading_head = True
        # The bytes the head being read may still take; within a body, what its framing and
        # trailer fields may still take.
        self._head_room = self.settings.max_request_head_bytes
        self._head_timer: asyncio.TimerHandle | None = None
        self._has_body_data = False
        # Once refused, nothing more the client sends is read.
        self._is_refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.settings.max_connections:
            # Answered before the request is read: the client need not wait for a slot, and
            # a load balancer can try another replica.
            self.transport = transport
            logger.warning("connection_refused", extra={"open_connections": len(self.connections)})
            self._refuse(
                Refusal(
                    TOO_MANY_CONNECTIONS,
                    "The server has too many open connections; retry shortly.",
                    headers=[(b"retry-after", b"1")],
                )
            )
            return
        super().connection_made(transport)
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes | memoryview) -> None:
        self._unset_keepalive_if_required()
        if self._is_refused:
            return
        if not self._is_reading_head:
            self._receive_body(data)
            return
        if len(data) > self._head_room:
            self._receive_past_head_room(data)
            return
        self._head_room -= len(data)
        self._feed(data)
        if self._is_reading_head and self._head_room < self.settings.max_request_head_bytes:
            self._after_part_of_a_head()

    def _after_part_of_a_head(self) -> None:
        """A head began and has not ended (most arrive whole and never get here)."""
        if self._is_refused:
            return
        # Counted as they come: a head of tiny fields would otherwise hold thousands.
        if len(self.headers) > self.settings.max_header_fields:
            self._refuse(self._too_many_fields())
        elif self._head_timer is None:
            # From its first bytes, which came just now (an earlier request's answer ended
            # uvicorn's keep-alive wait for them).
            self._start_head_timer()

    def _receive_past_head_room(self, data: bytes | memoryview) -> None:
        """Feed only what fits in the head; the rest once the head has ended within it."""
        room, self._head_room = self._head_room, 0
        self._feed(memoryview(data)[:room])
        if self._is_refused:
            return
        if self._head_room == 0:  # not given a new room by the head's end: it did not end
            self._refuse(self._head_too_large())
            return
        self.data_received(memoryview(data)[room:])

    def _receive_body(self, data: bytes | memoryview) -> None:
        """The body's data is the app's to limit; its chunk framing and trailer fields, which
        httptools keeps whole, are held to the head's limits."""
        self._has_body_data = False
        self._feed(data)
        if self._is_reading_head or self._is_refused:
            return  # the request ended: its head limits start again
        if self.cycle.response_complete and self._head_timer is None:
            # Answered before its body was in: the rest of the body and the next head get
            # a head's time, so that a client trickling a body it was answered for is cut off.
            self._start_head_timer()
        if self._has_body_data:
            self._head_room = self.settings.max_request_head_bytes
            return
        self._head_room -= len(data)
        if self._head_room < 0 or len(self.headers) > self.settings.max_header_fields:
            self._drop("trailer fields over the head's limits")

    def _feed(self, data: bytes | memoryview) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            # A refusal raised in a parser callback comes back as the error's context.
            cause = error.__context__
            self._refuse(cause if isinstance(cause, Refusal) else _NOT_HTTP)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    # Parser callbacks

    def on_headers_complete(self) -> None:
        self._stop_head_timer()
        self._check_head()
        super().on_headers_complete()
        self._is_reading_head = False
        self._head_room = self.settings.max_request_head_bytes

    def on_body(self, body: bytes) -> None:
        self._has_body_data = True
        super().on_body(body)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._is_reading_head = True
        self._head_room = self.settings.max_request_head_bytes

    # The head's limits

    def _check_head(self) -> None:
        """Raises `Refusal` for a complete head over a limit or against the Host rules."""
        settings = self.settings
        if len(self.url) > settings.max_request_target_bytes:
            raise self._target_too_long()
        if len(self.headers) > settings.max_header_fields:
            raise self._too_many_fields()
        # No field can be longer than the bytes counted for its head, unless none were (the
        # head began in the same read as an earlier request ended).
        counted = settings.max_request_head_bytes - self._head_room
        if not 0 < counted <= settings.max_header_field_bytes:
            self._check_field_lengths()
        hosts = [name for name, _ in self.headers].count(b"host")
        if hosts > 1:
            raise Refusal(BAD_REQUEST, "The request has more than one Host header.")
        if not hosts and self.parser.get_http_version() == "1.1":
            raise Refusal(BAD_REQUEST, "An HTTP/1.1 request needs a Host header.")

    def _check_field_lengths(self) -> None:
        limit = self.settings.max_header_field_bytes
        if any(len(name) + len(value) > limit for name, value in self.headers):
            raise Refusal(
                REQUEST_HEADER_FIELDS_TOO_LARGE, f"A header field is longer than {limit} bytes."
            )

    def _head_too_large(self) -> Refusal:
        # Still in the request line: its target is what is too long.
        if not self.headers and len(self.url) > self.settings.max_request_target_bytes:
            return self._target_too_long()
        limit = self.settings.max_request_head_bytes
        return Refusal(
            REQUEST_HEADER_FIELDS_TOO_LARGE, f"The request head is larger than {limit} bytes."
        )

    def _target_too_long(self) -> Refusal:
        limit = self.settings.max_request_target_bytes
        return Refusal(URI_TOO_LONG, f"The request target is longer than {limit} bytes.")

    def _too_many_fields(self) -> Refusal:
        limit = self.settings.max_header_fields
        return Refusal(
            REQUEST_HEADER_FIELDS_TOO_LARGE, f"The request has more than {limit} header fields."
        )

    # The head's time

    def _start_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(
            self.settings.request_head_timeout_seconds, self._head_timed_out
        )

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._is_reading_head and self._head_room < self.settings.max_request_head_bytes:
            self._refuse(Refusal(REQUEST_TIMEOUT, "The request head did not arrive in time."))
        else:
            # Nothing of a request came (or only the rest of a body already answered).
            self.shutdown()

    # Refusals

    def _refuse(self, refusal: Refusal) -> None:
        if not self._is_reading_head:
            # Within a request's body: its app is the one to answer, if anyone.
            self._drop(refusal.detail)
            return
        self._is_refused = True
        self._stop_head_timer()
        request_id = request_id_from(self.headers)
        if refusal.problem_type.status != 503:
            logger.info(
                "request_refused",
                extra={
                    "status": refusal.problem_type.status,
                    "detail": refusal.detail,
                    "client": self.client[0] if self.client else None,
                    "request_id": request_id,
                },
            )
        message = refusal_message(refusal, request_id, self.server_state.default_headers)
        if self.cycle is not None and not self.cycle.response_complete:
            self._answer_after(self.cycle, message)
        else:
            self._close_with(message)

    def _answer_after(self, cycle: RequestResponseCycle, message: bytes) -> None:
        """Answer once `cycle`, the last request before the refused one (pipelined), is."""

        def answer_after_response() -> None:
            self.on_response_complete()
            if not self.transport.is_closing():
                self._close_with(message)

        cycle.on_response = answer_after_response
        self.flow.pause_reading()

    def _close_with(self, message: bytes) -> None:
        self.transport.write(message)
        self.transport.close()

    def _drop(self, reason: str) -> None:
        """Close without an answer: the request's own answer may be under way."""
        self._is_refused = True
        self._stop_head_timer()
        client = self.client[0] if self.client else None
        logger.info("connection_dropped", extra={"reason": reason, "client": client})
        self.transport.close()


def guarded_protocol(settings: ServiceSettings) -> type[GuardedHttpToolsProtocol]:
    """The protocol class for uvicorn's `http` option, bound to `settings`' limits."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"settings": settings})

"""The protocol every service is served with, over real sockets: request heads bounded in
bytes, fields and time, the Host rules, and a cap on open connections."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from shared.settings import ServiceSettings
from tests.support.raw_http import (
    RawResponse,
    address_of,
    exchange,
    parse_response,
    read_until_closed,
    trickle_bytes,
    trickle_head,
)
from tests.support.servers import eventually, production_config, running_uvicorn

# Limits at their defaults; times short, so that the tests of time limits are quick.
SETTINGS = ServiceSettings(request_head_timeout_seconds=1.0, keep_alive_timeout_seconds=1)
MiB = 1024 * 1024


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """`/early` answers without reading the body; anything else answers with the size of the
    body it read."""
    if scope["type"] != "http":
        return
    size = 0
    if scope["path"] != "/early":
        more = True
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
    body = str(size).encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def serve(settings: ServiceSettings) -> Iterator[tuple[str, uvicorn.Server]]:
    with running_uvicorn(production_config(app, settings)) as served:
        yield served


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, uvicorn.Server]]:
    yield from serve(SETTINGS)


@pytest.fixture(scope="module")
def base_url(served: tuple[str, uvicorn.Server]) -> str:
    return served[0]


def request(head_fields: bytes = b"Host: test\r\n", target: bytes = b"/") -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\n" + head_fields + b"Connection: close\r\n\r\n"


def assert_problem(response: RawResponse, status: int) -> None:
    assert response.status == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["connection"] == "close"
    problem = response.json()
    assert problem["status"] == status
    assert {"type", "title", "detail"} <= problem.keys()
    assert problem["request_id"] == response.headers["x-request-id"]
    # As every answer of the platform: never sniffed, never stored.
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def test_an_ordinary_request_is_served(base_url: str) -> None:
    assert exchange(base_url, request()).response.status == 200


def test_a_one_mebibyte_header_is_431(base_url: str) -> None:
    big = b"X-Big: " + b"a" * MiB + b"\r\n"

    response = exchange(base_url, request(b"Host: test\r\n" + big)).response

    assert_problem(response, 431)


def test_a_hundred_thousand_header_fields_are_431(base_url: str) -> None:
    fields = b"".join(b"X-%d: 1\r\n" % number for number in range(100_000))

    response = exchange(base_url, request(b"Host: test\r\n" + fields)).response

    assert_problem(response, 431)


def test_more_header_fields_than_the_limit_in_a_small_head_are_431(base_url: str) -> None:
    fields = b"".join(b"X-%d: 1\r\n" % number for number in range(SETTINGS.max_header_fields))

    response = exchange(base_url, request(b"Host: test\r\n" + fields)).response

    assert_problem(response, 431)
    assert "header fields" in response.json()["detail"]


def test_a_header_field_over_its_limit_is_431_in_a_head_within_its_own(base_url: str) -> None:
    field = b"X-Long: " + b"a" * SETTINGS.max_header_field_bytes + b"\r\n"

    response = exchange(base_url, request(b"Host: test\r\n" + field)).response

    assert_problem(response, 431)
    assert "header field is longer" in response.json()["detail"]


def test_heads_at_the_limits_are_served(base_url: str) -> None:
    limit = SETTINGS.max_header_field_bytes
    fields = [b"Host: test\r\n", b"X-Long: " + b"a" * (limit - len(b"x-long")) + b"\r\n"]
    fields += [b"X-%d: 1\r\n" % number for number in range(SETTINGS.max_header_fields - 3)]

    response = exchange(base_url, request(b"".join(fields))).response

    assert response.status == 200


def test_an_unterminated_16_mib_header_is_refused_without_being_read(
    served: tuple[str, uvicorn.Server],
) -> None:
    base_url, server = served
    endless = b"GET / HTTP/1.1\r\nHost: test\r\nX-Endless: " + b"a" * (16 * MiB)

    result = exchange(base_url, endless)

    assert result.answer == b"" or parse_response(result.answer).status == 431
    # The server stopped reading: the kernel's buffers hold a few MiB at most.
    assert result.bytes_sent < 16 * MiB
    wait_for_no_connections(server)


def test_a_request_target_over_its_limit_is_414(base_url: str) -> None:
    target = b"/" + b"a" * SETTINGS.max_request_target_bytes

    response = exchange(base_url, request(target=target)).response

    assert_problem(response, 414)


def test_a_request_line_longer_than_a_whole_head_is_414(base_url: str) -> None:
    target = b"/" + b"a" * MiB

    response = exchange(base_url, request(target=target)).response

    assert_problem(response, 414)


def test_two_host_headers_are_400(base_url: str) -> None:
    response = exchange(base_url, request(b"Host: test\r\nHost: other\r\n")).response

    assert_problem(response, 400)
    assert response.json()["detail"] == "The request has more than one Host header."


def test_an_http_1_1_request_without_host_is_400(base_url: str) -> None:
    response = exchange(base_url, request(b"")).response

    assert_problem(response, 400)
    assert response.json()["detail"] == "An HTTP/1.1 request needs a Host header."


def test_an_http_1_0_request_without_host_is_served(base_url: str) -> None:
    assert exchange(base_url, b"GET / HTTP/1.0\r\n\r\n").response.status == 200


def test_an_http_1_0_request_with_two_hosts_is_400(base_url: str) -> None:
    response = exchange(base_url, b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n").response

    assert_problem(response, 400)


def test_what_is_not_http_is_a_400_problem(base_url: str) -> None:
    assert_problem(exchange(base_url, b"NOT HTTP AT ALL\r\n\r\n").response, 400)


def test_a_refusal_carries_the_client_request_id_when_it_came_first(base_url: str) -> None:
    head = b"Host: test\r\nX-Request-ID: client-id-1\r\nX-Big: " + b"a" * MiB + b"\r\n"

    response = exchange(base_url, request(head)).response

    assert response.headers["x-request-id"] == "client-id-1"
    assert response.json()["request_id"] == "client-id-1"


def test_a_refusal_without_a_client_request_id_gets_a_new_one(base_url: str) -> None:
    response = exchange(base_url, request(b"")).response

    assert uuid.UUID(response.json()["request_id"])


def test_a_large_body_in_the_same_packet_as_its_head_is_body_not_head(base_url: str) -> None:
    body = b"b" * MiB
    head = b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n" % len(body)

    response = exchange(base_url, head + b"Connection: close\r\n\r\n" + body).response

    assert (response.status, response.body) == (200, str(MiB).encode())


def test_each_request_on_a_connection_has_a_head_limit_of_its_own(base_url: str) -> None:
    field = b"X-Filler: " + b"f" * 1000 + b"\r\n"
    one = b"GET / HTTP/1.1\r\nHost: test\r\n" + field + b"\r\n"
    count = 3 * SETTINGS.max_request_head_bytes // len(one)

    answer = exchange(base_url, one * count + request()).answer

    assert answer.count(b"HTTP/1.1 200 ") == count + 1


def test_a_bad_request_pipelined_after_a_good_one_is_refused_after_its_answer(
    base_url: str,
) -> None:
    good = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"

    answer = exchange(base_url, good + request(b"")).answer

    first, _, second = answer.partition(b"HTTP/1.1 400 ")
    assert parse_response(first).status == 200
    assert_problem(parse_response(b"HTTP/1.1 400 " + second), 400)


def test_endless_trailer_fields_are_cut_off(served: tuple[str, uvicorn.Server]) -> None:
    base_url, server = served
    head = b"POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"3\r\nabc\r\n0\r\nX-Trailer: " + b"t" * (16 * MiB)

    result = exchange(base_url, head + body)

    assert result.bytes_sent < 16 * MiB
    wait_for_no_connections(server)


def wait_for_no_connections(server: uvicorn.Server) -> None:
    asyncio.run(eventually(lambda: not server.server_state.connections, "connections closed"))


# Time limits


async def test_a_connection_that_sends_nothing_is_closed_without_an_answer(base_url: str) -> None:
    reader, writer = await asyncio.open_connection(*address_of(base_url))
    try:
        async with asyncio.timeout(10):
            assert await read_until_closed(reader) == b""
    finally:
        writer.close()


async def test_a_head_trickled_past_its_time_is_cut_off_with_408(base_url: str) -> None:
    reader, writer = await asyncio.open_connection(*address_of(base_url))
    trickle = asyncio.create_task(trickle_head(writer))
    try:
        async with asyncio.timeout(10):
            answer = await read_until_closed(reader)
    finally:
        trickle.cancel()
        writer.close()

    assert_problem(parse_response(answer), 408)


async def test_an_idle_keep_alive_connection_is_closed(base_url: str) -> None:
    reader, writer = await asyncio.open_connection(*address_of(base_url))
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        async with asyncio.timeout(10):
            answer = await read_until_closed(reader)
    finally:
        writer.close()

    assert parse_response(answer).status == 200  # answered, kept alive, then closed when idle


async def test_a_body_trickled_after_its_answer_is_cut_off(base_url: str) -> None:
    reader, writer = await asyncio.open_connection(*address_of(base_url))
    writer.write(b"POST /early HTTP/1.1\r\nHost: test\r\nContent-Length: 1000000\r\n\r\nabc")
    trickle = asyncio.create_task(trickle_bytes(writer))
    try:
        async with asyncio.timeout(10):
            answer = await read_until_closed(reader)
    finally:
        trickle.cancel()
        writer.close()

    assert parse_response(answer).status == 200


# Open connections


def test_a_connection_past_the_cap_is_answered_503_and_closed() -> None:
    # Times long enough that the server closes none of the three itself.
    settings = ServiceSettings(
        max_connections=3, request_head_timeout_seconds=60, keep_alive_timeout_seconds=60
    )
    for base_url, server in serve(settings):
        with open_connections(base_url, 3):
            response = exchange(base_url, b"").response

        assert_problem(response, 503)
        assert response.headers["retry-after"] == "1"
        # Once those are gone, a connection is served again.
        wait_for_no_connections(server)
        assert exchange(base_url, request()).response.status == 200


@contextmanager
def open_connections(base_url: str, count: int) -> Iterator[None]:
    """`count` keep-alive connections, each answered once: the server holds them all."""
    with ExitStack() as stack:
        for _ in range(count):
            connection = stack.enter_context(socket.create_connection(address_of(base_url)))
            connection.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            assert connection.recv(65536).startswith(b"HTTP/1.1 200 ")
        yield

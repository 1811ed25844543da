"""HTTP/1.1 as raw bytes over a socket, for requests no client library would send."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CHUNK = 64 * 1024


def address_of(base_url: str) -> tuple[str, int]:
    host, port = base_url.removeprefix("http://").split(":")
    return host, int(port)


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-case names; a repeated field's last value
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def parse_response(answer: bytes) -> RawResponse:
    """The first response in `answer` (framed by Content-Length)."""
    head, _, rest = answer.partition(b"\r\n\r\n")
    status_line, *fields = head.decode("latin-1").split("\r\n")
    headers = {}
    for field in fields:
        name, _, value = field.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", len(rest)))
    return RawResponse(int(status_line.split(" ", 2)[1]), headers, rest[:length])


@dataclass(frozen=True)
class Exchange:
    answer: bytes  # everything the server sent until it closed
    bytes_sent: int  # what the server let the client send before it closed

    @property
    def response(self) -> RawResponse:
        return parse_response(self.answer)


def exchange(base_url: str, payload: bytes, timeout: float = 10.0) -> Exchange:
    """Send `payload` (as much of it as the server takes), then read until the server closes."""
    sent = 0
    with socket.create_connection(address_of(base_url), timeout=timeout) as connection:
        try:
            while sent < len(payload):
                sent += connection.send(payload[sent : sent + CHUNK])
        except OSError:
            pass  # closed by the server: what it answered before is still there to read
        answer = bytearray()
        try:
            while chunk := connection.recv(CHUNK):
                answer += chunk
        except ConnectionResetError:
            pass
    return Exchange(bytes(answer), sent)


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (a reset counts as closed)."""
    answer = bytearray()
    try:
        while chunk := await reader.read(CHUNK):
            answer += chunk
    except ConnectionResetError:
        pass
    return bytes(answer)


async def trickle_head(writer: asyncio.StreamWriter, interval: float = 0.2) -> None:
    """A request line, then a header field every `interval` seconds, until the server closes."""
    writer.write(b"GET / HTTP/1.1\r\nHost: test\r\n")
    await trickle(writer, interval, lambda number: b"X-Trickle-%d: 1\r\n" % number)


async def trickle_bytes(writer: asyncio.StreamWriter, interval: float = 0.2) -> None:
    """A byte every `interval` seconds, until the server closes."""
    await trickle(writer, interval, lambda _: b"x")


async def trickle(
    writer: asyncio.StreamWriter, interval: float, piece: Callable[[int], bytes]
) -> None:
    for number in range(10_000):
        await asyncio.sleep(interval)
        try:
            writer.write(piece(number))
            await writer.drain()
        except ConnectionError:
            return

"""`python -m bench.protocol guarded|uvicorn REQUESTS`: what the services' HTTP protocol costs
per request against uvicorn's own, with nothing else in the way.

Keep-alive `GET`s with a browser's header fields go through `data_received` to a trivial app,
on uvloop, without sockets; one protocol per process, so that a tool that times whole
processes can alternate the two (README, "Security"):

    farm-bench -n 10 --vs '.venv/bin/python -m bench.protocol uvicorn 200000' \\
        -- .venv/bin/python -m bench.protocol guarded 200000
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import uvicorn
import uvloop
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from shared.http_protocol import guarded_protocol
from shared.settings import ServiceSettings

REQUEST = (
    b"GET /health/live HTTP/1.1\r\n"
    b"Host: api.example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    b"Accept: application/json\r\n"
    b"Accept-Language: en-GB,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Authorization: Bearer " + b"t" * 600 + b"\r\n"
    b"Connection: keep-alive\r\n"
    b"X-Request-ID: 9b2f4c1e-bench\r\n"
    b"\r\n"
)


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


class _Transport(asyncio.Transport):
    """Takes what the protocol writes and counts it."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0
        self.is_closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        addresses = {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}
        return addresses.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += len(data)

    def is_closing(self) -> bool:
        return self.is_closed

    def close(self) -> None:
        self.is_closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def serve_requests(protocol_name: str, requests: int) -> float:
    """CPU seconds per request for `requests` requests on one keep-alive connection."""
    config = uvicorn.Config(_app, log_config=None, access_log=False, lifespan="off")
    config.load()
    protocol_class = (
        guarded_protocol(ServiceSettings()) if protocol_name == "guarded" else HttpToolsProtocol
    )
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
    transport = _Transport()
    protocol.connection_made(transport)
    started = time.process_time()
    for _ in range(requests):
        protocol.data_received(REQUEST)
        await asyncio.sleep(0)  # the request's task runs to its end
    seconds = time.process_time() - started
    if transport.is_closed or transport.written < requests * len(b"HTTP/1.1 200 OK\r\n"):
        raise RuntimeError("the requests were not all answered")
    return seconds / requests


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.protocol")
    parser.add_argument("protocol", choices=["guarded", "uvicorn"])
    parser.add_argument("requests", type=int)
    args = parser.parse_args()
    seconds = uvloop.run(serve_requests(args.protocol, args.requests))
    print(f"{args.protocol}: {seconds * 1e6:.2f} µs of CPU per request")


if __name__ == "__main__":
    main()

"""A raw TCP server that misbehaves on cue: real sockets, real resets, no mocks."""

from __future__ import annotations

import re
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum


class Behaviour(StrEnum):
    OK = "ok"  # 200 with a short body
    UNAVAILABLE = "unavailable"  # 503
    RESET = "reset"  # reads the request, then resets the connection without answering
    CUT = "cut"  # starts a 200 with a long body, then resets midway
    HANG = "hang"  # reads the request and never answers


# One request per connection, so that every request meets the script afresh.
_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
_UNAVAILABLE = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_CUT = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000


def _read_request(connection: socket.socket) -> bool:
    """Reads a whole request, its body included, as an HTTP server does before it answers;
    False when the peer closed the connection first."""
    received = b""

    def more() -> bool:
        nonlocal received
        chunk = connection.recv(65536)
        received += chunk
        return bool(chunk)

    while b"\r\n\r\n" not in received:
        if not more():
            return False
    head, _, received = received.partition(b"\r\n\r\n")
    headers = head.lower()
    if b"transfer-encoding: chunked" in headers:
        while not received.endswith(b"0\r\n\r\n"):
            if not more():
                return False
    elif match := re.search(rb"content-length: *(\d+)", headers):
        while len(received) < int(match.group(1)):
            if not more():
                return False
    return True


class ScriptedServer:
    """Answers its n-th connection with `script[n]`, and every later one with `then`."""

    def __init__(self, script: list[Behaviour], then: Behaviour = Behaviour.OK) -> None:
        self.script = list(script)
        self.then = then
        self.connections = 0
        self._stopped = threading.Event()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen()
        self._listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            behaviour = self.script.pop(0) if self.script else self.then
            self.connections += 1
            threading.Thread(target=self._answer, args=(connection, behaviour), daemon=True).start()

    def _answer(self, connection: socket.socket, behaviour: Behaviour) -> None:
        with connection:
            connection.settimeout(5)
            if not _read_request(connection):
                return
            if behaviour is Behaviour.OK:
                connection.sendall(_OK)
            elif behaviour is Behaviour.UNAVAILABLE:
                connection.sendall(_UNAVAILABLE)
            elif behaviour is Behaviour.HANG:
                self._stopped.wait(30)
                return
            elif behaviour is Behaviour.CUT:
                connection.sendall(_CUT)
            # RESET and CUT: linger 0 makes close() send RST, as a crashed peer would.
            if behaviour in (Behaviour.RESET, Behaviour.CUT):
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    @contextmanager
    def running(self) -> Iterator[ScriptedServer]:
        thread = threading.Thread(target=self._serve, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stopped.set()
            thread.join(timeout=5)
            self._listener.close()

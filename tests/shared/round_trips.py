"""A relay in front of Postgres that counts the round trips its clients make.

A client waits for the server once per Sync message (the extended protocol: parse, bind,
execute, ...) and once per Query message (the simple protocol: BEGIN, COMMIT, ...), so
counting those two in what the clients send counts round trips, pings and transaction
control included, whatever the driver does.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from types import TracebackType

from sqlalchemy.engine import make_url

_CHUNK_BYTES = 64 * 1024
# Requests a client may send before its startup message; none of them has a type byte.
_SSL_REQUEST, _GSSENC_REQUEST = 80877103, 80877104
_PRE_STARTUP_CODES = frozenset({_SSL_REQUEST, _GSSENC_REQUEST})
_ROUND_TRIP_MESSAGES = frozenset({b"S", b"Q"})


class RoundTripCounter:
    """Relays 127.0.0.1:`port` to a Postgres server; `round_trips` counts, over every
    relayed connection, the messages after which a client waits for the server."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self.round_trips = 0
        self._server: asyncio.Server | None = None
        self._relays: set[asyncio.Task[None]] = set()

    @classmethod
    def in_front_of(cls, database_url: str) -> RoundTripCounter:
        url = make_url(database_url)
        return cls(url.host or "127.0.0.1", url.port or 5432)

    def url_through(self, database_url: str) -> str:
        """`database_url`, reaching its server through this relay (without TLS, which would
        hide the messages)."""
        url = make_url(database_url).set(host="127.0.0.1", port=self.port)
        url = url.update_query_dict({"ssl": "disable"})
        return url.render_as_string(hide_password=False)

    async def __aenter__(self) -> RoundTripCounter:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
        for relay in list(self._relays):
            relay.cancel()
        await asyncio.gather(*self._relays, return_exceptions=True)

    async def _accept(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        relay = asyncio.current_task()
        assert relay is not None
        self._relays.add(relay)
        upstream: asyncio.StreamWriter | None = None
        try:
            upstream_reader, upstream = await asyncio.open_connection(
                self.target_host, self.target_port
            )
            async with asyncio.TaskGroup() as pumps:
                pumps.create_task(self._pump_counting(client_reader, upstream))
                pumps.create_task(self._pump(upstream_reader, client))
        except* OSError:
            pass
        finally:
            self._relays.discard(relay)
            for writer in (client, upstream):
                if writer is not None:
                    writer.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(_CHUNK_BYTES):
            writer.write(data)
            await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()

    async def _pump_counting(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Relays what the client sends, message by message, counting as it goes."""
        with contextlib.suppress(asyncio.IncompleteReadError):
            while True:  # the untyped requests, up to the startup message
                header = await reader.readexactly(8)
                length, code = struct.unpack("!ii", header)
                writer.write(header + await reader.readexactly(length - 8))
                await writer.drain()
                if code not in _PRE_STARTUP_CODES:
                    break
            while True:  # typed messages: a type byte, then a length that counts itself
                header = await reader.readexactly(5)
                (length,) = struct.unpack("!i", header[1:])
                if header[:1] in _ROUND_TRIP_MESSAGES:
                    self.round_trips += 1
                writer.write(header + await reader.readexactly(length - 4))
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()

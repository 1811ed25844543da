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

from sqlalchemy.engine import make_url

from tests.support.tcp_forwarder import TcpForwarder

# Requests a client may send before its startup message; none of them has a type byte.
_SSL_REQUEST, _GSSENC_REQUEST = 80877103, 80877104
_PRE_STARTUP_CODES = frozenset({_SSL_REQUEST, _GSSENC_REQUEST})
_ROUND_TRIP_MESSAGES = frozenset({b"S", b"Q"})
_EXECUTE = b"E"


class RoundTripCounter(TcpForwarder):
    """A forwarder to a Postgres server; `round_trips` counts, over every relayed
    connection, the messages after which a client waits for the server, and `executions` the
    statements it runs with the extended protocol (a driver may send several before it waits:
    asyncpg's `executemany`)."""

    round_trips = 0
    executions = 0

    def url_through(self, database_url: str) -> str:
        """`database_url`, reaching its server through this relay (without TLS, which would
        hide the messages)."""
        url = make_url(super().url_through(database_url))
        return url.update_query_dict({"ssl": "disable"}).render_as_string(hide_password=False)

    async def _pump_from_client(
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
                elif header[:1] == _EXECUTE:
                    self.executions += 1
                writer.write(header + await reader.readexactly(length - 4))
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()

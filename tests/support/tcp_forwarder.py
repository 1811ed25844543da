"""A TCP forwarder in front of a real server, which a test can cut, stall and restore.

It stands between a service and its Postgres so that a test can take the database away
(and give it back) without touching the server the rest of the suite shares.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Self

from sqlalchemy.engine import make_url

_CHUNK_BYTES = 64 * 1024


class TcpForwarder:
    """Relays 127.0.0.1:`port` to `target_host`:`target_port`, on the running event loop.

    `cut()` stops listening and closes every relayed connection: new connections are refused
    and the pooled ones break. `stall()` keeps accepting but relays nothing, as a hung server
    or a black-holed network would. `restore()` undoes either, on the same port.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        # 0 until the first `listen`, then the port it took, kept across `cut` and `restore`.
        self.port = 0
        self._server: asyncio.Server | None = None
        self._relays: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        # Set while bytes flow; cleared by `stall()`.
        self._flowing = asyncio.Event()
        self._flowing.set()

    @classmethod
    def in_front_of(cls, database_url: str) -> Self:
        """A forwarder to the server of `database_url` (Postgres's port if it names none)."""
        url = make_url(database_url)
        return cls(url.host or "127.0.0.1", url.port or 5432)

    def url_through(self, database_url: str) -> str:
        """`database_url`, reaching its server through this forwarder."""
        url = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    def settings_through(self, database_url: str, timeout_seconds: float) -> dict[str, object]:
        """Database settings for a service that reaches `database_url` through this forwarder
        and gives up on it quickly (every timeout `timeout_seconds`)."""
        return {
            "database_url": self.url_through(database_url),
            "database_connect_timeout_seconds": timeout_seconds,
            "database_command_timeout_seconds": timeout_seconds,
            "database_pool_timeout_seconds": timeout_seconds,
        }

    async def __aenter__(self) -> Self:
        await self._listen()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.cut()

    async def cut(self) -> None:
        """Refuse new connections and break the established ones."""
        if self._server is not None:
            self._server.close()
            self._server = None
        self._flowing.set()
        for writer in list(self._writers):
            # abort(), not close(): a vanished peer does not say goodbye.
            writer.transport.abort()
        # The relays end by themselves on their aborted connections. (Cancelling them would
        # trip asyncio's stream callback, which reads a cancelled task's exception.)
        await asyncio.gather(*self._relays, return_exceptions=True)

    def stall(self) -> None:
        """Accept connections but relay nothing, on new and established connections alike."""
        self._flowing.clear()

    async def restore(self) -> None:
        """Relay again: listen on the same port if cut, let bytes flow if stalled."""
        self._flowing.set()
        if self._server is None:
            await self._listen()

    async def _listen(self) -> None:
        # SO_REUSEADDR: the port of the connections just cut may linger in TIME_WAIT.
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        relay = asyncio.current_task()
        assert relay is not None
        self._relays.add(relay)
        self._writers.add(client)
        upstream: asyncio.StreamWriter | None = None
        try:
            upstream_reader, upstream = await asyncio.open_connection(
                self.target_host, self.target_port
            )
            self._writers.add(upstream)
            async with asyncio.TaskGroup() as pumps:
                pumps.create_task(self._pump_from_client(client_reader, upstream))
                pumps.create_task(self._pump(upstream_reader, client))
        except* OSError:
            pass  # Either side went away: the relay ends with the connection.
        finally:
            self._relays.discard(relay)
            for writer in (client, upstream):
                if writer is not None:
                    self._writers.discard(writer)
                    writer.transport.abort()

    async def _pump_from_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """What the client sends, on its way to the server (a subclass may look at it)."""
        await self._pump(reader, writer)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(_CHUNK_BYTES):
            await self._flowing.wait()
            writer.write(data)
            await writer.drain()
        # The sender closed its side: pass the end of the stream on.
        with contextlib.suppress(OSError):
            writer.write_eof()

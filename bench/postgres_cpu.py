"""Postgres's own CPU time for one process's requests: that of the backends serving the
process's connections. They are found by the connections' client ports (the process's sockets
in `/proc`, the backends' `client_port` in `pg_stat_activity`), which needs no setting in the
process measured, and their CPU time is read from `/proc`, to the nanosecond where the kernel
keeps it (Postgres on this machine, reached over TCP)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from bench.processes import cpu_seconds

_THIS_MACHINE = {"127.0.0.1", "localhost", "::1"}
_BACKENDS = (
    "SELECT pid FROM pg_stat_activity"
    " WHERE backend_type = 'client backend' AND client_port = ANY($1::int[])"
)


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for descriptor in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(descriptor)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target.removeprefix("socket:[").removesuffix("]"))
    return inodes


def on_cpu_seconds(pid: int) -> float:
    """A backend's time on a CPU so far, to the nanosecond (`/proc/<pid>/schedstat`): a paced
    run on one connection may cost its backend a few hundred ms, where `cpu_seconds`'s 10 ms
    ticks would be some percent. Without it (a kernel that does not keep it), in ticks."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return cpu_seconds(pid)


def _port(address: str) -> int:
    """A port as `/proc/net/tcp` writes it after its address (`0100007F:1538`)."""
    return int(address.rpartition(":")[2], 16)


def client_ports(pid: int, server_port: int) -> set[int]:
    """The local ports of the process's TCP connections to `server_port`."""
    inodes = _socket_inodes(pid)
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if inode in inodes and _port(remote) == server_port:
                ports.add(_port(local))
    return ports


class PostgresCpu:
    """Reads the backends of a process's connections to the Postgres at `admin_url`."""

    def __init__(self, admin_url: str) -> None:
        url = make_url(admin_url)
        # Elsewhere, or through a Unix socket, its backends are not to be found in `/proc`
        # by client port.
        if url.host not in _THIS_MACHINE:
            raise ValueError(
                f"Postgres's CPU is read on this machine, over TCP: {url.host or 'no host'} will"
                " not do (give 127.0.0.1)"
            )
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._port = url.port or 5432

    async def _backends(self, ports: set[int]) -> list[int]:
        connection = await asyncpg.connect(self._dsn)
        try:
            return [row["pid"] for row in await connection.fetch(_BACKENDS, sorted(ports))]
        finally:
            await connection.close()

    def seconds_by_backend(self, pid: int) -> dict[int, float]:
        """The CPU time each backend of the process's connections has spent so far."""
        backends = asyncio.run(self._backends(client_ports(pid, self._port)))
        return {backend: on_cpu_seconds(backend) for backend in backends}


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two readings (a backend that came meanwhile, all of its)."""
    return sum(seconds - before.get(backend, 0.0) for backend, seconds in after.items())

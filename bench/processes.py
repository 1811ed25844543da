"""The processes under test: started, awaited until healthy, and read from `/proc` (CPU time
and memory) without disturbing them."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

_CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def _ephemeral_ports_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on, below the ephemeral range: the stack's own
    outgoing connections (to Postgres, between the services) cannot take it before its
    server binds it, as they can a port the kernel picked."""
    start = _ephemeral_ports_start()
    for _ in range(1000):
        port = 10_000 + secrets.randbelow(start - 10_000)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def free_ports(count: int) -> list[int]:
    """`count` different free ports (`free_port`): each is free only until its server binds
    it, so two drawn for one stack must not be the same."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return children


def _tree(pid: int) -> list[int]:
    """The process and its descendants (nginx's workers, say)."""
    tree = [pid]
    for child in _children(pid):
        tree += _tree(child)
    return tree


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time spent so far by the process and its descendants."""
    total_ticks = 0
    for member in _tree(pid):
        try:
            stat = Path(f"/proc/{member}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces: the fields that follow come after its `)`.
        fields = stat.rsplit(")", 1)[1].split()
        total_ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return total_ticks / _CLOCK_TICKS_PER_SECOND


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(f"{field} not in /proc/{pid}/status")


def rss_mib(pid: int) -> float:
    """Resident memory now, of the process and its descendants."""
    return sum(_status_kib(member, "VmRSS") for member in _tree(pid)) / 1024


def peak_rss_mib(pid: int) -> float:
    """The most resident memory each member of the tree ever had (VmHWM), summed."""
    return sum(_status_kib(member, "VmHWM") for member in _tree(pid)) / 1024


@dataclass
class Process:
    """One process under test; its output goes to `log`, read when it fails."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(
        cls, name: str, command: Sequence[str], env: Mapping[str, str], log_dir: Path
    ) -> Process:
        log = log_dir / f"{name}.log"
        with log.open("wb") as output:
            popen = subprocess.Popen(  # noqa: S603 - our own commands, no shell
                command, env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT
            )
        return cls(name, popen, log)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def wait_until_healthy(self, url: str, timeout_seconds: float = 120.0) -> None:
        """Polls `url` until it answers 200; fails early, with the log, if the process dies.

        The deadline is generous: on a busy machine (a test run beside other work) a service
        has taken over 30 s to import and start.
        """
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(
            f"{self.name} was not healthy after {timeout_seconds} s:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=25)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def run(command: Sequence[str], env: Mapping[str, str]) -> None:
    """A one-shot command (a migration, a key): its output only shows when it fails."""
    done = subprocess.run(  # noqa: S603 - our own commands, no shell
        command, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")

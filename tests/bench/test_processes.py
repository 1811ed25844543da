from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.processes import (
    Process,
    cpu_seconds,
    free_port,
    free_ports,
    peak_rss_mib,
    rss_mib,
)
from bench.profile import summary

# Burns CPU for a while in a child of its own, as nginx's workers do for their master.
_PARENT_OF_A_BUSY_CHILD = (
    "import subprocess, sys;subprocess.run([sys.executable, '-c', 'while True: pass'], timeout=30)"
)


@pytest.fixture
def busy_family() -> Iterator[subprocess.Popen[bytes]]:
    parent = subprocess.Popen([sys.executable, "-c", _PARENT_OF_A_BUSY_CHILD])
    yield parent
    for child in Path(f"/proc/{parent.pid}/task/{parent.pid}/children").read_text().split():
        os.kill(int(child), 9)
    parent.kill()
    parent.wait()


def test_cpu_time_counts_the_children_too(busy_family: subprocess.Popen[bytes]) -> None:
    # The parent only waits: whatever CPU time shows up was its child's.
    deadline = time.monotonic() + 20
    while cpu_seconds(busy_family.pid) < 0.5 and time.monotonic() < deadline:
        time.sleep(0.05)

    assert cpu_seconds(busy_family.pid) >= 0.5


def test_memory_is_read_for_the_process_and_its_peak() -> None:
    now, peak = rss_mib(os.getpid()), peak_rss_mib(os.getpid())

    assert 10 < now <= peak


def test_a_process_that_exits_early_fails_with_its_log(tmp_path: Path) -> None:
    process = Process.start(
        "doomed", [sys.executable, "-c", "print('cannot start: no config')"], {}, tmp_path
    )

    with pytest.raises(RuntimeError, match="cannot start: no config"):
        process.wait_until_healthy(f"http://127.0.0.1:{free_port()}/health", timeout_seconds=10)


def test_the_profile_summary_ranks_functions_by_own_and_inclusive_time() -> None:
    collapsed = "main;handle;send 6\nmain;handle 2\nmain;parse 2\n"

    text = summary(collapsed)

    own, inclusive = text.split("with callees:")
    assert own.splitlines()[3:6] == [" 60.0%  send", " 20.0%  handle", " 20.0%  parse"]
    assert inclusive.splitlines()[1:3] == ["100.0%  main", " 80.0%  handle"]


def test_a_free_port_is_outside_the_range_outgoing_connections_take() -> None:
    start = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])

    ports = {free_port() for _ in range(20)}

    assert all(10_000 <= port < start for port in ports)


def test_the_ports_drawn_for_one_stack_differ_even_when_a_draw_repeats(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    draws = iter([5, 5, 7, 5, 9])
    monkeypatch.setattr("bench.processes.secrets.randbelow", lambda _: next(draws))

    assert free_ports(3) == [10_005, 10_007, 10_009]

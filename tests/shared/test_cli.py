from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared.cli import server_config
from shared.http_protocol import GuardedHttpToolsProtocol
from shared.settings import ServiceSettings
from tests.support.servers import free_port, serving, wait_until

ROOT = Path(__file__).resolve().parents[2]


async def _client_address(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.client.host if request.client else "")


def create_app() -> Starlette:
    return Starlette(routes=[Route("/", _client_address)])


def served(forwarded_allow_ips: str) -> AbstractContextManager[str]:
    """This module's app, served exactly as the services are served."""
    settings = ServiceSettings(forwarded_allow_ips=forwarded_allow_ips)
    config = server_config(f"{__name__}:create_app", settings, "test")
    config.log_config = None
    return serving(config)


def test_services_are_served_on_uvloop_with_the_httptools_parser() -> None:
    config = server_config(f"{__name__}:create_app", ServiceSettings(), "test")
    config.load()
    loop_factory = config.get_loop_factory()
    assert loop_factory is not None
    loop = loop_factory()
    try:
        assert type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()
    assert issubclass(config.http_protocol_class, HttpToolsProtocol)


def test_the_protocol_and_keep_alive_follow_the_settings() -> None:
    settings = ServiceSettings(max_header_fields=7, keep_alive_timeout_seconds=42)

    config = server_config(f"{__name__}:create_app", settings, "test")
    config.load()

    assert issubclass(config.http_protocol_class, GuardedHttpToolsProtocol)
    assert config.http_protocol_class.settings.max_header_fields == 7
    assert config.timeout_keep_alive == 42


@pytest.mark.parametrize(
    ("trusted", "seen"), [("127.0.0.1", "203.0.113.9"), ("10.0.0.1", "127.0.0.1")]
)
def test_the_client_address_is_taken_from_trusted_proxies_only(trusted: str, seen: str) -> None:
    with served(trusted) as base_url:
        response = httpx.get(base_url, headers={"x-forwarded-for": "203.0.113.9"})

    assert response.text == seen


def test_the_open_file_limit_is_raised_to_hold_the_connection_cap() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1000 + 1024
    assert hard == resource.RLIM_INFINITY or hard >= wanted, "the machine's hard limit is low"

    def with_a_low_soft_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    reading = subprocess.run(
        [
            sys.executable,
            "-c",
            "import resource; from shared.cli import allow_open_files; allow_open_files(1000);"
            " print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])",
        ],
        preexec_fn=with_a_low_soft_limit,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )

    assert int(reading.stdout) == wanted


def test_sigterm_lets_requests_in_flight_finish_then_exits(tmp_path: Path) -> None:
    port, started = free_port(), tmp_path / "started"
    env = {**os.environ, "SLOW_APP_PORT": str(port), "SLOW_APP_STARTED": str(started)}
    process = subprocess.Popen([sys.executable, "-m", "tests.support.slow_app"], env=env, cwd=ROOT)
    try:
        wait_until(lambda: _answers(port), 10, "the server to start")
        with ThreadPoolExecutor(max_workers=1) as pool:
            in_flight = pool.submit(httpx.get, f"http://127.0.0.1:{port}/slow", timeout=10)
            wait_until(started.exists, 10, "the request to start")
            process.send_signal(signal.SIGTERM)  # as `docker stop` and Kubernetes do

            response = in_flight.result(timeout=10)
        exit_code = process.wait(timeout=10)
    finally:
        process.kill()

    assert response.status_code == 200
    assert response.text == "finished"
    # Done by itself (uvicorn ends by re-raising the signal it handled: a SIGTERM exit).
    assert exit_code in (0, -signal.SIGTERM)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False

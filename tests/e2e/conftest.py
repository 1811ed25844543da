"""The whole platform as real processes: three `python -m <service> serve` on free ports, and
the order service's relay (`python -m order_service relay`) beside them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import pytest

from tests.support.postgres import Databases
from tests.support.servers import free_port, wait_until

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password"
STARTUP_TIMEOUT_SECONDS = 60.0


@dataclass
class Stack:
    gateway_url: str
    logs: dict[str, Path]
    # Each service's own address, behind the gateway: "auth", "orders".
    service_urls: dict[str, str]

    def log_of(self, service: str) -> str:
        return self.logs[service].read_text()


def sign_in(client: httpx.Client, email: str, password: str) -> dict[str, str]:
    """The bearer header of a password grant through the gateway."""
    response = client.post(
        "/auth/token", data={"grant_type": "password", "username": email, "password": password}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def new_user(client: httpx.Client) -> dict[str, str]:
    """A new account, signed in."""
    email, password = f"{uuid.uuid4().hex[:8]}@example.com", "a long enough password"
    assert (
        client.post("/auth/register", json={"email": email, "password": password}).status_code
        == 201
    )
    return sign_in(client, email, password)


def _is_ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/ready", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _migrate(modules: list[str], env: dict[str, str]) -> None:
    """`python -m <module> migrate` for each module, all at once."""
    commands = [
        subprocess.Popen(
            [sys.executable, "-m", module, "migrate"], env=env, stderr=subprocess.PIPE, text=True
        )
        for module in modules
    ]
    for module, command in zip(modules, commands, strict=True):
        _, stderr = command.communicate(timeout=120)
        assert command.returncode == 0, f"{module} migrate failed:\n{stderr}"


@contextmanager
def database_urls(
    backend: str, request: pytest.FixtureRequest, workdir: Path
) -> Iterator[tuple[str, str]]:
    """(auth, orders) database URLs: fresh Postgres databases, or SQLite files as `make run`."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir}/auth.db", f"sqlite:///{workdir}/orders.db"
        return
    databases: Databases = request.getfixturevalue("databases")
    auth_db, orders_db = databases.create("e2e_auth"), databases.create("e2e_orders")
    try:
        yield databases.url_of(auth_db), databases.url_of(orders_db)
    finally:
        databases.drop(auth_db)
        databases.drop(orders_db)


class Stacks:
    """One running stack per database backend, started on first use, stopped at the end.

    Kept for the whole session rather than scoped to the package: a parallel runner may
    interleave the two backends' tests, and a stack takes seconds to start.
    """

    def __init__(self, request: pytest.FixtureRequest, exit_stack: ExitStack) -> None:
        self.request = request
        self.exit_stack = exit_stack
        self.running: dict[str, Stack] = {}

    def of(self, backend: str) -> Stack:
        if backend not in self.running:
            workdir = self.request.getfixturevalue("tmp_path_factory").mktemp(backend)
            urls = self.exit_stack.enter_context(database_urls(backend, self.request, workdir))
            self.running[backend] = self.exit_stack.enter_context(running_stack(workdir, *urls))
        return self.running[backend]


@pytest.fixture(scope="session")
def stacks(request: pytest.FixtureRequest) -> Iterator[Stacks]:
    with ExitStack() as exit_stack:
        yield Stacks(request, exit_stack)


# Postgres is the production database; SQLite is what `make run` uses when none is configured.
@pytest.fixture(params=["postgres", "sqlite"])
def stack(request: pytest.FixtureRequest, stacks: Stacks) -> Stack:
    return stacks.of(request.param)


@contextmanager
def running_stack(
    workdir: Path,
    auth_database_url: str,
    orders_database_url: str,
    settings: Mapping[str, str] | None = None,
) -> Iterator[Stack]:
    """The three services as processes, each with the environment `make run` gives them (and
    `settings`, environment variables, on top), on free ports; stopped with SIGTERM, as an
    orchestrator stops them."""
    ports = {
        "gateway": free_port(),
        "auth": free_port(),
        "orders": free_port(),
        "relay": free_port(),
    }
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    env = {
        **os.environ,
        "AUTH_PORT": str(ports["auth"]),
        "AUTH_DATABASE_URL": auth_database_url,
        "AUTH_DEVELOPMENT_KEY_FILE": str(workdir / "signing-key.pem"),
        "AUTH_ADMIN_EMAIL": ADMIN_EMAIL,
        "AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
        # Cheap argon2id parameters keep start-up and logins quick; the algorithm is the same.
        "AUTH_PASSWORD_HASH_TIME_COST": "1",
        "AUTH_PASSWORD_HASH_MEMORY_KIB": "1024",
        "AUTH_PASSWORD_HASH_PARALLELISM": "1",
        "ORDERS_PORT": str(ports["orders"]),
        "ORDERS_DATABASE_URL": orders_database_url,
        "ORDERS_JWKS_URL": f"{urls['auth']}/.well-known/jwks.json",
        "ORDERS_RELAY_PORT": str(ports["relay"]),
        "ORDERS_RELAY_POLL_INTERVAL_SECONDS": "0.1",
        # The tests' webhook receivers listen on 127.0.0.1.
        "ORDERS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
        "GATEWAY_PORT": str(ports["gateway"]),
        "GATEWAY_AUTH_URL": urls["auth"],
        "GATEWAY_ORDERS_URL": urls["orders"],
        "GATEWAY_JWKS_URL": f"{urls['auth']}/.well-known/jwks.json",
        **(settings or {}),
    }
    _migrate(["auth_service", "order_service"], env)

    commands = {
        "gateway": ("gateway", "serve"),
        "auth": ("auth_service", "serve"),
        "orders": ("order_service", "serve"),
        "relay": ("order_service", "relay"),
    }
    logs = {name: workdir / f"{name}.log" for name in commands}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", *command],
            env=env,
            stdout=logs[name].open("wb"),
            stderr=subprocess.STDOUT,
        )
        for name, command in commands.items()
    ]
    try:
        for name, url in urls.items():
            wait_until(partial(_is_ready, url), STARTUP_TIMEOUT_SECONDS, f"{name} ready")
        yield Stack(urls["gateway"], logs, {"auth": urls["auth"], "orders": urls["orders"]})
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()

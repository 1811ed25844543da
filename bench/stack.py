"""The stack under test as real processes on 127.0.0.1, beside its peers: the three services on
their own Postgres databases, a second gateway in front of a trivial upstream, nginx, the two
reference proxies, and (once the data is seeded) the order service's floor on its database.
Everything stops, and the databases are dropped, on the way out."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import URL, make_url

from bench.nginx import nginx_config
from bench.processes import Process, free_ports, run
from shared.settings import DEFAULT_TRACE_RATIO

ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = "bench-admin-password"  # noqa: S105 - a throwaway account in a throwaway database
UNLIMITED = "1000000"
# The processes that trace (to the bench's own OTLP sink), each beside its untraced twin.
TRACED = ("orders_traced", "gateway_only_traced")

# The services as an operator runs them, but with budgets no benchmark client would be given
# otherwise: one account logging in and ordering thousands of times a second.
_COMMON = {"LOG_LEVEL": "WARNING", "ENVIRONMENT": "production"}


# Tracing is off unless a process is the traced variant of another, whatever this shell says.
_UNTRACED = {"OTEL_SDK_DISABLED": "true"}


def _prefixed(prefix: str, settings: dict[str, str]) -> dict[str, str]:
    prefixed = {f"{prefix}_{name}": value for name, value in {**_COMMON, **settings}.items()}
    return {**prefixed, **_UNTRACED}


def _check_traced(name: str, url: str) -> None:
    """The traced variants must trace: every answer of theirs names its trace."""
    if "traceresponse" not in httpx.get(f"{url}/not-a-path", timeout=5).headers:
        raise RuntimeError(f"{name} does not trace")


@dataclass
class Stack:
    run_dir: Path
    # What stops the processes and drops the databases, last in first out.
    cleanup: ExitStack
    urls: dict[str, str] = field(default_factory=dict)
    processes: dict[str, Process] = field(default_factory=dict)
    databases: dict[str, str] = field(default_factory=dict)

    def start(self, name: str, command: list[str], env: dict[str, str]) -> Process:
        """`command` as the process `name`, stopped with the rest of the stack."""
        process = Process.start(name, command, env, self.run_dir)
        self.cleanup.callback(process.stop)
        self.processes[name] = process
        return process


async def _execute(admin_url: URL, statement: str) -> None:
    dsn = admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def _database(admin_url: URL, purpose: str) -> Iterator[str]:
    name = f"bench_{purpose}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_execute(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _nginx() -> str:
    # Debian puts it in /usr/sbin, which a user's PATH may lack.
    found = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}{os.pathsep}/usr/sbin")
    if found is None:
        raise RuntimeError("the benchmark needs nginx: `make bench-tools` installs it")
    return found


def _python(*arguments: str) -> list[str]:
    return [sys.executable, *arguments]


def _uvicorn(app: str, port: int) -> list[str]:
    return _python(
        "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "warning", "--no-access-log",
    )  # fmt: skip


@contextmanager
def running_stack(database_url: str, run_dir: Path) -> Iterator[Stack]:
    """Starts everything and waits until each part answers; `run_dir` receives logs and keys."""
    admin_url = make_url(database_url)
    names = (
        "auth",
        "orders",
        "gateway",
        "nginx",
        "trivial",
        "gateway_only",
        "naive",
        "floor",
        "otlp_sink",
        "orders_traced",
        "gateway_only_traced",
        "orders_floor",
    )
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}

    with ExitStack() as cleanup:
        stack = Stack(run_dir, cleanup, urls=urls)
        auth_db = cleanup.enter_context(_database(admin_url, "auth"))
        orders_db = cleanup.enter_context(_database(admin_url, "orders"))
        stack.databases["orders"] = orders_db
        key_file = run_dir / "signing-key.pem"
        run(_python("-m", "auth_service", "generate-key", "--out", str(key_file)), {})
        jwks_url = urls["auth"] + "/.well-known/jwks.json"
        auth_env = _prefixed("AUTH", {
            "DATABASE_URL": auth_db,
            "PORT": str(ports["auth"]),
            "PRIVATE_KEY_FILE": str(key_file),
            "ADMIN_EMAIL": ADMIN_EMAIL,
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "ACCESS_TOKEN_TTL_SECONDS": "3600",
            "LOGIN_MAX_ATTEMPTS_PER_ACCOUNT": UNLIMITED,
            "LOGIN_MAX_ATTEMPTS_PER_ADDRESS": UNLIMITED,
        })  # fmt: skip
        orders_env = _prefixed("ORDERS", {
            "DATABASE_URL": orders_db, "PORT": str(ports["orders"]), "JWKS_URL": jwks_url,
        })  # fmt: skip

        def gateway_env(port: int, orders_url: str) -> dict[str, str]:
            return _prefixed("GATEWAY", {
                "PORT": str(port),
                "AUTH_URL": urls["auth"],
                "ORDERS_URL": orders_url,
                "JWKS_URL": jwks_url,
                "RATE_LIMIT_PER_SECOND": UNLIMITED,
                "RATE_LIMIT_BURST": UNLIMITED,
            })  # fmt: skip

        # Tracing as an operator turns it on: an OTLP endpoint, the default sampling ratio.
        tracing_env = {
            "OTEL_SDK_DISABLED": "false",
            "OTEL_EXPORTER_OTLP_ENDPOINT": urls["otlp_sink"],
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": str(DEFAULT_TRACE_RATIO),
        }
        orders_traced_env = {
            **orders_env, "ORDERS_PORT": str(ports["orders_traced"]), **tracing_env,
        }  # fmt: skip
        gateway_only_traced_env = {
            **gateway_env(ports["gateway_only_traced"], urls["trivial"]), **tracing_env,
        }  # fmt: skip

        run(_python("-m", "auth_service", "migrate"), auth_env)
        run(_python("-m", "order_service", "migrate"), orders_env)
        config = run_dir / "nginx.conf"
        config.write_text(nginx_config(
            run_dir,
            proxy_port=ports["nginx"],
            upstream_port=ports["orders"],
            trivial_port=ports["trivial"],
        ))  # fmt: skip
        commands = {
            "auth": (_python("-m", "auth_service", "serve"), auth_env, "/health/ready"),
            "orders": (_python("-m", "order_service", "serve"), orders_env, "/health/ready"),
            "gateway": (
                _python("-m", "gateway", "serve"),
                gateway_env(ports["gateway"], urls["orders"]),
                "/health/ready",
            ),
            "gateway_only": (
                _python("-m", "gateway", "serve"),
                gateway_env(ports["gateway_only"], urls["trivial"]),
                "/health/ready",
            ),
            "otlp_sink": (_python("-m", "bench.otlp_sink", str(ports["otlp_sink"])), {}, "/stats"),
            "orders_traced": (
                _python("-m", "order_service", "serve"),
                orders_traced_env,
                "/health/ready",
            ),
            "gateway_only_traced": (
                _python("-m", "gateway", "serve"),
                gateway_only_traced_env,
                "/health/ready",
            ),
            "nginx": (
                [
                    _nginx(),
                    "-c",
                    str(config),
                    "-p",
                    str(run_dir),
                    "-e",
                    str(run_dir / "nginx-error.log"),
                ],
                {},
                "/health/live",
            ),
            "naive": (
                _uvicorn("bench.peers.naive_httpx:app", ports["naive"]),
                {"BENCH_UPSTREAM_URL": urls["trivial"]},
                "/orders/1",
            ),
            "floor": (
                _uvicorn("bench.peers.aiohttp_floor:app", ports["floor"]),
                {"BENCH_UPSTREAM_URL": urls["trivial"]},
                "/orders/1",
            ),
        }
        for name, (command, env, _) in commands.items():
            stack.start(name, command, env)
        for name, (_, _, health_path) in commands.items():
            stack.processes[name].wait_until_healthy(urls[name] + health_path)
        for name in TRACED:
            _check_traced(name, urls[name])
        yield stack


def start_orders_floor(stack: Stack, token: str, user_id: str) -> None:
    """The order service's floor (`peers/orders_floor.py`) on the service's database, on the
    same server (uvicorn, uvloop, httptools), knowing the seeded user's token."""
    database_url = make_url(stack.databases["orders"]).set(drivername="postgresql")
    port = stack.urls["orders_floor"].rpartition(":")[2]
    command = [
        *_uvicorn("bench.peers.orders_floor:app_from_environment", int(port)),
        "--factory", "--loop", "uvloop", "--http", "httptools",
    ]  # fmt: skip
    env = {
        "BENCH_DATABASE_URL": database_url.render_as_string(hide_password=False),
        "BENCH_TOKEN": token,
        "BENCH_USER_ID": user_id,
    }
    process = stack.start("orders_floor", command, env)
    process.wait_until_healthy(stack.urls["orders_floor"] + "/health/ready")

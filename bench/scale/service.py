"""The order service under measurement: a database of its own, a key set published over
HTTP as the auth service would, tokens signed with it, and the service itself (uvicorn, as
`python -m order_service serve` runs it in production)."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from auth_service.keys import (
    SigningKey,
    generate_private_key_pem,
    jwks_document,
    signing_key_from_pem,
)
from auth_service.tokens import issue_access_token
from bench.processes import Process, free_port, run

ISSUER = "http://scale-bench.invalid"
AUDIENCE = "order-platform"


async def _execute(admin_dsn: str, statement: str) -> None:
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def scratch_database(admin_dsn: str, purpose: str) -> Iterator[str]:
    """A new database on the server of `admin_dsn`, migrated to the order service's head,
    dropped on the way out."""
    name = f"bench_scale_{purpose}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_execute(admin_dsn, f'CREATE DATABASE "{name}"'))
    try:
        dsn = make_url(admin_dsn).set(database=name).render_as_string(hide_password=False)
        run([sys.executable, "-m", "order_service", "migrate"], {"ORDERS_DATABASE_URL": dsn})
        yield dsn
    finally:
        asyncio.run(_execute(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass(frozen=True)
class Tokens:
    key: SigningKey

    @classmethod
    def new(cls) -> Tokens:
        return cls(signing_key_from_pem(generate_private_key_pem()))

    def bearer(self, user_id: uuid.UUID, role: str = "user") -> dict[str, str]:
        token = issue_access_token(
            user_id, role, self.key, issuer=ISSUER, audience=AUDIENCE, ttl_seconds=6 * 3600
        ).token
        return {"Authorization": f"Bearer {token}"}


@contextmanager
def published_keys(tokens: Tokens) -> Iterator[str]:
    """The key set at a URL on 127.0.0.1, until the block ends."""
    document = json.dumps(jwks_document([tokens.key.verification_key])).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the benchmark prints its own progress."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def running_order_service(dsn: str, jwks_url: str, log_dir: Path) -> Iterator[str]:
    """The order service on `dsn`, until the block ends; its base URL. Its own periodic
    clean-up is held off (a day): the benchmark runs the clean-up when it measures it."""
    port = free_port()
    env = {
        "ORDERS_DATABASE_URL": dsn,
        "ORDERS_PORT": str(port),
        "ORDERS_JWKS_URL": jwks_url,
        "ORDERS_JWT_ISSUER": ISSUER,
        "ORDERS_JWT_AUDIENCE": AUDIENCE,
        "ORDERS_LOG_LEVEL": "WARNING",
        "ORDERS_ENVIRONMENT": "production",
        "ORDERS_HOUSEKEEPING_INTERVAL_SECONDS": "86400",
        "OTEL_SDK_DISABLED": "true",
    }
    process = Process.start(
        "orders", [sys.executable, "-m", "order_service", "serve"], env, log_dir
    )
    url = f"http://127.0.0.1:{port}"
    try:
        process.wait_until_healthy(f"{url}/health/ready")
        yield url
    finally:
        process.stop()

"""Fixtures every test package shares: Postgres databases, signing keys, a JWKS server."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from auth_service.__main__ import MIGRATIONS as AUTH_MIGRATIONS
from auth_service.__main__ import VERSION_TABLE as AUTH_VERSION_TABLE
from auth_service.keys import SigningKey
from order_service.__main__ import MIGRATIONS as ORDERS_MIGRATIONS
from order_service.__main__ import VERSION_TABLE as ORDERS_VERSION_TABLE
from shared.logging import stamp_request_ids
from shared.migrations import upgrade_to_head
from tests.support.postgres import Databases, postgres_server
from tests.support.servers import running_server
from tests.support.tokens import JwksEndpoint, TokenFactory, new_signing_key

# As in the services: log records carry the request id they were written for.
stamp_request_ids()


@pytest.fixture(scope="session")
def databases() -> Iterator[Databases]:
    try:
        server = postgres_server()
        admin_url = server.__enter__()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield Databases(admin_url)
    finally:
        server.__exit__(None, None, None)


def _migrated_template(
    databases: Databases, prefix: str, migrations: Path, table: str
) -> Iterator[str]:
    name = databases.create(prefix)
    try:
        upgrade_to_head(migrations, databases.url_of(name), table)
        yield name
    finally:
        databases.drop(name)


@pytest.fixture(scope="session")
def auth_template(databases: Databases) -> Iterator[str]:
    yield from _migrated_template(databases, "template_auth", AUTH_MIGRATIONS, AUTH_VERSION_TABLE)


@pytest.fixture(scope="session")
def orders_template(databases: Databases) -> Iterator[str]:
    yield from _migrated_template(
        databases, "template_orders", ORDERS_MIGRATIONS, ORDERS_VERSION_TABLE
    )


@pytest.fixture
def auth_database_url(databases: Databases, auth_template: str) -> Iterator[str]:
    """A migrated auth database of this test's own."""
    name = databases.create("test_auth", template=auth_template)
    yield databases.url_of(name)
    databases.drop(name)


@pytest.fixture
def postgres_orders_database_url(databases: Databases, orders_template: str) -> Iterator[str]:
    """A migrated orders database of this test's own."""
    name = databases.create("test_orders", template=orders_template)
    yield databases.url_of(name)
    databases.drop(name)


@pytest.fixture
def orders_database_url(postgres_orders_database_url: str) -> str:
    """The orders database; the order service's own tests run on SQLite too."""
    return postgres_orders_database_url


@pytest.fixture(scope="session")
def sqlite_orders_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "orders-template.db"
    upgrade_to_head(ORDERS_MIGRATIONS, f"sqlite:///{path}", ORDERS_VERSION_TABLE)
    return path


@pytest.fixture
def sqlite_orders_database_url(sqlite_orders_template: Path, tmp_path: Path) -> str:
    """A migrated SQLite orders database of this test's own: a copy of the template file."""
    path = tmp_path / "orders.db"
    shutil.copyfile(sqlite_orders_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    return new_signing_key()


@pytest.fixture(scope="session")
def tokens(signing_key: SigningKey) -> TokenFactory:
    return TokenFactory(signing_key)


@pytest.fixture(scope="session")
def jwks_url(signing_key: SigningKey) -> Iterator[str]:
    """A real HTTP endpoint publishing the session's signing key, as the auth service would."""
    with running_server(JwksEndpoint([signing_key]).app) as base_url:
        yield f"{base_url}/.well-known/jwks.json"

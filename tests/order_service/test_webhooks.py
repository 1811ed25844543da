"""`/webhooks`: admins register endpoints (each with its own secret, shown once), change,
disable, rotate and delete them; URLs that could reach the internal network are refused."""

from __future__ import annotations

import base64
import ipaddress
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from order_service.app import create_app
from order_service.config import OrdersSettings
from order_service.webhook_addresses import IPAddress
from tests.support.apps import app_client

# example.com's address once: public, and written as a literal, so no test needs DNS.
PUBLIC_URL = "https://93.184.215.14/hooks"

HOSTS: dict[str, list[str]] = {
    "hooks.example.com": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    # A public-looking name that leads inside (DNS rebinding, or a careless record).
    "inside.example.com": ["127.0.0.1"],
    "partly-inside.example.com": ["93.184.215.14", "10.0.0.7"],
    "localhost": ["127.0.0.1", "::1"],
}


async def fake_resolver(host: str, _: int) -> list[IPAddress]:
    """DNS as the tests say it is; other names do not resolve."""
    if host not in HOSTS:
        raise OSError(f"unknown host {host}")
    return [ipaddress.ip_address(address) for address in HOSTS[host]]


@pytest.fixture
async def orders_client(orders_settings: OrdersSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(orders_settings, resolver=fake_resolver)
    async with app_client(app, "http://orders.test") as client:
        yield client


def endpoint_body(**fields: Any) -> dict[str, Any]:
    return {
        "url": PUBLIC_URL,
        "event_types": ["order.placed", "order.paid"],
        "description": "Fulfilment",
        **fields,
    }


async def register(
    client: httpx.AsyncClient, admin: dict[str, str], **fields: Any
) -> dict[str, Any]:
    response = await client.post("/webhooks", json=endpoint_body(**fields), headers=admin)
    assert response.status_code == 201, response.text
    endpoint: dict[str, Any] = response.json()
    return endpoint


async def test_an_admin_registers_an_endpoint_and_sees_its_secret_once(
    orders_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await orders_client.post("/webhooks", json=endpoint_body(), headers=admin)

    assert response.status_code == 201
    created = response.json()
    assert response.headers["location"] == f"/webhooks/{created['id']}"
    assert created["secret"].startswith("whsec_")
    assert 24 <= len(base64.b64decode(created["secret"].removeprefix("whsec_"))) <= 64
    assert (created["enabled"], created["disabled_reason"]) == (True, None)
    assert created["event_types"] == ["order.placed", "order.paid"]
    shown = (await orders_client.get(response.headers["location"], headers=admin)).json()
    listed = (await orders_client.get("/webhooks", headers=admin)).json()["items"]
    without_secret = {name: value for name, value in created.items() if name != "secret"}
    assert shown == without_secret
    assert listed == [without_secret]


async def test_two_endpoints_have_two_secrets(
    orders_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    first, second = await register(orders_client, admin), await register(orders_client, admin)

    assert first["secret"] != second["secret"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/webhooks"),
        ("GET", "/webhooks"),
        ("GET", "/webhooks/{id}"),
        ("PATCH", "/webhooks/{id}"),
        ("DELETE", "/webhooks/{id}"),
        ("POST", "/webhooks/{id}/rotate-secret"),
        ("GET", "/webhooks/{id}/attempts"),
    ],
)
async def test_only_admins_manage_webhooks(
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
    method: str,
    path: str,
) -> None:
    endpoint = await register(orders_client, admin)

    response = await orders_client.request(
        method, path.format(id=endpoint["id"]), json=endpoint_body(), headers=alice
    )

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/webhooks/{id}"),
        ("PATCH", "/webhooks/{id}"),
        ("DELETE", "/webhooks/{id}"),
        ("POST", "/webhooks/{id}/rotate-secret"),
        ("GET", "/webhooks/{id}/attempts"),
    ],
)
async def test_an_unknown_endpoint_is_404(
    orders_client: httpx.AsyncClient, admin: dict[str, str], method: str, path: str
) -> None:
    response = await orders_client.request(
        method, path.format(id=uuid.uuid4()), json={"description": "x"}, headers=admin
    )

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://93.184.215.14/hooks",
        "not a url",
        "https:///no-host",
        "https://user:password@93.184.215.14/hooks",
        "https://93.184.215.14:99999/hooks",
        "http://127.0.0.1:8002/orders",
        "http://localhost/hooks",
        "http://10.1.2.3/hooks",
        "http://172.16.0.1/hooks",
        "http://192.168.1.1/hooks",
        "http://100.64.0.1/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0/hooks",
        "http://224.0.0.1/hooks",
        "http://240.0.0.1/hooks",
        "http://[::1]/hooks",
        "http://[::]/hooks",
        "http://[fe80::1]/hooks",
        "http://[fc00::1]/hooks",
        "http://[ff02::1]/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
        "http://[::ffff:10.0.0.1]/hooks",
        "http://[64:ff9b::a00:1]/hooks",
        "http://[2002:a00:1::]/hooks",
        "https://inside.example.com/hooks",
        "https://partly-inside.example.com/hooks",
        "https://nowhere.example.com/hooks",
    ],
)
async def test_a_url_webhooks_may_not_go_to_is_a_422_problem(
    orders_client: httpx.AsyncClient, admin: dict[str, str], url: str
) -> None:
    response = await orders_client.post("/webhooks", json=endpoint_body(url=url), headers=admin)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert error["loc"] == ["body", "url"]
    assert (await orders_client.get("/webhooks", headers=admin)).json()["items"] == []


async def test_a_host_with_public_addresses_only_is_accepted(
    orders_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    endpoint = await register(orders_client, admin, url="https://hooks.example.com/orders")

    assert endpoint["url"] == "https://hooks.example.com/orders"


@pytest.mark.parametrize(
    "body",
    [
        endpoint_body(event_types=[]),
        endpoint_body(event_types=["order.exploded"]),
        endpoint_body(event_types=["order.paid", "order.paid"]),
        endpoint_body(description="two\nlines"),
        endpoint_body(secret="whsec_mine"),
        {"event_types": ["order.paid"]},
    ],
    ids=["no-types", "unknown-type", "repeated-type", "control-characters", "extra", "no-url"],
)
async def test_an_invalid_endpoint_is_a_422_problem(
    orders_client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any]
) -> None:
    response = await orders_client.post("/webhooks", json=body, headers=admin)

    assert response.status_code == 422
    assert response.json()["errors"]


async def test_private_addresses_are_allowed_where_the_setting_allows_them(
    orders_settings: OrdersSettings, admin: dict[str, str]
) -> None:
    settings = orders_settings.model_copy(update={"webhook_allow_private_addresses": True})
    async with app_client(create_app(settings), "http://orders.test") as client:
        endpoint = await register(client, admin, url="http://127.0.0.1:9999/hooks")

    assert endpoint["url"] == "http://127.0.0.1:9999/hooks"


async def test_an_admin_changes_an_endpoint_and_a_new_url_is_checked_too(
    orders_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    endpoint = await register(orders_client, admin)
    path = f"/webhooks/{endpoint['id']}"

    refused = await orders_client.patch(path, json={"url": "http://10.0.0.1/"}, headers=admin)
    changed = await orders_client.patch(
        path,
        json={
            "url": "https://hooks.example.com/v2",
            "event_types": ["product.out_of_stock"],
            "description": "Buying",
        },
        headers=admin,
    )

    assert refused.status_code == 422
    assert changed.status_code == 200
    body = changed.json()
    assert (body["url"], body["event_types"], body["description"]) == (
        "https://hooks.example.com/v2",
        ["product.out_of_stock"],
        "Buying",
    )
    assert body["updated_at"] > endpoint["updated_at"]
    assert (await orders_client.get(path, headers=admin)).json() == body


async def test_disabling_says_why_and_enabling_again_clears_it(
    orders_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    endpoint = await register(orders_client, admin)
    path = f"/webhooks/{endpoint['id']}"

    disabled = (await orders_client.patch(path, json={"enabled": False}, headers=admin)).json()
    enabled = (await orders_client.patch(path, json={"enabled": True}, headers=admin)).json()

    assert (disabled["enabled"], disabled["disabled_reason"]) == (False, "Disabled by an admin.")
    assert (enabled["enabled"], enabled["disabled_reason"]) == (True, None)


@pytest.mark.parametrize(
    "change",
    [{"url": None}, {"enabled": "yes please"}, {"event_types": []}, {"secret": "whsec_x"}],
    ids=["null", "not-a-bool", "no-types", "secret"],
)
async def test_an_invalid_change_is_a_422_problem(
    orders_client: httpx.AsyncClient, admin: dict[str, str], change: dict[str, Any]
) -> None:
    endpoint = await register(orders_client, admin)

    response = await orders_client.patch(f"/webhooks/{endpoint['id']}", json=change, headers=admin)

    assert response.status_code == 422


async def test_a_deleted_endpoint_is_gone(
    orders_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    endpoint = await register(orders_client, admin)

    deleted = await orders_client.delete(f"/webhooks/{endpoint['id']}", headers=admin)

    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (
        await orders_client.get(f"/webhooks/{endpoint['id']}", headers=admin)
    ).status_code == 404


async def test_rotating_gives_a_new_secret_shown_once(
    orders_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    endpoint = await register(orders_client, admin)

    response = await orders_client.post(f"/webhooks/{endpoint['id']}/rotate-secret", headers=admin)

    assert response.status_code == 200
    assert set(response.json()) == {"secret"}
    assert response.json()["secret"].startswith("whsec_")
    assert response.json()["secret"] != endpoint["secret"]
    shown = (await orders_client.get(f"/webhooks/{endpoint['id']}", headers=admin)).json()
    assert "secret" not in shown


async def test_a_new_endpoint_has_no_attempts_yet(
    orders_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    endpoint = await register(orders_client, admin)
    path = f"/webhooks/{endpoint['id']}/attempts"

    page = await orders_client.get(path, headers=admin)
    bad_cursor = await orders_client.get(path, params={"cursor": "nope"}, headers=admin)

    assert page.json() == {"items": [], "next_cursor": None}
    assert bad_cursor.status_code == 422

"""The platform end to end, through the gateway, against the three services as processes.

One module, so that a parallel run keeps it on one worker and starts each stack once.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Stack, new_user, sign_in
from tests.support.receiver import Receiver
from tests.support.servers import running_server, wait_until

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# The first test on each backend starts its stack: migrations and three servers, each with a
# deadline of its own (conftest.py) that fails with a clearer message than this limit.
pytestmark = pytest.mark.timeout(360)


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway_url, timeout=10) as client:
        yield client


def test_register_login_stock_order_and_read_back(client: httpx.Client) -> None:
    alice, bob = new_user(client), new_user(client)
    admin = sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)

    product = client.post(
        "/products",
        json={"sku": "E2E-MUG", "name": "Mug", "price": "12.50", "stock": 10},
        headers=admin,
    )
    assert product.status_code == 201, product.text
    product_id = product.json()["id"]

    created = client.post(
        "/orders", json={"items": [{"product_id": product_id, "quantity": 2}]}, headers=alice
    )
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["total"] == "25.00"
    assert created.headers["location"] == f"/orders/{order['id']}"
    assert "upstream;dur=" in created.headers["server-timing"]

    read_back = client.get(created.headers["location"], headers=alice)
    assert read_back.status_code == 200
    assert read_back.json() == order
    assert client.get(f"/products/{product_id}", headers=alice).json()["stock"] == 8

    as_bob = client.get(f"/orders/{order['id']}", headers=bob)
    assert as_bob.status_code == 404
    assert as_bob.headers["content-type"] == "application/problem+json"

    anonymous = client.get(f"/orders/{order['id']}")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert anonymous.json()["status"] == 401
    # The gateway refused it itself: it never went upstream.
    assert "upstream;dur=0.0" in anonymous.headers["server-timing"]


def test_refresh_rotate_and_revoke_through_the_gateway(client: httpx.Client) -> None:
    email, password = f"{uuid.uuid4().hex[:8]}@example.com", "a long enough password"
    client.post("/auth/register", json={"email": email, "password": password})
    metadata = client.get("/.well-known/oauth-authorization-server").json()
    token_path = httpx.URL(metadata["token_endpoint"]).path
    revoke_path = httpx.URL(metadata["revocation_endpoint"]).path
    signed_in = client.post(
        token_path, data={"grant_type": "password", "username": email, "password": password}
    ).json()

    refreshed = client.post(
        token_path,
        data={"grant_type": "refresh_token", "refresh_token": signed_in["refresh_token"]},
    )
    revoked = client.post(revoke_path, data={"token": refreshed.json()["refresh_token"]})
    after_revocation = client.post(
        token_path,
        data={"grant_type": "refresh_token", "refresh_token": refreshed.json()["refresh_token"]},
    )

    assert refreshed.status_code == 200
    me = client.get(
        "/auth/me", headers={"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    )
    assert me.json()["email"] == email
    assert revoked.status_code == 200
    assert after_revocation.json()["error"] == "invalid_grant"


def test_an_orders_life_through_the_gateway(client: httpx.Client) -> None:
    alice = new_user(client)
    admin = sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    sku = f"E2E-{uuid.uuid4().hex[:8]}"
    product = client.post(
        "/products", json={"sku": sku, "name": "Pen", "price": "1.50", "stock": 5}, headers=admin
    ).json()
    restocked = client.patch(f"/products/{product['id']}", json={"stock": 6}, headers=admin)
    assert restocked.json()["stock"] == 6

    def order_of(quantity: int) -> dict[str, object]:
        return {"items": [{"product_id": product["id"], "quantity": quantity}]}

    keyed = {**alice, "Idempotency-Key": uuid.uuid4().hex}
    placed = client.post("/orders", json=order_of(2), headers=keyed)
    replayed = client.post("/orders", json=order_of(2), headers=keyed)
    assert (placed.status_code, replayed.status_code) == (201, 201)
    assert replayed.json()["id"] == placed.json()["id"]
    assert replayed.headers["idempotent-replayed"] == "true"
    order_url = placed.headers["location"]

    stale = client.patch(order_url, json=order_of(3), headers={**alice, "If-Match": '"0"'})
    changed = client.patch(
        order_url, json=order_of(3), headers={**alice, "If-Match": placed.headers["etag"]}
    )
    assert stale.status_code == 412
    assert changed.status_code == 200
    assert changed.json()["total"] == "4.50"

    not_yet = client.post(f"{order_url}/ship", headers=admin)
    assert not_yet.status_code == 409
    assert not_yet.headers["content-type"] == "application/problem+json"
    for who, action, status in [
        (alice, "pay", "paid"),
        (admin, "ship", "shipped"),
        (admin, "deliver", "delivered"),
    ]:
        response = client.post(f"{order_url}/{action}", headers=who)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status

    cancelled = client.post("/orders", json=order_of(1), headers=alice)
    assert client.post(f"{cancelled.headers['location']}/cancel", headers=alice).status_code == 200
    assert client.get(f"/products/{product['id']}", headers=alice).json()["stock"] == 3


def test_a_user_cannot_create_products_through_the_gateway(client: httpx.Client) -> None:
    response = client.post(
        "/products",
        json={"sku": "NOPE", "name": "Nope", "price": "1.00", "stock": 1},
        headers=new_user(client),
    )

    assert response.status_code == 403


def test_the_request_id_reaches_the_order_services_log(stack: Stack, client: httpx.Client) -> None:
    request_id = f"e2e-{uuid.uuid4()}"

    response = client.get("/orders", headers={**new_user(client), "X-Request-ID": request_id})

    assert response.headers["x-request-id"] == request_id

    def logged_by_orders() -> bool:
        lines = [
            json.loads(line) for line in stack.log_of("orders").splitlines() if line.startswith("{")
        ]
        return any(
            line.get("request_id") == request_id and line["event"] == "request" for line in lines
        )

    wait_until(logged_by_orders, 10, "the order service to log the request")


def _walkthrough() -> str:
    section = README.read_text().split("### A walk through the API", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, "the README has no walk-through block"
    return match.group(1)


def test_the_walkthrough_signs_in_as_the_admin_make_run_makes_unless_told_otherwise() -> None:
    makefile = (ROOT / "Makefile").read_text()
    script = _walkthrough()
    made_by_make_run = {}
    for variable in ("ADMIN_EMAIL", "ADMIN_PASSWORD"):
        default = re.search(rf"^AUTH_{variable} \?= (.+)$", makefile, re.MULTILINE)
        assert default, variable
        made_by_make_run[variable] = default.group(1)
        assert f"${{{variable}:-{default.group(1)}}}" in script

    # The stacks of these tests make that admin too: the walk-through runs as after `make run`.
    assert made_by_make_run == {"ADMIN_EMAIL": ADMIN_EMAIL, "ADMIN_PASSWORD": ADMIN_PASSWORD}


def test_the_readme_walkthrough_works_as_written(stack: Stack) -> None:
    script = _walkthrough().replace("localhost:8000", stack.gateway_url)
    # As a reader runs it after `make run`: with no admin of their own in the environment.
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"ADMIN_EMAIL", "ADMIN_PASSWORD"}
    }

    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environment,
    )

    assert result.returncode == 0, result.stderr
    assert '"email":"alice@example.com"' in result.stdout
    assert "HTTP/1.1 201 Created" in result.stdout
    assert '"total":"25.00"' in result.stdout
    refusal = result.stdout.split("HTTP/1.1 401 Unauthorized", 1)[1]
    assert "www-authenticate: Bearer" in refusal
    # The gateway refused it itself: it never went upstream.
    assert "server-timing: auth;dur=" in refusal
    assert "upstream;dur=0.0" in refusal


def test_an_order_placed_paid_and_shipped_through_the_gateway_reaches_a_webhook_in_order(
    client: httpx.Client,
) -> None:
    admin = sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    alice = new_user(client)
    receiver = Receiver()
    with running_server(receiver.app) as receiver_url:
        created = client.post(
            "/webhooks",
            json={
                "url": f"{receiver_url}/hooks",
                "event_types": ["order.placed", "order.paid", "order.shipped"],
                "description": "Fulfilment",
            },
            headers=admin,
        )
        assert created.status_code == 201, created.text
        endpoint = created.json()
        try:
            sku = f"E2E-{uuid.uuid4().hex[:8]}"
            product = client.post(
                "/products",
                json={"sku": sku, "name": "Lamp", "price": "30.00", "stock": 3},
                headers=admin,
            ).json()
            order = client.post(
                "/orders",
                json={"items": [{"product_id": product["id"], "quantity": 1}]},
                headers=alice,
            ).json()
            assert client.post(f"/orders/{order['id']}/pay", headers=alice).status_code == 200
            shipped = client.post(f"/orders/{order['id']}/ship", headers=admin)
            assert shipped.status_code == 200

            wait_until(lambda: len(receiver.types_of(order["id"])) == 3, 60, "the three webhooks")
        finally:
            client.delete(f"/webhooks/{endpoint['id']}", headers=admin)

    # Verified by the Standard Webhooks reference library, with the secret shown once.
    events = [
        received.verified_with(endpoint["secret"])
        for received in receiver.received
        if received.event["aggregate"]["id"] == order["id"]
    ]
    assert [event["type"] for event in events] == ["order.placed", "order.paid", "order.shipped"]
    assert [event["aggregate"]["version"] for event in events] == [1, 2, 3]
    assert events[-1]["data"] == shipped.json()
    # The same events are in the feed, through the gateway: Alice reads her own.
    feed = client.get("/events", params={"type": "order.shipped", "limit": 100}, headers=alice)
    assert feed.status_code == 200
    assert [event["id"] for event in feed.json()["items"]] == [events[-1]["id"]]

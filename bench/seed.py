"""The data every scenario reads or writes, made through the gateway as a client would."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from bench.stack import ADMIN_EMAIL, ADMIN_PASSWORD

USER_EMAIL = "bench-user@example.com"
USER_PASSWORD = "bench-user-password"  # noqa: S105 - a throwaway account in a throwaway database


@dataclass(frozen=True)
class Seed:
    user_token: str
    user_id: str
    product_id: str
    order_id: str


def _login(client: httpx.Client, email: str, password: str) -> str:
    answer = client.post(
        "/auth/token", data={"grant_type": "password", "username": email, "password": password}
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def seed(gateway_url: str) -> Seed:
    """A product with stock for every order the run can make, a user, and one order of theirs."""
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        admin = {"Authorization": f"Bearer {_login(client, ADMIN_EMAIL, ADMIN_PASSWORD)}"}
        product = client.post(
            "/products",
            json={"sku": "BENCH-1", "name": "Bench widget", "price": "1.00", "stock": 10**9},
            headers=admin,
        )
        product.raise_for_status()
        client.post(
            "/auth/register", json={"email": USER_EMAIL, "password": USER_PASSWORD}
        ).raise_for_status()
        token = _login(client, USER_EMAIL, USER_PASSWORD)
        order = client.post(
            "/orders",
            json={"items": [{"product_id": product.json()["id"], "quantity": 1}]},
            headers={"Authorization": f"Bearer {token}"},
        )
        order.raise_for_status()
        return Seed(token, order.json()["user_id"], product.json()["id"], order.json()["id"])

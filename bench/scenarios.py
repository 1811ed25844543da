"""What is measured: the issue's six scenarios and the two reference proxies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlencode

from bench.seed import USER_EMAIL, USER_PASSWORD, Seed
from bench.wrk import Load


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    load: Load
    # The process the load generator talks to: its CPU time per request is reported.
    server: str


def scenarios(urls: dict[str, str], seed: Seed) -> list[Scenario]:
    bearer = {"Authorization": f"Bearer {seed.user_token}"}
    order_path = f"/orders/{seed.order_id}"
    one_line = json.dumps({"items": [{"product_id": seed.product_id, "quantity": 1}]})
    login = urlencode({"grant_type": "password", "username": USER_EMAIL, "password": USER_PASSWORD})
    return [
        Scenario(
            "orders_direct",
            "1. `GET /orders/{id}` straight to the order service",
            Load(urls["orders"] + order_path, headers=bearer),
            server="orders",
        ),
        Scenario(
            "orders_direct_traced",
            "1t. the same, tracing on (default sampling ratio)",
            Load(urls["orders_traced"] + order_path, headers=bearer),
            server="orders_traced",
        ),
        Scenario(
            "orders_via_gateway",
            "2. `GET /orders/{id}` through the gateway",
            Load(urls["gateway"] + order_path, headers=bearer),
            server="gateway",
        ),
        Scenario(
            "orders_via_nginx",
            "3. `GET /orders/{id}` through nginx (no auth)",
            Load(urls["nginx"] + order_path, headers=bearer),
            server="nginx",
        ),
        Scenario(
            "create_order_via_gateway",
            "4. `POST /orders` (one line) through the gateway",
            Load(
                urls["gateway"] + "/orders",
                method="POST",
                body=one_line,
                headers={**bearer, "Content-Type": "application/json"},
            ),
            server="gateway",
        ),
        Scenario(
            "login_via_gateway",
            "5. `POST /auth/token` (login) through the gateway",
            Load(
                urls["gateway"] + "/auth/token",
                method="POST",
                body=login,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ),
            server="gateway",
        ),
        Scenario(
            "gateway_only",
            "6. the gateway (token checked, from its verified-token cache), trivial upstream",
            Load(urls["gateway_only"] + "/orders/1", headers=bearer),
            server="gateway_only",
        ),
        Scenario(
            "gateway_only_traced",
            "6t. the same, tracing on (default sampling ratio)",
            Load(urls["gateway_only_traced"] + "/orders/1", headers=bearer),
            server="gateway_only_traced",
        ),
        Scenario(
            "naive_httpx_peer",
            "peer: FastAPI + shared `httpx.AsyncClient` (no auth)",
            Load(urls["naive"] + "/orders/1"),
            server="naive",
        ),
        Scenario(
            "aiohttp_floor_peer",
            "peer: Starlette + `aiohttp.ClientSession` (no auth)",
            Load(urls["floor"] + "/orders/1"),
            server="floor",
        ),
    ]

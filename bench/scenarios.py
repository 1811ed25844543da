"""What is measured: the stack's scenarios, the two reference proxies, and the order service
beside its floor."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
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
    # The process whose connections' Postgres backends' CPU time per request is reported too.
    database_client: str | None = None
    # Measured in every round (beside its floor or its untraced twin), not in the first only.
    every_round: bool = False
    # Paced: on `PACED_CONNECTIONS`, held to `PACE_OF_RATE` of the rate the scenario named
    # had in its first run (the service's, unpaced), the service and its floor alike, in
    # every round.
    paced_by: str | None = None


# One connection: a request at a time, so each side's statements run on one backend (its
# pool's most recent connection) at the same rate; over 8, the slower service would hold its
# connections longer and spread its statements over more backends, each waiting longer.
PACED_CONNECTIONS = 1
# A quarter of the service's rate over 8 connections: on one, the service is busy about a
# third of the time or less, the floor less, so both keep the pace on a busy machine too.
PACE_OF_RATE = 0.25


def paced_name(name: str) -> str:
    return f"{name}_paced"


def _paced(scenario: Scenario, title: str, pace_of: str) -> Scenario:
    """`scenario` held to one pace with its pair: Postgres's CPU per request is compared at
    one rate of statements per backend (bench/README.md)."""
    return replace(scenario, name=paced_name(scenario.name), title=title, paced_by=pace_of)


def _with_paced_pairs(measured: list[Scenario]) -> list[Scenario]:
    """Each pair of the service and its floor followed by the same pair at one pace, on one
    connection."""
    by_name = {scenario.name: scenario for scenario in measured}
    result = []
    for scenario in measured:
        result.append(scenario)
        if scenario.name in _PACED_PAIRS:
            service, label, floor_label = _PACED_PAIRS[scenario.name]
            result += [
                _paced(
                    by_name[service],
                    f"{label}p. {label} on one connection, at a quarter of its first rate"
                    " (Postgres's CPU compared at one pace)",
                    service,
                ),
                _paced(scenario, f"{floor_label}p. {floor_label} at the pace of {label}p", service),
            ]
    return result


# Each floor's scenario: its service's, and the labels of both in the titles.
_PACED_PAIRS = {
    "orders_floor_get": ("orders_direct", "1", "1f"),
    "orders_floor_post": ("order_post_direct", "7", "7f"),
    "orders_floor_post_idempotent": ("order_post_idempotent_direct", "8", "8f"),
}


def scenarios(urls: dict[str, str], seed: Seed) -> list[Scenario]:
    bearer = {"Authorization": f"Bearer {seed.user_token}"}
    order_path = f"/orders/{seed.order_id}"
    login = urlencode({"grant_type": "password", "username": USER_EMAIL, "password": USER_PASSWORD})

    def order(base_url: str, *, keyed: bool = False) -> Load:
        """A one-line order; `keyed`, with an `Idempotency-Key` no other request sends."""
        headers = {**bearer, "Content-Type": "application/json"}
        if keyed:
            headers["Idempotency-Key"] = '"bench-{unique}"'
        body = json.dumps({"items": [{"product_id": seed.product_id, "quantity": 1}]})
        return Load(base_url + "/orders", method="POST", body=body, headers=headers)

    measured = [
        Scenario(
            "orders_direct",
            "1. `GET /orders/{id}` straight to the order service",
            Load(urls["orders"] + order_path, headers=bearer),
            server="orders",
            database_client="orders",
            every_round=True,
        ),
        Scenario(
            "orders_floor_get",
            "1f. the same, to the order service's floor",
            Load(urls["orders_floor"] + order_path, headers=bearer),
            server="orders_floor",
            database_client="orders_floor",
            every_round=True,
        ),
        Scenario(
            "orders_direct_traced",
            "1t. the same, tracing on (default sampling ratio)",
            Load(urls["orders_traced"] + order_path, headers=bearer),
            server="orders_traced",
            database_client="orders_traced",
            every_round=True,
        ),
        Scenario(
            "orders_via_gateway",
            "2. `GET /orders/{id}` through the gateway",
            Load(urls["gateway"] + order_path, headers=bearer),
            server="gateway",
            database_client="orders",
        ),
        Scenario(
            "orders_via_nginx",
            "3. `GET /orders/{id}` through nginx (no auth)",
            Load(urls["nginx"] + order_path, headers=bearer),
            server="nginx",
            database_client="orders",
        ),
        Scenario(
            "order_post_direct",
            "7. `POST /orders` (one line, no key) straight to the order service",
            order(urls["orders"]),
            server="orders",
            database_client="orders",
            every_round=True,
        ),
        Scenario(
            "orders_floor_post",
            "7f. the same, to the order service's floor",
            order(urls["orders_floor"]),
            server="orders_floor",
            database_client="orders_floor",
            every_round=True,
        ),
        Scenario(
            "order_post_idempotent_direct",
            "8. `POST /orders` (one line) with a fresh `Idempotency-Key`, straight to the order"
            " service",
            order(urls["orders"], keyed=True),
            server="orders",
            database_client="orders",
            every_round=True,
        ),
        Scenario(
            "orders_floor_post_idempotent",
            "8f. the same, to the order service's floor",
            order(urls["orders_floor"], keyed=True),
            server="orders_floor",
            database_client="orders_floor",
            every_round=True,
        ),
        Scenario(
            "create_order_via_gateway",
            "4. `POST /orders` (one line) through the gateway",
            order(urls["gateway"]),
            server="gateway",
            database_client="orders",
        ),
        Scenario(
            "order_post_idempotent_via_gateway",
            "9. `POST /orders` (one line) with a fresh `Idempotency-Key`, through the gateway",
            order(urls["gateway"], keyed=True),
            server="gateway",
            database_client="orders",
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
            database_client="auth",
        ),
        Scenario(
            "gateway_only",
            "6. the gateway (token checked, from its verified-token cache), trivial upstream",
            Load(urls["gateway_only"] + "/orders/1", headers=bearer),
            server="gateway_only",
            every_round=True,
        ),
        Scenario(
            "gateway_only_traced",
            "6t. the same, tracing on (default sampling ratio)",
            Load(urls["gateway_only_traced"] + "/orders/1", headers=bearer),
            server="gateway_only_traced",
            every_round=True,
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
    return _with_paced_pairs(measured)

"""The relay as a real process (`python -m order_service relay`), against its faults: killed
in the middle of deliveries, cut from its database, stopped with SIGTERM. No event is lost,
a redelivery carries the same `webhook-id`, and a rolled-back change delivers nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import func, select

from order_service.config import OrdersSettings
from order_service.models import WebhookDelivery
from tests.order_service.conftest import Catalogue, place_order
from tests.support.database import session_on
from tests.support.receiver import Receiver
from tests.support.servers import free_port, running_server
from tests.support.tcp_forwarder import TcpForwarder

DEADLINE_SECONDS = 60.0
T = TypeVar("T")


@pytest.fixture
def orders_database_url(postgres_orders_database_url: str) -> str:
    """Postgres only: the relay's production database, with a connection to cut."""
    return postgres_orders_database_url


@pytest.fixture
def orders_settings(orders_settings: OrdersSettings) -> OrdersSettings:
    """Webhooks to 127.0.0.1, where the tests' receivers listen."""
    return orders_settings.model_copy(update={"webhook_allow_private_addresses": True})


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver()
    with running_server(receiver.app) as base_url:
        try:
            yield receiver, f"{base_url}/hooks"
        finally:
            receiver.release()


class RelayProcess:
    """`python -m order_service relay` in a child process, its log in a file."""

    def __init__(self, database_url: str, log: Path, **settings: str) -> None:
        self.port = free_port()
        self.log = log
        self.environment = {
            **os.environ,
            "ORDERS_DATABASE_URL": database_url,
            "ORDERS_RELAY_PORT": str(self.port),
            "ORDERS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
            "ORDERS_RELAY_POLL_INTERVAL_SECONDS": "0.1",
            **settings,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "order_service", "relay"],
                env=self.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def is_up(self) -> bool:
        try:
            async with httpx.AsyncClient() as client:
                answer = await client.get(f"http://127.0.0.1:{self.port}/health/live")
        except httpx.TransportError:
            return False
        return answer.status_code == 200

    def signal(self, number: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(number)

    def wait(self) -> int:
        assert self.process is not None
        return self.process.wait(timeout=DEADLINE_SECONDS)

    def returncode(self) -> int | None:
        assert self.process is not None
        return self.process.poll()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def logged(self, event: str) -> bool:
        return f'"event": "{event}"' in self.log.read_text()


@pytest.fixture
def relays(tmp_path: Path) -> Iterator[Callable[..., RelayProcess]]:
    started: list[RelayProcess] = []

    def start(database_url: str, **settings: str) -> RelayProcess:
        relay = RelayProcess(database_url, tmp_path / "relay.log", **settings)
        relay.start()
        started.append(relay)
        return relay

    yield start
    for relay in started:
        relay.stop()


async def until(condition: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(DEADLINE_SECONDS):
            # Polled: what it waits for happens in other processes and threads.
            while not condition():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise TimeoutError(f"timed out waiting for {what}") from None


async def register(client: httpx.AsyncClient, admin: dict[str, str], url: str) -> None:
    body = {"url": url, "event_types": ["order.placed", "product.stock_changed"]}
    response = await client.post("/webhooks", json=body, headers=admin)
    assert response.status_code == 201, response.text


async def delivery_states(database_url: str) -> list[str]:
    async with session_on(database_url) as session:
        return list(await session.scalars(select(WebhookDelivery.state)))


async def until_read(read: Callable[[], Awaitable[T]], is_done: Callable[[T], bool]) -> T:
    """What `read()` returns once `is_done` says so."""
    async with asyncio.timeout(DEADLINE_SECONDS):
        # Polled: the relay, another process, writes what it waits for.
        while not is_done(value := await read()):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    return value


def _events_about(inbox: Receiver, resource: dict[str, Any]) -> list[dict[str, Any]]:
    return [event for event in inbox.events() if event["aggregate"]["id"] == resource["id"]]


def _ids_about(inbox: Receiver, resource: dict[str, Any]) -> set[str]:
    return {event["id"] for event in _events_about(inbox, resource)}


async def test_a_relay_killed_mid_delivery_is_restarted_and_delivers_everything_once_more(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
    receiver: tuple[Receiver, str],
    relays: Callable[..., RelayProcess],
    orders_database_url: str,
) -> None:
    inbox, url = receiver
    inbox.hold()
    await register(orders_client, admin, url)
    product = await catalogue.add(stock=10)
    orders = [(await place_order(orders_client, alice, (product, 1))).json() for _ in range(3)]
    # Long enough to be killed mid-attempt; the leases run out soon after.
    timing = {"ORDERS_WEBHOOK_TIMEOUT_SECONDS": "5", "ORDERS_RELAY_LEASE_SECONDS": "6"}
    killed = relays(orders_database_url, **timing)
    await until(lambda: bool(inbox.received), "deliveries in flight")

    killed.signal(signal.SIGKILL)
    killed.wait()
    in_flight = {received.headers["webhook-id"] for received in inbox.received}
    inbox.release()
    relays(orders_database_url, **timing)

    def ids() -> list[str]:
        return [received.headers["webhook-id"] for received in inbox.received]

    def all_delivered() -> bool:
        received = ids()
        return len(set(received)) == 6 and all(received.count(i) == 2 for i in in_flight)

    await until(all_delivered, "every event delivered")

    # 3 orders placed, the product's stock changed thrice: each came once, or twice when the
    # killed relay had it in flight (again with its id).
    assert len(set(ids())) == 6
    assert {ids().count(webhook_id) for webhook_id in ids()} <= {1, 2}
    assert all(_events_about(inbox, order) for order in orders)
    stock = [event["data"]["stock"] for event in _events_about(inbox, product)]
    assert list(dict.fromkeys(stock)) == [9, 8, 7]  # in order, first arrivals counted
    await until_read(
        lambda: delivery_states(orders_database_url),
        lambda states: states == ["delivered"] * 6,
    )


async def test_a_relay_cut_from_its_database_recovers_and_delivers(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
    receiver: tuple[Receiver, str],
    relays: Callable[..., RelayProcess],
    orders_database_url: str,
) -> None:
    inbox, url = receiver
    await register(orders_client, admin, url)
    product = await catalogue.add(stock=10)
    async with TcpForwarder.in_front_of(orders_database_url) as forwarder:
        relay = relays(
            forwarder.url_through(orders_database_url),
            # An attempt whose outcome the cut kept from being recorded is sent again once
            # its lease runs out: soon, here.
            ORDERS_WEBHOOK_TIMEOUT_SECONDS="2",
            ORDERS_RELAY_LEASE_SECONDS="3",
            ORDERS_DATABASE_CONNECT_TIMEOUT_SECONDS="1",
            ORDERS_DATABASE_COMMAND_TIMEOUT_SECONDS="1",
            ORDERS_DATABASE_POOL_TIMEOUT_SECONDS="1",
        )
        before = (await place_order(orders_client, alice, (product, 1))).json()
        await until(lambda: bool(_events_about(inbox, before)), "a delivery before the cut")

        await forwarder.cut()
        during = (await place_order(orders_client, alice, (product, 1))).json()
        await until(lambda: relay.logged("relay_round_failed"), "the relay to notice")
        await forwarder.restore()

        await until(lambda: bool(_events_about(inbox, during)), "the delivery after it")
        # At least once: one whose outcome the cut kept from being recorded comes again.
        await until(lambda: len(_ids_about(inbox, product)) == 2, "every stock change")

    assert {event["type"] for event in _events_about(inbox, during)} == {"order.placed"}


async def test_nothing_is_delivered_for_a_change_that_rolled_back(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
    receiver: tuple[Receiver, str],
    relays: Callable[..., RelayProcess],
    orders_database_url: str,
) -> None:
    inbox, url = receiver
    await register(orders_client, admin, url)
    # Stock is taken in product id order: the first product's is taken before the second
    # fails, and the transaction rolls both back. (Adding a product is no event.)
    taken = await catalogue.add(stock=10)
    short = await catalogue.add(stock=1)
    while uuid.UUID(short["id"]) < uuid.UUID(taken["id"]):
        short = await catalogue.add(stock=1)
    relays(orders_database_url)

    refused = await place_order(orders_client, alice, (taken, 1), (short, 5))
    placed = (await place_order(orders_client, alice, (taken, 2))).json()
    await until(lambda: len(inbox.received) == 2, "the placed order's events")

    assert refused.status_code == 409
    assert [event["type"] for event in _events_about(inbox, placed)] == ["order.placed"]
    assert [event["data"]["stock"] for event in _events_about(inbox, taken)] == [8]
    assert _events_about(inbox, short) == []
    assert {event["type"] for event in inbox.events()} == {
        "order.placed",
        "product.stock_changed",
    }
    assert len(inbox.received) == 2


async def test_sigterm_lets_the_deliveries_in_flight_finish_then_exits_0(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
    receiver: tuple[Receiver, str],
    relays: Callable[..., RelayProcess],
    orders_database_url: str,
) -> None:
    inbox, url = receiver
    inbox.hold()
    await register(orders_client, admin, url)
    await place_order(orders_client, alice, (await catalogue.add(), 1))
    relay = relays(orders_database_url)
    await until(lambda: bool(inbox.received), "a delivery in flight")

    relay.signal(signal.SIGTERM)
    await until(lambda: relay.logged("relay_draining"), "the relay to drain")
    assert relay.returncode() is None  # it waits for what it is delivering
    inbox.release()
    exit_code = await asyncio.to_thread(relay.wait)

    assert exit_code == 0
    in_flight = {received.headers["webhook-id"] for received in inbox.received}
    async with session_on(orders_database_url) as session:
        delivered = await session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.state == "delivered")
        )
    assert delivered == len(in_flight)

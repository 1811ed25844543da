"""The relay, in process: events reach real HTTP endpoints signed by the Standard Webhooks
rules (verified by the reference library), retried on a clock the tests move, in order per
order or product, and only to addresses that were checked when connecting."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select, update
from standardwebhooks.webhooks import WebhookVerificationError

from order_service.config import OrdersSettings
from order_service.models import WebhookDelivery, WebhookEndpoint
from order_service.relay.app import relay_config
from order_service.relay.metrics import RelayMetrics
from order_service.relay.queue import Delivery
from order_service.relay.retries import RetrySchedule
from order_service.relay.sender import WebhookSender
from order_service.relay.worker import Relay
from order_service.store import Store
from order_service.webhook_addresses import AddressPolicy, IPAddress, Resolver, resolve
from shared.database import create_engine, utc_now
from tests.order_service.conftest import Catalogue, about, act, feed_when, place_order
from tests.support.receiver import Receiver
from tests.support.servers import free_port, running_server

# Each test's deadline for what the relay does in a few rounds (the feed may wait a moment
# for other transactions on the server to end).
DEADLINE_SECONDS = 20.0
# Every wait is its ceiling: the tests know when each retry is due.
SCHEDULE = RetrySchedule(random=lambda: 1.0)


@pytest.fixture
def orders_settings(orders_settings: OrdersSettings) -> OrdersSettings:
    """Webhooks to 127.0.0.1, where the tests' receivers listen."""
    return orders_settings.model_copy(update={"webhook_allow_private_addresses": True})


@dataclass
class Clock:
    """The relay's time, which tests move on instead of waiting."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


@pytest.fixture
def clock() -> Clock:
    return Clock(utc_now())


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    """A receiver, and its URL."""
    receiver = Receiver()
    with running_server(receiver.app) as base_url:
        try:
            yield receiver, f"{base_url}/hooks"
        finally:
            receiver.release()


RelayFactory = Callable[..., Relay]


@pytest.fixture
async def make_relay(orders_settings: OrdersSettings, clock: Clock) -> AsyncIterator[RelayFactory]:
    """Builds relays on the test's database (several, for replicas), with the test's clock."""
    store = Store(create_engine(orders_settings))
    senders: list[WebhookSender] = []

    def make(
        *,
        resolver: Resolver = resolve,
        schedule: RetrySchedule = SCHEDULE,
        **changes: Any,
    ) -> Relay:
        settings = orders_settings.model_copy(update=changes)
        sender = WebhookSender(
            AddressPolicy.from_settings(settings, resolver), timeout_seconds=5, max_connections=8
        )
        senders.append(sender)
        metrics = RelayMetrics(CollectorRegistry())
        return Relay(store, sender, relay_config(settings), metrics, schedule=schedule, clock=clock)

    async with store:
        yield make
        for sender in senders:
            await sender.__aexit__(None, None, None)


@pytest.fixture
def relay(make_relay: RelayFactory) -> Relay:
    return make_relay()


def _received(inbox: Receiver, count: int) -> Callable[[], bool]:
    return lambda: len(inbox.received) == count


async def rounds_until(relay: Relay, condition: Callable[[], bool], what: str) -> None:
    """Run the relay round after round until `condition()` holds."""
    try:
        async with asyncio.timeout(DEADLINE_SECONDS):
            while True:
                await relay.run_once()
                if condition():
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise TimeoutError(f"timed out waiting for {what}") from None


async def register(
    client: httpx.AsyncClient, admin: dict[str, str], url: str, *types: str
) -> dict[str, Any]:
    response = await client.post(
        "/webhooks", json={"url": url, "event_types": list(types)}, headers=admin
    )
    assert response.status_code == 201, response.text
    endpoint: dict[str, Any] = response.json()
    return endpoint


async def attempts_of(
    client: httpx.AsyncClient, admin: dict[str, str], endpoint: dict[str, Any]
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/webhooks/{endpoint['id']}/attempts", params={"limit": 100}, headers=admin
    )
    assert response.status_code == 200
    attempts: list[dict[str, Any]] = response.json()["items"]
    return attempts


async def test_an_event_reaches_its_endpoint_signed_as_the_standard_says(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
    receiver: tuple[Receiver, str],
    relay: Relay,
) -> None:
    inbox, url = receiver
    endpoint = await register(orders_client, admin, url, "order.placed")
    order = (await place_order(orders_client, alice, (await catalogue.add(), 1))).json()

    await rounds_until(relay, lambda: bool(inbox.types_of(order["id"])), "the delivery")

    [received] = inbox.received
    event = received.verified_with(endpoint["secret"])
    [in_feed] = (
        await orders_client.get("/events", params={"type": "order.placed"}, headers=admin)
    ).json()["items"]
    assert event == in_feed
    assert event["data"] == order
    assert received.headers["webhook-id"] == event["id"]
    assert received.headers["content-type"] == "application/json"
    [attempt] = await attempts_of(orders_client, admin, endpoint)
    assert (attempt["event_id"], attempt["attempt"], attempt["status_code"]) == (
        event["id"],
        1,
        204,
    )
    assert attempt["error"] is None


async def test_each_endpoint_gets_the_types_it_chose(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
    relay: Relay,
) -> None:
    payments, stock = Receiver(), Receiver()
    with running_server(payments.app) as payments_url, running_server(stock.app) as stock_url:
        await register(orders_client, admin, payments_url, "order.paid")
        await register(orders_client, admin, stock_url, "product.stock_changed")
        product = await catalogue.add(stock=5)
        order = (await place_order(orders_client, alice, (product, 1))).json()
        await act(orders_client, alice, order, "pay")

        await rounds_until(
            relay,
            lambda: bool(payments.types_of(order["id"]) and stock.types_of(product["id"])),
            "both deliveries",
        )

    assert [event["type"] for event in payments.events()] == ["order.paid"]
    assert [event["type"] for event in stock.events()] == ["product.stock_changed"]


async def test_a_failed_attempt_is_tried_again_after_its_wait_with_the_same_id(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
    receiver: tuple[Receiver, str],
    relay: Relay,
    clock: Clock,
) -> None:
    inbox, url = receiver
    inbox.statuses.extend([500, 503])
    endpoint = await register(orders_client, admin, url, "order.placed")
    order = (await place_order(orders_client, alice, (await catalogue.add(), 1))).json()

    await rounds_until(relay, lambda: len(inbox.received) == 1, "the first attempt")
    await relay.run_once()
    clock.advance(SCHEDULE.ceiling(1) - timedelta(seconds=1))
    await relay.run_once()
    assert len(inbox.received) == 1  # not due yet
    clock.advance(timedelta(seconds=1))
    await rounds_until(relay, lambda: len(inbox.received) == 2, "the second attempt")
    clock.advance(SCHEDULE.ceiling(2))
    await rounds_until(relay, lambda: len(inbox.received) == 3, "the third attempt")
    await relay.run_once()

    assert len(inbox.received) == 3
    assert {received.headers["webhook-id"] for received in inbox.received} == {
        inbox.received[0].event["id"]
    }
    assert inbox.types_of(order["id"]) == ["order.placed"] * 3
    attempts = await attempts_of(orders_client, admin, endpoint)
    assert [(a["attempt"], a["status_code"]) for a in attempts] == [(3, 204), (2, 503), (1, 500)]
    assert all(a["duration_ms"] >= 0 for a in attempts)


async def test_an_unreachable_endpoint_is_a_failed_attempt_with_its_error(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
    relay: Relay,
) -> None:
    endpoint = await register(
        orders_client, admin, f"http://127.0.0.1:{free_port()}/closed", "order.placed"
    )
    await place_order(orders_client, alice, (await catalogue.add(), 1))

    attempts: list[dict[str, Any]] = []
    async with asyncio.timeout(DEADLINE_SECONDS):
        while not attempts:
            await relay.run_once()
            attempts = await attempts_of(orders_client, admin, endpoint)

    [attempt] = attempts
    assert attempt["status_code"] is None
    assert attempt["error"]


async def test_a_delivery_is_given_up_after_its_last_attempt(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
    receiver: tuple[Receiver, str],
    make_relay: RelayFactory,
    clock: Clock,
    orders_database_url: str,
) -> None:
    inbox, url = receiver
    inbox.statuses.extend([500] * 10)
    schedule = RetrySchedule(attempts=3, random=lambda: 1.0)
    relay = make_relay(schedule=schedule)
    await register(orders_client, admin, url, "order.placed")
    await place_order(orders_client, alice, (await catalogue.add(), 1))

    for attempts in range(1, 4):
        await rounds_until(relay, _received(inbox, attempts), "an attempt")
        clock.advance(schedule.max_delay)
    await relay.run_once()

    assert len(inbox.received) == 3
    async with relay.store.engine.connect() as connection:
        states = list(await connection.scalars(select(WebhookDelivery.state)))
    assert states == ["failed"]


async def test_an_orders_events_arrive_in_order_even_when_one_must_be_retried(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
    receiver: tuple[Receiver, str],
    relay: Relay,
    clock: Clock,
) -> None:
    inbox, url = receiver
    await register(orders_client, admin, url, "order.placed", "order.paid")
    product = await catalogue.add(stock=5)
    first = (await place_order(orders_client, alice, (product, 1))).json()
    await act(orders_client, alice, first, "pay")
    inbox.statuses.append(500)  # the first order's placing fails once

    await rounds_until(relay, lambda: len(inbox.types_of(first["id"])) == 1, "the placing")
    # Its payment waits behind it; another order's events do not.
    second = (await place_order(orders_client, alice, (product, 1))).json()
    await rounds_until(relay, lambda: bool(inbox.types_of(second["id"])), "another order")
    assert inbox.types_of(first["id"]) == ["order.placed"]
    clock.advance(SCHEDULE.ceiling(1))
    await rounds_until(relay, lambda: len(inbox.types_of(first["id"])) == 3, "the rest")

    assert inbox.types_of(first["id"]) == ["order.placed", "order.placed", "order.paid"]


async def test_an_endpoint_failing_for_a_day_is_disabled_and_says_why(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
    receiver: tuple[Receiver, str],
    relay: Relay,
    clock: Clock,
) -> None:
    inbox, url = receiver
    inbox.statuses.extend([500] * 5)
    endpoint = await register(orders_client, admin, url, "order.placed")
    path = f"/webhooks/{endpoint['id']}"
    await place_order(orders_client, alice, (await catalogue.add(), 1))
    await rounds_until(relay, lambda: len(inbox.received) == 1, "the first attempt")

    clock.advance(timedelta(hours=24))
    await rounds_until(relay, lambda: len(inbox.received) == 2, "an attempt a day later")

    disabled = (await orders_client.get(path, headers=admin)).json()
    assert disabled["enabled"] is False
    assert "failed" in disabled["disabled_reason"]
    assert "answered 500" in disabled["disabled_reason"]
    # Nothing is queued for it while it is disabled, and what was pending is given up.
    later = (await place_order(orders_client, alice, (await catalogue.add(), 1))).json()
    # Once the feed shows it, the relay's next round passes it (the same rule settles both).
    await feed_when(orders_client, admin, lambda events: bool(about(events, later)))
    clock.advance(timedelta(days=3))
    for _ in range(3):
        await relay.run_once()
    assert len(inbox.received) == 2

    enabled = (await orders_client.patch(path, json={"enabled": True}, headers=admin)).json()
    assert (enabled["enabled"], enabled["disabled_reason"]) == (True, None)
    again = (await place_order(orders_client, alice, (await catalogue.add(), 1))).json()
    await rounds_until(relay, lambda: bool(inbox.types_of(again["id"])), "a new event")
    assert inbox.types_of(later["id"]) == []


async def test_an_admin_disabling_an_endpoint_gives_up_what_was_pending_for_it(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
    receiver: tuple[Receiver, str],
    relay: Relay,
    clock: Clock,
) -> None:
    inbox, url = receiver
    inbox.statuses.append(500)
    endpoint = await register(orders_client, admin, url, "order.placed")
    path = f"/webhooks/{endpoint['id']}"
    await place_order(orders_client, alice, (await catalogue.add(), 1))
    await rounds_until(relay, lambda: len(inbox.received) == 1, "a failed attempt")

    await orders_client.patch(path, json={"enabled": False}, headers=admin)
    await orders_client.patch(path, json={"enabled": True}, headers=admin)
    clock.advance(timedelta(days=2))
    for _ in range(3):
        await relay.run_once()

    assert len(inbox.received) == 1
    async with relay.store.engine.connect() as connection:
        states = list(await connection.scalars(select(WebhookDelivery.state)))
    assert states == ["failed"]


async def test_a_rotated_secret_keeps_signing_beside_the_new_one_for_a_day(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
    receiver: tuple[Receiver, str],
    relay: Relay,
    clock: Clock,
) -> None:
    inbox, url = receiver
    endpoint = await register(orders_client, admin, url, "order.placed")
    old_secret = endpoint["secret"]
    rotated = await orders_client.post(f"/webhooks/{endpoint['id']}/rotate-secret", headers=admin)
    new_secret = rotated.json()["secret"]

    await place_order(orders_client, alice, (await catalogue.add(), 1))
    await rounds_until(relay, lambda: len(inbox.received) == 1, "a delivery in the overlap")
    clock.advance(timedelta(hours=24, minutes=1))
    await place_order(orders_client, alice, (await catalogue.add(), 1))
    await rounds_until(relay, lambda: len(inbox.received) == 2, "a delivery after it")

    during, after = inbox.received
    assert during.verified_with(new_secret) == during.verified_with(old_secret)
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert after.verified_with(new_secret)["type"] == "order.placed"
    with pytest.raises(WebhookVerificationError):
        after.verified_with(old_secret)


def _resolving(host: str, address: str) -> Resolver:
    async def resolver(name: str, _: int) -> list[IPAddress]:
        if name != host:
            raise OSError(f"unknown host {name}")
        return [ipaddress.ip_address(address)]

    return resolver


async def _point_every_endpoint_at(relay: Relay, url: str) -> None:
    """As an admin could have registered a name while it still resolved to a public address."""
    async with relay.store.engine.begin() as connection:
        await connection.execute(update(WebhookEndpoint).values(url=url))


async def test_a_host_that_now_resolves_inside_is_refused_when_connecting(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
    receiver: tuple[Receiver, str],
    make_relay: RelayFactory,
) -> None:
    inbox, url = receiver
    port = httpx.URL(url).port
    endpoint = await register(orders_client, admin, url, "order.placed")
    relay = make_relay(
        resolver=_resolving("hooks.example.com", "127.0.0.1"),
        webhook_allow_private_addresses=False,
    )
    await _point_every_endpoint_at(relay, f"http://hooks.example.com:{port}/hooks")
    await place_order(orders_client, alice, (await catalogue.add(), 1))

    attempts: list[dict[str, Any]] = []
    async with asyncio.timeout(DEADLINE_SECONDS):
        while not attempts:
            await relay.run_once()
            attempts = await attempts_of(orders_client, admin, endpoint)

    [attempt] = attempts
    assert attempt["status_code"] is None
    assert "127.0.0.1" in attempt["error"]
    assert "loopback" in attempt["error"]
    assert inbox.received == []


async def test_a_delivery_connects_to_the_address_checked_and_names_the_host(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
    receiver: tuple[Receiver, str],
    make_relay: RelayFactory,
) -> None:
    inbox, url = receiver
    port = httpx.URL(url).port
    await register(orders_client, admin, url, "order.placed")
    relay = make_relay(resolver=_resolving("hooks.example.com", "127.0.0.1"))
    await _point_every_endpoint_at(relay, f"http://hooks.example.com:{port}/hooks")
    await place_order(orders_client, alice, (await catalogue.add(), 1))

    await rounds_until(relay, lambda: bool(inbox.received), "the delivery")

    assert inbox.received[0].headers["host"] == f"hooks.example.com:{port}"


async def test_relays_side_by_side_deliver_each_event_once(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
    receiver: tuple[Receiver, str],
    make_relay: RelayFactory,
) -> None:
    inbox, url = receiver
    await register(orders_client, admin, url, "order.placed", "product.stock_changed")
    product = await catalogue.add(stock=100)
    orders = [(await place_order(orders_client, alice, (product, 1))).json() for _ in range(8)]
    relays = [make_relay(relay_concurrency=3) for _ in range(3)]

    async with asyncio.timeout(DEADLINE_SECONDS):
        while len(inbox.received) < 16:
            await asyncio.gather(*(relay.run_once() for relay in relays))
    for relay in relays:
        await relay.run_once()

    ids = [received.headers["webhook-id"] for received in inbox.received]
    assert len(ids) == len(set(ids)) == 16
    assert all(inbox.types_of(order["id"]) == ["order.placed"] for order in orders)
    stock = [e["data"]["stock"] for e in inbox.events() if e["aggregate"]["id"] == product["id"]]
    assert stock == list(range(99, 91, -1))


async def test_a_lease_that_ran_out_is_taken_over_with_the_same_webhook_id(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
    receiver: tuple[Receiver, str],
    make_relay: RelayFactory,
    clock: Clock,
) -> None:
    inbox, url = receiver
    await register(orders_client, admin, url, "order.placed")
    order = (await place_order(orders_client, alice, (await catalogue.add(), 1))).json()
    dead, alive = make_relay(), make_relay()
    # The first relay claims the delivery and dies before sending it.
    claimed: list[Delivery] = []
    async with asyncio.timeout(DEADLINE_SECONDS):
        while not claimed:
            await dead.fan_out()
            claimed = await dead.claim(10)

    await alive.run_once()
    assert inbox.received == []
    clock.advance(alive.config.lease)
    await rounds_until(alive, lambda: bool(inbox.received), "the delivery taken over")

    assert inbox.received[0].headers["webhook-id"] == str(claimed[0].event.id)
    assert inbox.types_of(order["id"]) == ["order.placed"]


async def test_stopping_lets_the_deliveries_in_flight_finish(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
    receiver: tuple[Receiver, str],
    relay: Relay,
    orders_database_url: str,
) -> None:
    inbox, url = receiver
    inbox.hold()
    await register(orders_client, admin, url, "order.placed")
    await place_order(orders_client, alice, (await catalogue.add(), 1))
    running = asyncio.create_task(relay.run())
    async with asyncio.timeout(DEADLINE_SECONDS):
        while not inbox.received:  # noqa: ASYNC110 - the receiver runs in another thread
            await asyncio.sleep(0.02)

    relay.stop()
    await asyncio.sleep(0.1)
    assert not running.done()  # it waits for the delivery in flight
    inbox.release()
    await asyncio.wait_for(running, DEADLINE_SECONDS)

    async with relay.store.engine.connect() as connection:
        states = list(await connection.scalars(select(WebhookDelivery.state)))
    assert states == ["delivered"]
    [attempts] = relay.metrics.attempts.collect()
    assert [
        (sample.labels, sample.value)
        for sample in attempts.samples
        if sample.name.endswith("_total")
    ] == [({"outcome": "success"}, 1.0)]

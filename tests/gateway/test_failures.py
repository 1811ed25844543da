"""Failing upstreams, as real misbehaving servers: refused, reset, cut off, hung, 503s."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import create_app
from gateway.circuit import CircuitState
from gateway.routes import ProxyRoute
from tests.gateway.conftest import EchoUpstream, dead_url, gateway_client, gateway_settings
from tests.gateway.scripted_server import Behaviour, ScriptedServer
from tests.support.apps import running_app
from tests.support.servers import eventually, free_port, running_server

# The proxy keeps these promises whichever transport sends its requests.
pytestmark = pytest.mark.usefixtures("each_upstream_transport")

B = Behaviour

# No test may take longer than this, whatever the upstream does.
TEST_DEADLINE_SECONDS = 10


async def metric(client: httpx.AsyncClient, name: str, **labels: str) -> float:
    text = (await client.get("/metrics")).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def settings_for(upstream_url: str, jwks_url: str, **overrides: Any) -> Any:
    return gateway_settings(
        auth_url=upstream_url, orders_url=upstream_url, jwks_url=jwks_url, **overrides
    )


@pytest.mark.parametrize(
    "headers", [{}, {"content-length": "0"}], ids=["no body", "an empty body declared"]
)
async def test_a_get_whose_connection_was_reset_is_sent_again(
    jwks_url: str, headers: dict[str, str]
) -> None:
    with ScriptedServer([B.RESET]).running() as server:
        async with gateway_client(create_app(settings_for(server.url, jwks_url))) as gateway:
            response = await gateway.get("/auth/anything", headers=headers)
            retries = await metric(gateway, "gateway_upstream_retries_total", upstream="auth")

    assert response.status_code == 200
    assert server.connections == 2
    assert retries == 1


async def test_a_post_whose_connection_was_reset_is_not_sent_again(jwks_url: str) -> None:
    with ScriptedServer([B.RESET]).running() as server:
        async with gateway_client(create_app(settings_for(server.url, jwks_url))) as gateway:
            response = await gateway.post("/auth/anything", content=b"once only")

    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    assert server.connections == 1


async def test_a_refused_connection_is_tried_again_even_for_a_post(jwks_url: str) -> None:
    # Nothing was sent, so nothing can happen twice: one more try, then 502.
    async with gateway_client(create_app(settings_for(dead_url(), jwks_url))) as gateway:
        response = await gateway.post("/auth/anything", content=b"body")
        retries = await metric(gateway, "gateway_upstream_retries_total", upstream="auth")

    assert response.status_code == 502
    assert retries == 1


def test_a_response_cut_midway_is_cut_for_the_client_too(jwks_url: str) -> None:
    with (
        ScriptedServer([B.CUT]).running() as server,
        running_server(create_app(settings_for(server.url, jwks_url)), lifespan="on") as gateway,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        # The status was already sent: the gateway can only end the body early, which
        # the client sees as a short read (never as a complete, truncated body).
        httpx.get(f"{gateway}/auth/anything", timeout=10)


async def test_a_route_of_its_own_timeout_answers_504_in_that_time(jwks_url: str) -> None:
    hasty = [ProxyRoute("/auth", upstream="auth", is_public=True, timeout_seconds=0.2)]
    with ScriptedServer([], then=B.HANG).running() as server:
        settings = settings_for(server.url, jwks_url, upstream_timeout_seconds=60)
        async with (
            gateway_client(create_app(settings, routes=hasty)) as gateway,
            asyncio.timeout(10),  # far less than the gateway-wide 60 s
        ):
            response = await gateway.get("/auth/anything")

    assert response.status_code == 504


@pytest.mark.parametrize("failure", [B.UNAVAILABLE, B.RESET], ids=["503s", "resets"])
async def test_repeated_failures_open_the_circuit(jwks_url: str, failure: Behaviour) -> None:
    settings_overrides = {
        "circuit_failure_threshold": 3,
        "circuit_trial_delay_seconds": 30,
        "circuit_max_trial_delay_seconds": 30,
    }
    with ScriptedServer([], then=failure).running() as server:
        settings = settings_for(server.url, jwks_url, **settings_overrides)
        async with gateway_client(create_app(settings)) as gateway:
            failing = [await gateway.post("/auth/anything") for _ in range(3)]
            connections_before = server.connections
            refused = await gateway.post("/auth/anything")
            refusals = await metric(gateway, "gateway_circuit_open_total", upstream="auth")
            other_upstream = await gateway.get("/.well-known/jwks.json")

    assert [r.status_code for r in failing] == [503 if failure is B.UNAVAILABLE else 502] * 3
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["retry-after"]) <= 30
    assert server.connections == connections_before  # the upstream was spared
    assert refusals == 1
    # /.well-known goes to the auth upstream too: the circuit is per upstream, not per route.
    assert other_upstream.status_code == 503


async def test_traffic_resumes_within_two_seconds_of_an_upstream_coming_back(
    jwks_url: str, echo_upstream: EchoUpstream
) -> None:
    port = free_port()
    settings = settings_for(f"http://127.0.0.1:{port}", jwks_url)  # the default circuit
    async with gateway_client(create_app(settings)) as gateway:
        with running_server(echo_upstream.app, port=port):
            assert (await gateway.get("/auth/anything")).status_code == 200

        # Down: the circuit opens, and its trials (the requests that get a 502 rather than
        # the circuit's 503) fail until the pause between them is as long as it gets.
        failed = 0
        async with asyncio.timeout(TEST_DEADLINE_SECONDS):
            while failed < settings.circuit_failure_threshold + 2:
                failed += (await gateway.get("/auth/anything")).status_code == 502
                await asyncio.sleep(0.01)

        with running_server(echo_upstream.app, port=port):
            async with asyncio.timeout(2):
                # Polled: whether the circuit lets a request through shows only by asking.
                while (await gateway.get("/auth/anything")).status_code != 200:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)


async def test_successes_keep_the_circuit_closed(jwks_url: str) -> None:
    script = [B.UNAVAILABLE, B.UNAVAILABLE, B.OK, B.UNAVAILABLE, B.UNAVAILABLE]
    with ScriptedServer(script).running() as server:
        settings = settings_for(server.url, jwks_url, circuit_failure_threshold=3)
        async with gateway_client(create_app(settings)) as gateway:
            statuses = [(await gateway.post("/auth/x")).status_code for _ in range(6)]

    # Never three failures in a row: the sixth request reaches the upstream.
    assert statuses == [503, 503, 200, 503, 503, 200]


async def test_upstream_latency_and_failures_are_measured(jwks_url: str) -> None:
    with ScriptedServer([B.OK, B.UNAVAILABLE]).running() as server:
        async with gateway_client(create_app(settings_for(server.url, jwks_url))) as gateway:
            await gateway.post("/auth/x")
            await gateway.post("/auth/x")
            timed = await metric(
                gateway, "gateway_upstream_duration_seconds_count", upstream="auth"
            )
            failures = await metric(
                gateway, "gateway_upstream_failures_total", upstream="auth", kind="status"
            )

    assert timed == 2
    assert failures == 1


async def test_a_trial_ended_by_the_client_does_not_leave_the_circuit_stuck(
    jwks_url: str,
) -> None:
    settings_overrides = {"circuit_failure_threshold": 1, "client_body_timeout_seconds": 0.2}
    stalled = asyncio.Event()

    async def stalling_body() -> AsyncIterator[bytes]:
        yield b"half of it"
        await stalled.wait()  # never set: the client stops sending

    with ScriptedServer([B.UNAVAILABLE]).running() as server:
        app = create_app(settings_for(server.url, jwks_url, **settings_overrides))
        async with running_app(app, "http://gateway.test") as (gateway, state):
            breaker = state["upstreams"]["auth"].breaker
            opened = await gateway.post("/auth/x")
            breaker.clock = lambda: float("inf")  # the pause is over: the next one is a trial
            trial = await gateway.post("/auth/x", content=stalling_body())
            after = await gateway.post("/auth/x")

    assert opened.status_code == 503
    assert trial.status_code == 408
    assert after.status_code == 200  # a new trial went through, and closed the circuit


async def test_the_gateways_own_full_pool_is_503_and_no_fault_of_the_upstream(
    jwks_url: str,
) -> None:
    overrides = {
        "upstream_max_connections": 1,
        "upstream_pool_timeout_seconds": 0.2,
        "circuit_failure_threshold": 1,
    }
    hasty = [ProxyRoute("/auth", upstream="auth", is_public=True, timeout_seconds=0.6)]
    with ScriptedServer([B.HANG]).running() as server:
        settings = settings_for(server.url, jwks_url, **overrides)
        app = create_app(settings, routes=hasty)
        async with running_app(app, "http://gateway.test") as (gateway, state):
            holding = asyncio.create_task(gateway.get("/auth/hang"))
            await eventually(lambda: server.connections > 0, "the first request to arrive")
            crowded = await gateway.get("/auth/x")
            circuit_after_crowding = state["upstreams"]["auth"].breaker.state
            held = await holding

    assert crowded.status_code == 503
    assert crowded.headers["retry-after"] == "1"
    assert circuit_after_crowding is CircuitState.CLOSED  # one failure would have opened it
    assert held.status_code == 504

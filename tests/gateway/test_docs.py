"""The gateway's `/openapi.json` and `/docs`: the upstreams' documents merged, cached, and
served stale when an upstream is down."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import anyio.to_thread
import httpx
import pytest
from openapi_spec_validator import validate
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.app import create_app
from gateway.config import GatewaySettings
from gateway.openapi_merge import merge_documents, owned_paths
from gateway.routes import ROUTES
from shared.problem_types import PROBLEM_TYPES
from tests.gateway.conftest import dead_url, gateway_client, gateway_settings
from tests.gateway.scripted_server import Behaviour, ScriptedServer
from tests.support.pages import DOCS_PAGE_POLICY, parts_of
from tests.support.servers import eventually, free_port, running_server

JSONObject = dict[str, Any]
# What the gateway serves and documents itself.
OWN_PATHS = {"/health/live", "/health/ready", "/problems", "/problems/{slug}"}


def unresolved_references(document: JSONObject) -> list[str]:  # noqa: C901 - two small walkers
    """Every `$ref` in `document` that does not point at something inside it."""

    def resolves(reference: str) -> bool:
        if not reference.startswith("#/"):
            return False
        target: Any = document
        for token in reference[2:].split("/"):
            token = token.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or token not in target:
                return False
            target = target[token]
        return True

    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, list):
            for item in node:
                yield from walk(item)
        elif isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str) and not resolves(reference):
                yield reference
            for value in node.values():
                yield from walk(value)

    return list(walk(document))


def operations(document: JSONObject) -> set[tuple[str, str]]:
    return {(method, path) for path, item in document["paths"].items() for method in item}


def fake_document(*paths: str, schemas: JSONObject | None = None) -> JSONObject:
    def operation(path: str) -> JSONObject:
        return {
            "operationId": path.strip("/").replace("/", "_"),
            "responses": {"200": {"description": "OK"}},
        }

    return {
        "openapi": "3.1.0",
        "info": {"title": "Fake", "version": "1"},
        "paths": {path: {"get": operation(path)} for path in paths},
        "components": {"schemas": schemas or {}},
    }


def schema_ref(name: str) -> JSONObject:
    return {"$ref": f"#/components/schemas/{name}"}


class FakeUpstream:
    """Serves an OpenAPI document that a test can change, with an ETag if asked to; holds its
    answers while `gate` is clear."""

    def __init__(self, document: JSONObject, *, sends_etag: bool = False) -> None:
        self.document = document
        self.sends_etag = sends_etag
        self.seen_headers: list[dict[str, str]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.app = Starlette(routes=[Route("/openapi.json", self._openapi)])

    async def _openapi(self, request: Request) -> Response:
        self.seen_headers.append(dict(request.headers))
        await anyio.to_thread.run_sync(self.gate.wait, 10)
        body = json.dumps(self.document).encode()
        if not self.sends_etag:
            return Response(body, media_type="application/json")
        etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        return Response(body, media_type="application/json", headers={"ETag": etag})


@pytest.fixture
def upstreams() -> Iterator[ExitStack]:
    """Servers a test starts, and may stop before the test ends."""
    with ExitStack() as stack:
        yield stack


def docs_settings(jwks_url: str, **overrides: Any) -> GatewaySettings:
    return gateway_settings(jwks_url=jwks_url, **{"orders_url": dead_url(), **overrides})


async def fetch_document(gateway: httpx.AsyncClient) -> JSONObject:
    response = await gateway.get("/openapi.json")
    assert response.status_code == 200, response.text
    document: JSONObject = response.json()
    return document


# Against the real services.


@pytest.fixture
async def real_document(real_auth_url: str, real_orders_url: str, jwks_url: str) -> JSONObject:
    settings = docs_settings(jwks_url, auth_url=real_auth_url, orders_url=real_orders_url)
    async with gateway_client(create_app(settings)) as gateway:
        return await fetch_document(gateway)


async def test_document_has_the_operations_of_both_services(real_document: JSONObject) -> None:
    assert {("post", "/auth/token"), ("get", "/orders/{order_id}"), ("post", "/products")} <= (
        operations(real_document)
    )
    assert real_document["info"]["title"] == "Order platform gateway"
    assert real_document["servers"] == [{"url": "/"}]
    assert "x-unavailable-upstreams" not in real_document


async def test_document_has_only_what_the_gateway_routes(real_document: JSONObject) -> None:
    prefixes = tuple(route.prefix for route in ROUTES)
    not_proxied = {path for path in real_document["paths"] if not path.startswith(prefixes)}
    # The gateway's own; not the services' (nor anyone's /metrics or /docs).
    assert not_proxied == OWN_PATHS
    assert real_document["paths"]["/health/ready"]["get"]["tags"] == ["health"]


async def test_every_reference_resolves_and_the_document_is_valid(
    real_document: JSONObject,
) -> None:
    assert unresolved_references(real_document) == []
    assert set(real_document["components"]["securitySchemes"]) == {"PasswordGrant", "BearerToken"}
    # Both services and the gateway define it, identically: one copy.
    assert "Problem" in real_document["components"]["schemas"]
    assert "HTTPValidationError" not in real_document["components"]["schemas"]
    validate(real_document)


def _types(operation: JSONObject, status: str) -> set[str]:
    uris = operation["responses"].get(status, {}).get("x-problem-types", [])
    return {uri.removeprefix("/problems/") for uri in uris}


async def test_every_proxied_operation_documents_what_the_gateway_answers_itself(
    real_document: JSONObject,
) -> None:
    proxied = [
        (path, operation)
        for path, item in real_document["paths"].items()
        if path not in OWN_PATHS
        for operation in item.values()
    ]
    assert len(proxied) >= 18
    for path, operation in proxied:
        statuses = set(operation["responses"])
        assert {"400", "408", "413", "414", "429", "431", "502", "503", "504"} <= statuses, path
        assert {"bad-request"} <= _types(operation, "400")
        assert {"upstream-unavailable", "gateway-busy"} <= _types(operation, "503")
        assert "Retry-After" in operation["responses"]["429"]["headers"]
        for response in operation["responses"].values():
            assert {"RateLimit", "RateLimit-Policy", "Server-Timing", "X-Request-ID"} <= set(
                response["headers"]
            ), path


async def test_only_protected_routes_document_401_and_their_security(
    real_document: JSONObject,
) -> None:
    for path, item in real_document["paths"].items():
        for operation in item.values():
            is_protected = (
                path.startswith(("/orders", "/products", "/events", "/webhooks"))
                or path == "/auth/me"
            )
            assert ("401" in operation["responses"]) == is_protected, path
            assert ("security" in operation) == is_protected, path
            if is_protected:
                assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]


async def test_a_status_that_service_and_gateway_both_answer_lists_both_types(
    real_document: JSONObject,
) -> None:
    place_order = real_document["paths"]["/orders"]["post"]
    assert _types(place_order, "400") == {"malformed-body", "bad-request"}
    assert _types(place_order, "503") == {
        "database-unavailable",
        "upstream-unavailable",
        "too-many-connections",
        "gateway-busy",
    }
    # The token endpoint's own 400 is RFC 6749's; the gateway's is a problem.
    token_400 = real_document["paths"]["/auth/token"]["post"]["responses"]["400"]
    assert set(token_400["content"]) == {"application/json", "application/problem+json"}


async def test_every_problem_type_is_documented_on_some_operation(
    real_document: JSONObject, real_auth_url: str, real_orders_url: str
) -> None:
    async with httpx.AsyncClient() as client:
        services = [
            (await client.get(f"{url}/openapi.json")).json()
            for url in (real_auth_url, real_orders_url)
        ]
    documented = {
        uri.removeprefix("/problems/")
        for document in (real_document, *services)
        for item in document["paths"].values()
        for operation in item.values()
        for response in operation["responses"].values()
        for uri in response.get("x-problem-types", [])
    }
    # The framework's 405 answers methods a path does not take: no operation of its own.
    assert documented == set(PROBLEM_TYPES) - {"method-not-allowed"}


async def test_authorize_in_docs_signs_in_as_swagger_ui_asks(
    real_document: JSONObject, real_auth_url: str, jwks_url: str
) -> None:
    """What Swagger UI's "Authorize" sends for the password flow (as a browser showed it): a
    form with an empty scope to the document's `tokenUrl`, resolved against the gateway, with
    Basic client credentials that are empty; and then the token on "Try it out"."""
    flows = real_document["components"]["securitySchemes"]["PasswordGrant"]["flows"]
    credentials = {"username": "swagger@example.com", "password": "a long enough password"}
    settings = docs_settings(jwks_url, auth_url=real_auth_url)
    async with gateway_client(create_app(settings)) as gateway:
        await gateway.post(
            "/auth/register",
            json={"email": credentials["username"], "password": credentials["password"]},
        )
        signed_in = await gateway.post(
            flows["password"]["tokenUrl"],
            data={"grant_type": "password", **credentials, "scope": ""},
            headers={"Authorization": "Basic Og=="},
        )
        me = await gateway.get(
            "/auth/me", headers={"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        )

    assert signed_in.status_code == 200, signed_in.text
    assert me.json()["email"] == credentials["username"]


async def test_docs_serves_swagger_ui_for_the_merged_document(
    real_auth_url: str, jwks_url: str
) -> None:
    async with gateway_client(create_app(docs_settings(jwks_url, auth_url=real_auth_url))) as gw:
        response = await gw.get("/docs")
        page = parts_of(response.text)
        assets = [await gw.get(url) for url in page.loads]
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == DOCS_PAGE_POLICY
    assert page.openapi_urls == ["/openapi.json"]
    assert page.inline_scripts == []
    # Every file the page loads is the gateway's own, and there.
    assert len(page.loads) == 4
    assert all(url.startswith("/docs/assets/") for url in page.loads)
    assert [asset.status_code for asset in assets] == [200] * 4
    assert all(asset.headers["x-content-type-options"] == "nosniff" for asset in assets)


async def test_an_unreachable_service_leaves_the_others_documented(
    real_auth_url: str, jwks_url: str
) -> None:
    settings = docs_settings(jwks_url, auth_url=real_auth_url, orders_url=dead_url())
    async with gateway_client(create_app(settings)) as gateway:
        document = await fetch_document(gateway)
    assert ("post", "/auth/token") in operations(document)
    assert not any(path.startswith(("/orders", "/products")) for path in document["paths"])
    assert document["x-unavailable-upstreams"] == ["orders"]
    assert "orders" in document["info"]["description"]
    assert unresolved_references(document) == []


# Against a fake upstream whose document a test changes, and which it stops.


async def test_an_unchanged_document_answers_304(upstreams: ExitStack, jwks_url: str) -> None:
    url = upstreams.enter_context(running_server(FakeUpstream(fake_document("/auth/a")).app))
    async with gateway_client(create_app(docs_settings(jwks_url, auth_url=url))) as gateway:
        etag = (await gateway.get("/openapi.json")).headers["etag"]
        response = await gateway.get("/openapi.json", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.headers["etag"] == etag


async def test_a_changed_document_is_served_once_the_cache_expires(
    upstreams: ExitStack, jwks_url: str
) -> None:
    fake = FakeUpstream(fake_document("/auth/a"))
    url = upstreams.enter_context(running_server(fake.app))
    settings = docs_settings(jwks_url, auth_url=url, openapi_cache_seconds=0)
    async with gateway_client(create_app(settings)) as gateway:
        before = await fetch_document(gateway)
        fake.document = fake_document("/auth/a", "/auth/b")
        after = await fetch_document(gateway)
    assert set(before["paths"]) - OWN_PATHS == {"/auth/a"}
    assert set(after["paths"]) - OWN_PATHS == {"/auth/a", "/auth/b"}


async def test_the_document_is_cached_for_the_cache_time(
    upstreams: ExitStack, jwks_url: str
) -> None:
    fake = FakeUpstream(fake_document("/auth/a"))
    url = upstreams.enter_context(running_server(fake.app))
    settings = docs_settings(jwks_url, auth_url=url, openapi_cache_seconds=60)
    async with gateway_client(create_app(settings)) as gateway:
        await fetch_document(gateway)
        fake.document = fake_document("/auth/a", "/auth/b")
        document = await fetch_document(gateway)
    assert "/auth/b" not in document["paths"]
    assert len(fake.seen_headers) == 1


async def test_refreshes_ask_conditionally_when_the_upstream_sends_etags(
    upstreams: ExitStack, jwks_url: str
) -> None:
    fake = FakeUpstream(fake_document("/auth/a"), sends_etag=True)
    url = upstreams.enter_context(running_server(fake.app))
    settings = docs_settings(jwks_url, auth_url=url, openapi_cache_seconds=0)
    async with gateway_client(create_app(settings)) as gateway:
        first = await gateway.get("/openapi.json")
        second = await gateway.get("/openapi.json")
    assert "if-none-match" not in fake.seen_headers[0]
    assert fake.seen_headers[1]["if-none-match"].startswith('"')
    assert second.status_code == 200
    assert second.headers["etag"] == first.headers["etag"]


async def test_a_service_that_goes_down_keeps_its_last_document(jwks_url: str) -> None:
    with ExitStack() as upstream:
        url = upstream.enter_context(running_server(FakeUpstream(fake_document("/auth/a")).app))
        settings = docs_settings(jwks_url, auth_url=url, openapi_cache_seconds=0)
        async with gateway_client(create_app(settings)) as gateway:
            await fetch_document(gateway)
            upstream.close()
            document = await fetch_document(gateway)
    assert "/auth/a" in document["paths"]
    assert document["x-stale-upstreams"] == ["auth"]


async def test_a_service_that_comes_back_is_fresh_again(jwks_url: str) -> None:
    fake, port = FakeUpstream(fake_document("/auth/a")), free_port()
    url = f"http://127.0.0.1:{port}"
    settings = docs_settings(jwks_url, auth_url=url, openapi_cache_seconds=0)
    async with gateway_client(create_app(settings)) as gateway:
        assert (await fetch_document(gateway))["x-unavailable-upstreams"] == ["auth", "orders"]
        with running_server(fake.app, port=port):
            document = await fetch_document(gateway)
    assert "/auth/a" in document["paths"]
    assert document["x-unavailable-upstreams"] == ["orders"]
    assert "x-stale-upstreams" not in document


async def test_concurrent_requests_share_one_fetch(upstreams: ExitStack, jwks_url: str) -> None:
    fake = FakeUpstream(fake_document("/auth/a"))
    url = upstreams.enter_context(running_server(fake.app))
    async with gateway_client(create_app(docs_settings(jwks_url, auth_url=url))) as gateway:
        fake.gate.clear()
        try:
            requests = [asyncio.create_task(gateway.get("/openapi.json")) for _ in range(10)]
            await eventually(lambda: len(fake.seen_headers) == 1, "the first fetch")
        finally:
            fake.gate.set()
        responses = await asyncio.gather(*requests)
    assert {response.status_code for response in responses} == {200}
    assert len({response.content for response in responses}) == 1
    assert len(fake.seen_headers) == 1


# The merge rules.


def test_components_defined_differently_are_renamed_with_their_references() -> None:
    money = {"type": "string"}
    auth = fake_document(
        "/auth/a", schemas={"Money": money, "Price": {"properties": {"m": schema_ref("Money")}}}
    )
    orders = fake_document(
        "/orders/a",
        schemas={"Money": {"type": "number"}, "Price": {"properties": {"m": schema_ref("Money")}}},
    )
    for document, path in ((auth, "/auth/a"), (orders, "/orders/a")):
        document["paths"][path]["get"]["responses"]["200"]["content"] = {
            "application/json": {"schema": schema_ref("Price")}
        }

    merged = merge_documents({"auth": auth, "orders": orders})

    schemas = merged["components"]["schemas"]
    # `Price` reads the same in both, but means different things: its `Money` differs.
    assert set(schemas) == {"auth.Money", "orders.Money", "auth.Price", "orders.Price"}
    assert schemas["orders.Price"]["properties"]["m"] == schema_ref("orders.Money")
    response = merged["paths"]["/auth/a"]["get"]["responses"]["200"]
    assert response["content"]["application/json"]["schema"] == schema_ref("auth.Price")
    assert unresolved_references(merged) == []


def test_identical_components_are_kept_once() -> None:
    schemas = {"Problem": {"type": "object"}}
    merged = merge_documents(
        {
            "auth": fake_document("/auth/a", schemas=schemas),
            "orders": fake_document("/orders/a", schemas=schemas),
        }
    )
    assert merged["components"]["schemas"] == schemas


def test_security_schemes_defined_differently_are_renamed_in_requirements() -> None:
    auth, orders = fake_document("/auth/a"), fake_document("/orders/a")
    auth["components"]["securitySchemes"] = {"Bearer": {"type": "http", "scheme": "bearer"}}
    orders["components"]["securitySchemes"] = {"Bearer": {"type": "apiKey", "in": "header"}}
    orders["paths"]["/orders/a"]["get"]["security"] = [{"Bearer": []}]

    merged = merge_documents({"auth": auth, "orders": orders})

    assert set(merged["components"]["securitySchemes"]) == {"auth.Bearer", "orders.Bearer"}
    assert merged["paths"]["/orders/a"]["get"]["security"] == [{"orders.Bearer": []}]


def test_only_routed_paths_and_the_components_they_use_are_kept() -> None:
    document = fake_document(
        "/orders/a", "/health/live", "/internal", schemas={"Used": {}, "Unused": {}}
    )
    document["paths"]["/orders/a"]["get"]["responses"]["200"]["content"] = {
        "application/json": {"schema": schema_ref("Used")}
    }

    owned = owned_paths(document, "orders", ROUTES)

    assert set(owned["paths"]) == {"/orders/a"}
    assert set(owned["components"]["schemas"]) == {"Used"}


async def test_a_refresh_in_progress_is_stopped_with_the_gateway(jwks_url: str) -> None:
    with ScriptedServer([], then=Behaviour.HANG).running() as hanging:
        settings = gateway_settings(auth_url=hanging.url, orders_url=hanging.url, jwks_url=jwks_url)
        async with gateway_client(create_app(settings)) as gateway:
            reading = asyncio.create_task(gateway.get("/openapi.json"))
            await eventually(lambda: hanging.connections > 0, "the refresh to reach the server")
        # The lifespan has ended: the refresh it left running is gone with it.
        refreshes = [
            task
            for task in asyncio.all_tasks()
            if getattr(task.get_coro(), "__qualname__", "") == "ApiDocuments._refresh"
        ]
        reading.cancel()

    assert refreshes == []

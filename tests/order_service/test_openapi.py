"""The order service's OpenAPI document: valid, and saying what each operation answers."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from order_service.app import create_app
from order_service.config import OrdersSettings

JSONObject = dict[str, Any]


@pytest.fixture(scope="module")
def document() -> JSONObject:
    # No resource is opened: the document needs none.
    built: JSONObject = create_app(OrdersSettings()).openapi()
    return built


def _types(document: JSONObject, path: str, method: str, status: str) -> set[str]:
    response = document["paths"][path][method]["responses"][status]
    return {uri.removeprefix("/problems/") for uri in response["x-problem-types"]}


def test_the_document_is_valid_openapi_3_1(document: JSONObject) -> None:
    validate(document)


@pytest.mark.parametrize(
    ("path", "method", "status", "types"),
    [
        ("/orders", "post", "409", {"out-of-stock"}),
        ("/orders", "post", "422", {"validation-error", "idempotency-key-reused"}),
        ("/orders/{order_id}", "patch", "409", {"out-of-stock", "order-not-modifiable"}),
        ("/orders/{order_id}", "patch", "412", {"precondition-failed"}),
        ("/orders/{order_id}/pay", "post", "409", {"invalid-transition"}),
        ("/orders/{order_id}/pay", "post", "403", {"forbidden"}),
        ("/products", "post", "409", {"sku-taken"}),
        ("/products/{product_id}", "get", "404", {"not-found"}),
        ("/products/{product_id}", "patch", "403", {"forbidden"}),
        ("/products", "get", "503", {"database-unavailable"}),
    ],
)
def test_an_operation_documents_its_problem_types(
    document: JSONObject, path: str, method: str, status: str, types: set[str]
) -> None:
    assert _types(document, path, method, status) == types


def test_only_the_shop_ships_and_delivers(document: JSONObject) -> None:
    roles = {
        path: item["post"].get("x-required-role")
        for path, item in document["paths"].items()
        if path.startswith("/orders/{order_id}/")
    }
    assert roles == {
        "/orders/{order_id}/pay": None,
        "/orders/{order_id}/ship": "admin",
        "/orders/{order_id}/deliver": "admin",
        "/orders/{order_id}/cancel": None,
    }


def test_placing_an_order_documents_its_headers_and_where_to_go_next(
    document: JSONObject,
) -> None:
    operation = document["paths"]["/orders"]["post"]
    created = operation["responses"]["201"]
    (idempotency_key,) = operation["parameters"]
    assert {"Location", "ETag", "Idempotent-Replayed", "Cache-Control"} <= set(created["headers"])
    assert idempotency_key["schema"]["pattern"].startswith("^(?:[\\x21")
    assert {"show_order", "pay_order", "cancel_order"} <= set(created["links"])


def test_a_price_is_documented_as_the_service_takes_it(document: JSONObject) -> None:
    schemas = document["components"]["schemas"]
    price = schemas["ProductCreate"]["properties"]["price"]
    changes = schemas["ProductUpdate"]["properties"]
    assert price["type"] == "string"
    assert price["pattern"].startswith("^(?:0")
    # Found by fuzzing: a field that may be left out was documented as nullable.
    assert all("anyOf" not in field and "default" not in field for field in changes.values())

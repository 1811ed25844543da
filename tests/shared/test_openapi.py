"""A service's OpenAPI document: what every operation answers is derived from its route."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Header
from openapi_spec_validator import validate
from pydantic import BaseModel
from starlette.requests import HTTPConnection

from shared.identity import AdminIdentity, CurrentIdentity
from shared.metrics import ServiceMetrics
from shared.openapi import reaches_database
from shared.openapi_responses import problems, sends
from shared.problem_types import PROBLEM_TYPES, SKU_TAKEN
from shared.service import create_service_app, platform_middleware

JSONObject = dict[str, Any]


@reaches_database
async def _database(connection: HTTPConnection) -> None:
    """Stands for a dependency that hands a handler the database."""


Database = Annotated[None, Depends(_database)]


class Thing(BaseModel):
    id: uuid.UUID
    name: str


class ThingPage(BaseModel):
    items: list[Thing]
    next_cursor: str | None


def _app() -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        yield {}

    metrics = ServiceMetrics()
    app = create_service_app(
        title="documented",
        description="test",
        lifespan=lifespan,
        readiness_checks={},
        metrics=metrics,
        middleware=platform_middleware(metrics, tracing=None),
    )

    @app.get("/things", response_model=ThingPage)
    async def browse_things(_: CurrentIdentity, __: Database, cursor: str | None = None) -> Any:
        return {"items": [], "next_cursor": None}

    @app.post(
        "/things",
        status_code=201,
        response_model=Thing,
        responses={201: sends("Location"), **problems(SKU_TAKEN)},
    )
    async def add_thing(thing: Thing, _: AdminIdentity, __: Database) -> Any:
        return thing

    @app.get("/things/{thing_id}", response_model=Thing)
    async def show_thing(thing_id: uuid.UUID, _: CurrentIdentity) -> Any:
        return {"id": thing_id, "name": "x"}

    @app.post("/things/{thing_id}/polish", response_model=Thing)
    async def polish_thing(
        thing_id: uuid.UUID,
        _: CurrentIdentity,
        if_match: Annotated[str | None, Header()] = None,
    ) -> Any:
        return {"id": thing_id, "name": "x"}

    @app.get("/plain")
    async def plain() -> dict[str, str]:
        return {}

    return app


@pytest.fixture(scope="module")
def document() -> JSONObject:
    built: JSONObject = _app().openapi()
    return built


def _types(document: JSONObject, path: str, method: str) -> dict[str, list[str]]:
    """The problem types an operation documents, by status."""
    responses = document["paths"][path][method]["responses"]
    return {
        status: [uri.removeprefix("/problems/") for uri in response["x-problem-types"]]
        for status, response in responses.items()
        if "x-problem-types" in response
    }


def test_the_document_is_valid_openapi_3_1(document: JSONObject) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_operation_may_answer_an_internal_error(document: JSONObject) -> None:
    assert _types(document, "/plain", "get") == {"500": ["internal-error"]}


def test_an_operation_with_input_answers_validation_errors_and_a_body_malformed_ones(
    document: JSONObject,
) -> None:
    assert _types(document, "/things", "get")["422"] == ["validation-error"]
    assert "400" not in _types(document, "/things", "get")
    assert _types(document, "/things", "post")["400"] == ["malformed-body"]


def test_fastapis_own_validation_error_is_gone(document: JSONObject) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    assert "ValidationError" not in json.dumps(document["paths"])


def test_a_path_parameter_means_not_found_and_if_match_a_failed_precondition(
    document: JSONObject,
) -> None:
    assert "404" in _types(document, "/things/{thing_id}", "get")
    assert "412" not in _types(document, "/things/{thing_id}", "get")
    assert _types(document, "/things/{thing_id}/polish", "post")["412"] == ["precondition-failed"]


def test_protected_operations_declare_their_security_and_401(document: JSONObject) -> None:
    operation = document["paths"]["/things/{thing_id}"]["get"]
    assert operation["security"] == [{"PasswordGrant": []}, {"BearerToken": []}]
    assert _types(document, "/things/{thing_id}", "get")["401"] == ["unauthorized"]
    unauthorized = operation["responses"]["401"]
    assert "WWW-Authenticate" in unauthorized["headers"]
    assert "security" not in document["paths"]["/plain"]["get"]


def test_admin_operations_answer_403_and_say_so(document: JSONObject) -> None:
    operation = document["paths"]["/things"]["post"]
    assert operation["x-required-role"] == "admin"
    assert _types(document, "/things", "post")["403"] == ["forbidden"]
    assert "403" not in _types(document, "/things", "get")


def test_operations_that_reach_the_database_answer_503_with_retry_after(
    document: JSONObject,
) -> None:
    assert _types(document, "/things", "get")["503"] == ["database-unavailable"]
    unavailable = document["paths"]["/things"]["get"]["responses"]["503"]
    assert "Retry-After" in unavailable["headers"]
    assert "503" not in _types(document, "/things/{thing_id}", "get")


def test_a_routes_own_problem_types_join_the_derived_ones(document: JSONObject) -> None:
    assert _types(document, "/things", "post")["409"] == ["sku-taken"]
    conflict = document["paths"]["/things"]["post"]["responses"]["409"]
    assert "[`sku-taken`](/problems/sku-taken)" in conflict["description"]


def test_every_problem_answer_is_the_one_problem_schema(document: JSONObject) -> None:
    for path in document["paths"].values():
        for operation in path.values():
            for response in operation["responses"].values():
                if "x-problem-types" in response:
                    assert response["content"] == {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    }
                    assert "Cache-Control" in response["headers"]


def test_the_problem_schema_lists_every_extension_member_of_the_catalogue(
    document: JSONObject,
) -> None:
    properties = document["components"]["schemas"]["Problem"]["properties"]
    members = {name for each in PROBLEM_TYPES.values() for name in each.extensions}
    assert {"type", "title", "status", "detail", "request_id", "trace_id"} <= set(properties)
    assert members <= set(properties)
    assert "Carried by `out-of-stock`." in properties["product_id"]["description"]


def test_every_answer_carries_x_request_id_and_declared_headers(document: JSONObject) -> None:
    created = document["paths"]["/things"]["post"]["responses"]["201"]
    assert set(created["headers"]) == {"Location", "X-Request-ID"}
    for path in document["paths"].values():
        for operation in path.values():
            for response in operation["responses"].values():
                assert "X-Request-ID" in response["headers"]


def test_optional_parameters_are_absent_rather_than_null(document: JSONObject) -> None:
    (cursor,) = document["paths"]["/things"]["get"]["parameters"]
    assert cursor["schema"]["type"] == "string"
    assert "anyOf" not in cursor["schema"]


def test_created_resources_and_pages_link_to_the_operations_on_an_item(
    document: JSONObject,
) -> None:
    created = document["paths"]["/things"]["post"]["responses"]["201"]["links"]
    page = document["paths"]["/things"]["get"]["responses"]["200"]["links"]
    assert created["show_thing"] == {
        "operationId": "show_thing",
        "parameters": {"path.thing_id": "$response.body#/id"},
    }
    assert set(created) == {"show_thing", "polish_thing"}
    assert page["show_thing"]["parameters"] == {"path.thing_id": "$response.body#/items/0/id"}
    assert page["next_browse_things"] == {
        "operationId": "browse_things",
        "parameters": {"query.cursor": "$response.body#/next_cursor"},
    }


def test_operation_ids_are_the_handlers_names(document: JSONObject) -> None:
    ids = {
        operation["operationId"]
        for path in document["paths"].values()
        for operation in path.values()
    }
    assert {"browse_things", "add_thing", "show_thing", "polish_thing", "plain"} <= ids

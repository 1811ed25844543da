"""A service's OpenAPI document: FastAPI's, completed with everything each operation can
answer, derived from its route so that no new operation can forget any of it.

* Every operation: `X-Request-ID` on every answer, and `internal-error` (500).
* One that takes parameters or a body: `validation-error` (422); a JSON body also
  `malformed-body` (400). FastAPI's own 422 (`HTTPValidationError`) is replaced.
* One with a path parameter: `not-found` (404); with `If-Match`: `precondition-failed` (412).
* One that needs a token (it depends on `authenticate`): the security requirement and
  `unauthorized` (401); on `require_admin` also `forbidden` (403) and `x-required-role`.
* One that uses a dependency registered with `reaches_database`: `database-unavailable`.
* A route's own problem types (`problems(...)` in its `responses=`) and headers (`sends`).
* Links for stateful clients: from a created resource (201) and from a page's first item
  to the operations on it, and from a page to the next.

Parameters that may be left out lose FastAPI's `null` alternative: a query parameter or a
header is absent or has a value, never `null`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_flat_params
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from shared.identity import authenticate, require_admin
from shared.openapi_responses import (
    PROBLEM_TYPES_KEY,
    JSONObject,
    add_headers,
    add_problems,
    signed_in,
    with_components,
)
from shared.problem_types import (
    BY_URI,
    DATABASE_UNAVAILABLE,
    FORBIDDEN,
    INTERNAL_ERROR,
    MALFORMED_BODY,
    NOT_FOUND,
    PRECONDITION_FAILED,
    UNAUTHORIZED,
    VALIDATION_ERROR,
    ProblemType,
)

Dependency = TypeVar("Dependency", bound=Callable[..., Any])

_DATABASE_DEPENDENCIES: set[Callable[..., Any]] = set()
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
_PATH_PARAMETER = re.compile(r"\{([^}]+)\}")


def reaches_database(dependency: Dependency) -> Dependency:
    """Mark a dependency as one that gives a handler the database: operations that use it
    may answer `database-unavailable` (503)."""
    _DATABASE_DEPENDENCIES.add(dependency)
    return dependency


def operation_id(route: APIRoute) -> str:
    """The handler's name (`create_order`): what a generated client calls the operation."""
    return route.name


def install_service_document(app: FastAPI) -> None:
    """Serve `service_document(app)` as the app's `/openapi.json` (made once)."""

    def openapi() -> JSONObject:
        if app.openapi_schema is None:
            app.openapi_schema = service_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def service_document(app: FastAPI) -> JSONObject:
    document = with_components(
        get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
    )
    # The routes as the app serves them: included routers' prefixes and dependencies applied.
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and route.include_in_schema:
            for method in route.methods or ():
                operation = document["paths"][route.path_format][method.lower()]
                _complete(operation, route)
    schemas = document["components"]["schemas"]
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    _add_links(document)
    return document


def _complete(operation: JSONObject, route: RouteContext) -> None:
    responses: JSONObject = operation["responses"]
    if "ValidationError" in str(responses.get("422", {}).get("content", "")):
        del responses["422"]  # FastAPI's own, which the platform never answers
    declared = [
        BY_URI[uri]
        for response in responses.values()
        for uri in response.pop(PROBLEM_TYPES_KEY, [])
    ]
    calls = set(_dependency_calls(route.dependant))
    if authenticate in calls:
        operation["security"] = signed_in()
    if require_admin in calls:
        operation["x-required-role"] = "admin"
    add_problems(operation, [*declared, *_derived_problems(route, calls)])
    for response in operation["responses"].values():
        add_headers(response, ["X-Request-ID"])
    for parameter in operation.get("parameters", []):
        parameter["schema"] = _without_null(parameter["schema"])


def _derived_problems(route: RouteContext, calls: set[Callable[..., Any]]) -> Iterator[ProblemType]:
    yield INTERNAL_ERROR
    parameters = get_flat_params(route.dependant)
    if parameters or route.body_field is not None:
        yield VALIDATION_ERROR
    if route.body_field is not None:
        yield MALFORMED_BODY
    if route.dependant.path_params:
        yield NOT_FOUND
    if any(parameter.alias.lower() == "if-match" for parameter in parameters):
        yield PRECONDITION_FAILED
    if authenticate in calls:
        yield UNAUTHORIZED
    if require_admin in calls:
        yield FORBIDDEN
    if calls & _DATABASE_DEPENDENCIES:
        yield DATABASE_UNAVAILABLE


def _dependency_calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _dependency_calls(dependency)


def _without_null(schema: JSONObject) -> JSONObject:
    """`anyOf: [X, null]` as X, keeping the annotations (title, description, default)."""
    options = schema.get("anyOf")
    if not isinstance(options, list):
        return schema
    kept = [option for option in options if option != {"type": "null"}]
    if len(kept) != 1 or len(kept) == len(options):
        return schema
    annotations = {key: value for key, value in schema.items() if key != "anyOf"}
    return {**kept[0], **annotations}


def _add_links(document: JSONObject) -> None:
    """Links from what names a resource to the operations on it (OpenAPI's `links`)."""
    paths: JSONObject = document["paths"]
    for path, item in paths.items():
        for method, operation in item.items():
            if method == "post" and "201" in operation["responses"]:
                _link_to_item(operation["responses"]["201"], paths, path, "$response.body#/id")
            if method == "get" and _is_page(document, operation):
                ok = operation["responses"]["200"]
                _link_to_item(ok, paths, path, "$response.body#/items/0/id")
                ok.setdefault("links", {})[f"next_{operation['operationId']}"] = {
                    "operationId": operation["operationId"],
                    "parameters": {"query.cursor": "$response.body#/next_cursor"},
                }


def _link_to_item(response: JSONObject, paths: JSONObject, collection: str, value: str) -> None:
    """Link `response` to every operation on `<collection>/{id}` and below it."""
    for path, item in paths.items():
        first, _, _ = path.removeprefix(collection + "/").partition("/")
        if not path.startswith(collection + "/") or not _PATH_PARAMETER.fullmatch(first):
            continue
        for operation in item.values():
            response.setdefault("links", {})[operation["operationId"]] = {
                "operationId": operation["operationId"],
                "parameters": {f"path.{first[1:-1]}": value},
            }


def _is_page(document: JSONObject, operation: JSONObject) -> bool:
    """Whether the operation answers a page: `{"items": [...], "next_cursor": ...}`."""
    content = operation["responses"].get("200", {}).get("content", {})
    reference = content.get("application/json", {}).get("schema", {}).get("$ref", "")
    schema = document["components"]["schemas"].get(reference.rpartition("/")[2], {})
    return {"items", "next_cursor"} <= set(schema.get("properties", {}))

from __future__ import annotations

import json

import httpx
import pytest

from shared.problem_types import INTERNAL_ERROR, RATE_LIMITED, SKU_TAKEN
from shared.problems import problem_response

PROBLEM = "application/problem+json"


async def test_validation_error_lists_errors_without_echoing_input(
    frame_client: httpx.AsyncClient,
) -> None:
    response = await frame_client.post("/widgets", json={"name": "", "secret": "hunter2"})

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == 422
    assert body["type"] == "/problems/validation-error"
    assert {tuple(error["loc"]) for error in body["errors"]} == {
        ("body", "name"),
        ("body", "secret"),
    }
    assert "hunter2" not in response.text


@pytest.mark.parametrize(
    ("body", "content_type", "detail"),
    [
        (b'{"name": "a",', "application/json", "The body is not valid JSON: "),
        # Found by fuzzing: the framework's own answer was a 400 of another shape.
        (b'{"name": "caf\xe9"}', "application/json", "The body cannot be read as JSON text"),
        (b'{"name": "widget", "secret": "long enough"}', "text/plain", "The body must be JSON"),
        (b'{"name": "widget", "secret": "long enough"}', None, "The body must be JSON"),
    ],
    ids=["not-json", "not-utf-8", "not-a-json-content-type", "no-content-type"],
)
async def test_a_body_that_cannot_be_read_as_json_is_a_400_malformed_body(
    frame_client: httpx.AsyncClient, body: bytes, content_type: str | None, detail: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await frame_client.post("/widgets", content=body, headers=headers)

    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert (problem["type"], problem["title"]) == ("/problems/malformed-body", "Malformed Body")
    assert problem["detail"].startswith(detail)
    assert "errors" not in problem


async def test_a_json_subtype_is_read_as_json(frame_client: httpx.AsyncClient) -> None:
    response = await frame_client.post(
        "/widgets",
        content=b'{"name": "widget", "secret": "long enough"}',
        headers={"content-type": "application/merge-patch+json; charset=utf-8"},
    )

    assert response.status_code == 200


async def test_unknown_path_is_a_404_problem(frame_client: httpx.AsyncClient) -> None:
    response = await frame_client.get("/nowhere")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json() == {
        "type": "/problems/not-found",
        "title": "Not Found",
        "status": 404,
        "detail": "There is nothing at this path.",
        "request_id": response.headers["x-request-id"],
    }


async def test_wrong_method_is_a_405_problem(frame_client: httpx.AsyncClient) -> None:
    response = await frame_client.delete("/widgets/1")

    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM


async def test_a_405_allows_every_method_of_the_path(frame_client: httpx.AsyncClient) -> None:
    # Found by fuzzing: the framework named only the methods of the path's first route.
    response = await frame_client.options("/widgets")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


async def test_raised_problem_keeps_its_type_and_extensions(
    frame_client: httpx.AsyncClient,
) -> None:
    response = await frame_client.get("/conflict", headers={"X-Request-ID": "trace-42"})

    assert response.status_code == 409
    assert response.json() == {
        "type": "/problems/sku-taken",
        "title": "SKU Taken",
        "status": 409,
        "detail": "Already there.",
        "request_id": "trace-42",
        "hint": "x",
    }


async def test_unexpected_exception_is_a_500_problem_without_internals(
    frame_client: httpx.AsyncClient,
) -> None:
    response = await frame_client.get("/boom")

    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["request_id"] == response.headers["x-request-id"]
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text


def test_extensions_never_replace_the_members_rfc_9457_defines() -> None:
    response = problem_response(
        SKU_TAKEN,
        "Taken.",
        extensions={"status": "cancelled", "type": "x", "title": "y", "hint": 1},
    )
    body = json.loads(bytes(response.body))

    assert (body["status"], body["type"], body["title"], body["hint"]) == (
        409,
        "/problems/sku-taken",
        "SKU Taken",
        1,
    )


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nowhere", 404),
        ("DELETE", "/widgets/1", 405),
        ("POST", "/widgets", 422),
        ("GET", "/conflict", 409),
        ("GET", "/boom", 500),
    ],
)
async def test_no_cache_may_store_a_problem(
    frame_client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    response = await frame_client.request(method, path, json={})

    assert response.status_code == status
    assert response.headers.get_list("cache-control") == ["no-store"]


def test_a_problems_own_headers_are_kept_beside_no_store() -> None:
    response = problem_response(RATE_LIMITED, "Slow down.", headers={"Retry-After": "3"})

    assert response.headers["retry-after"] == "3"
    assert response.headers.getlist("cache-control") == ["no-store"]


async def test_the_last_resort_500_has_its_type(frame_client: httpx.AsyncClient) -> None:
    problem = (await frame_client.get("/boom")).json()

    assert (problem["type"], problem["title"]) == ("/problems/internal-error", INTERNAL_ERROR.title)

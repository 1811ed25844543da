"""`/problems/{slug}`: every problem type URI resolves to its description, for people (HTML)
and for programs (JSON)."""

from __future__ import annotations

import httpx
import pytest

from shared.problem_types import OUT_OF_STOCK, PROBLEM_TYPES

PAGE_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


@pytest.mark.parametrize("slug", sorted(PROBLEM_TYPES))
async def test_every_problem_type_uri_resolves(frame_client: httpx.AsyncClient, slug: str) -> None:
    response = await frame_client.get(PROBLEM_TYPES[slug].uri)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"


async def test_a_page_says_what_happened_and_what_to_do(frame_client: httpx.AsyncClient) -> None:
    response = await frame_client.get("/problems/out-of-stock")

    page = response.text
    assert "<title>Out of Stock</title>" in page
    assert "Nothing was reserved" in page
    assert "<code>product_id</code>" in page
    assert response.headers["content-security-policy"] == PAGE_POLICY
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.headers["vary"] == "Accept"


async def test_a_program_that_asks_for_json_gets_json(frame_client: httpx.AsyncClient) -> None:
    response = await frame_client.get(
        "/problems/out-of-stock", headers={"Accept": "text/html;q=0.5, application/json"}
    )

    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "type": "/problems/out-of-stock",
        "slug": "out-of-stock",
        "status": 409,
        "title": "Out of Stock",
        "description": OUT_OF_STOCK.description,
        "members": {"product_id": "The product."},
        "headers": [],
    }


async def test_the_list_has_every_type(frame_client: httpx.AsyncClient) -> None:
    as_json = await frame_client.get("/problems", headers={"Accept": "application/json"})
    as_page = await frame_client.get("/problems")

    assert [each["slug"] for each in as_json.json()["problem_types"]] == list(PROBLEM_TYPES)
    assert all(f'href="{each.uri}"' in as_page.text for each in PROBLEM_TYPES.values())


async def test_an_unknown_type_is_a_404_problem(frame_client: httpx.AsyncClient) -> None:
    response = await frame_client.get("/problems/no-such-thing")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/not-found"

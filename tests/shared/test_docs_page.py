"""`/docs`: Swagger UI from the service itself, under a policy that allows nothing else."""

from __future__ import annotations

import httpx
import pytest

from shared.docs_page import ASSETS_FINGERPRINT
from tests.shared.conftest import build_frame_app
from tests.support.pages import DOCS_PAGE_POLICY, parts_of

ASSETS = f"/docs/assets/{ASSETS_FINGERPRINT}"


async def test_the_page_has_a_policy_that_allows_only_its_own_origin(
    frame_client: httpx.AsyncClient,
) -> None:
    response = await frame_client.get("/docs")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers.get_list("content-security-policy") == [DOCS_PAGE_POLICY]
    assert response.headers["cache-control"] == "no-cache"


async def test_the_page_loads_only_its_own_assets_and_runs_nothing_inline(
    frame_client: httpx.AsyncClient,
) -> None:
    parts = parts_of((await frame_client.get("/docs")).text)

    assert sorted(parts.loads) == [
        f"{ASSETS}/favicon.png",
        f"{ASSETS}/start-swagger-ui.js",
        f"{ASSETS}/swagger-ui-bundle.js",
        f"{ASSETS}/swagger-ui.css",
    ]
    assert parts.inline_scripts == []
    assert parts.inline_styles == []
    assert parts.openapi_urls == ["/openapi.json"]


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        ("start-swagger-ui.js", "text/javascript; charset=utf-8"),
        ("swagger-ui.css", "text/css; charset=utf-8"),
        ("favicon.png", "image/png"),
    ],
)
async def test_each_asset_is_served_for_good_with_its_content_type(
    frame_client: httpx.AsyncClient, name: str, content_type: str
) -> None:
    response = await frame_client.get(f"{ASSETS}/{name}")

    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert int(response.headers["content-length"]) == len(response.content) > 0


async def test_the_start_script_shows_the_document_the_page_names(
    frame_client: httpx.AsyncClient,
) -> None:
    script = (await frame_client.get(f"{ASSETS}/start-swagger-ui.js")).text

    assert "SwaggerUIBundle(" in script
    assert "dataset.openapiUrl" in script
    assert "validatorUrl: null" in script


async def test_the_bundle_is_swagger_ui_5(frame_client: httpx.AsyncClient) -> None:
    """Swagger UI 5 is the first to read OpenAPI 3.1, which the services' documents are."""
    bundle = (await frame_client.get(f"{ASSETS}/swagger-ui-bundle.js")).text

    assert 'PACKAGE_VERSION:"5.' in bundle


@pytest.mark.parametrize(
    "path",
    [
        f"{ASSETS}/redoc.standalone.js",  # in the package's folder, but not served
        f"{ASSETS}/index.html",
        "/docs/assets/0123456789abcdef/swagger-ui.css",  # another release's
        "/redoc",
        "/docs/oauth2-redirect",
    ],
)
async def test_nothing_else_is_served_below_docs(
    frame_client: httpx.AsyncClient, path: str
) -> None:
    response = await frame_client.get(path)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_behind_a_path_prefix_the_page_names_its_assets_and_document_below_it() -> None:
    transport = httpx.ASGITransport(app=build_frame_app(), root_path="/api")
    async with httpx.AsyncClient(transport=transport, base_url="http://frame.test") as client:
        parts = parts_of((await client.get("/docs")).text)

    assert all(url.startswith(f"/api{ASSETS}/") for url in parts.loads)
    assert parts.openapi_urls == ["/api/openapi.json"]

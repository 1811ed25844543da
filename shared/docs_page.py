"""`/docs`: Swagger UI served with its files by the service itself, under a
Content-Security-Policy that lets the page load nothing from anywhere else.

People paste access tokens into this page, on the API's own origin, where any script the page
loads could read them. So the page loads no CDN's script: Swagger UI's files come from a
pinned package (fastapi-offline ships them), and Swagger UI is started by a script file of
ours rather than an inline script, so that the policy allows no inline script at all.
"""

from __future__ import annotations

import hashlib
import html
import importlib.metadata
import importlib.resources
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse

from shared.problem_types import NOT_FOUND
from shared.problems import Problem

DOCS_PATH = "/docs"
# Exactly what the page needs, all from its own origin: Swagger UI's script and ours, its
# stylesheet, its images (the stylesheet's icons are `data:` URLs), and the API itself (the
# document, "Try it out"). No other page may frame it, and it submits no form.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

_SWAGGER_UI_FILES = Path(str(importlib.resources.files("fastapi_offline") / "static"))
_START_SCRIPT = Path(__file__).with_name("docs_page.js")
_JAVASCRIPT = "text/javascript; charset=utf-8"


@dataclass(frozen=True)
class _Asset:
    path: Path
    media_type: str


# Only these files: not the package's whole folder (nor Swagger UI's own index page).
_ASSETS = {
    "swagger-ui-bundle.js": _Asset(_SWAGGER_UI_FILES / "swagger-ui-bundle.js", _JAVASCRIPT),
    "swagger-ui.css": _Asset(_SWAGGER_UI_FILES / "swagger-ui.css", "text/css; charset=utf-8"),
    "favicon.png": _Asset(_SWAGGER_UI_FILES / "favicon.png", "image/png"),
    "start-swagger-ui.js": _Asset(_START_SCRIPT, _JAVASCRIPT),
}
# In every asset's path, so that browsers may keep an asset for good: a release of the package
# or a change to our script makes new paths.
ASSETS_FINGERPRINT = hashlib.sha256(
    importlib.metadata.version("fastapi-offline").encode() + _START_SCRIPT.read_bytes()
).hexdigest()[:16]
_ASSET_HEADERS = {"Cache-Control": "public, max-age=31536000, immutable"}
# The page itself is checked on every visit: after a deploy it names the new assets.
_PAGE_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"}


def _page(title: str, openapi_url: str, assets_url: str) -> str:
    def attribute(value: str) -> str:
        return html.escape(value, quote=True)

    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="icon" type="image/png" href="{attribute(assets_url)}/favicon.png">
<link rel="stylesheet" href="{attribute(assets_url)}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{attribute(openapi_url)}"></div>
<script src="{attribute(assets_url)}/swagger-ui-bundle.js"></script>
<script src="{attribute(assets_url)}/start-swagger-ui.js"></script>
</body>
</html>
"""


def install_docs_page(app: FastAPI, openapi_url: str = "/openapi.json") -> None:
    """Serve Swagger UI for the document at `openapi_url` on `/docs`, its files below it."""
    assets_path = f"{DOCS_PATH}/assets/{ASSETS_FINGERPRINT}"

    async def docs_page(request: Request) -> HTMLResponse:
        root_path: str = request.scope.get("root_path", "").rstrip("/")
        page = _page(f"{app.title} - Swagger UI", root_path + openapi_url, root_path + assets_path)
        return HTMLResponse(page, headers=_PAGE_HEADERS)

    async def docs_asset(fingerprint: str, name: str) -> FileResponse:
        asset = _ASSETS.get(name)
        if asset is None or fingerprint != ASSETS_FINGERPRINT:
            raise Problem(NOT_FOUND, "There is nothing at this path.")
        return FileResponse(asset.path, media_type=asset.media_type, headers=_ASSET_HEADERS)

    app.add_api_route(DOCS_PATH, docs_page, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        f"{DOCS_PATH}/assets/{{fingerprint}}/{{name}}",
        docs_asset,
        methods=["GET"],
        include_in_schema=False,
    )

from __future__ import annotations

from contextlib import AbstractContextManager

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from shared.cli import server_config
from shared.settings import ServiceSettings
from tests.support.servers import serving


async def _client_address(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.client.host if request.client else "")


def create_app() -> Starlette:
    return Starlette(routes=[Route("/", _client_address)])


def served(forwarded_allow_ips: str) -> AbstractContextManager[str]:
    """This module's app, served exactly as the services are served."""
    settings = ServiceSettings(forwarded_allow_ips=forwarded_allow_ips)
    config = server_config(f"{__name__}:create_app", settings, "test")
    config.log_config = None
    return serving(config)


@pytest.mark.parametrize(
    ("trusted", "seen"), [("127.0.0.1", "203.0.113.9"), ("10.0.0.1", "127.0.0.1")]
)
def test_the_client_address_is_taken_from_trusted_proxies_only(trusted: str, seen: str) -> None:
    with served(trusted) as base_url:
        response = httpx.get(base_url, headers={"x-forwarded-for": "203.0.113.9"})

    assert response.text == seen

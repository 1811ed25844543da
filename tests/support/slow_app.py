"""An app served by `shared.cli.serve` in a child process, for the graceful-shutdown test.

`GET /slow` touches the file named by `SLOW_APP_STARTED`, then answers a second later.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from shared.cli import serve
from shared.settings import ServiceSettings


async def _slow(_: Request) -> PlainTextResponse:
    await asyncio.to_thread(Path(os.environ["SLOW_APP_STARTED"]).touch)
    await asyncio.sleep(1)
    return PlainTextResponse("finished")


def create_app() -> Starlette:
    return Starlette(routes=[Route("/slow", _slow)])


if __name__ == "__main__":
    serve(
        "tests.support.slow_app:create_app",
        ServiceSettings(port=int(os.environ["SLOW_APP_PORT"])),
        "slow_app",
    )

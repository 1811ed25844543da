"""The Python floor: a bare Starlette route forwarding with `aiohttp.ClientSession`, about the
least a Python proxy can spend per request. No auth: it is the reference, not the product.

Served with `uvicorn bench.peers.aiohttp_floor:app`; `BENCH_UPSTREAM_URL` names the upstream.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}
_UPSTREAM = os.environ["BENCH_UPSTREAM_URL"]


async def forward(request: Request) -> Response:
    session: aiohttp.ClientSession = request.app.state.session
    async with session.request(
        request.method,
        _UPSTREAM + request.url.path,
        params=request.query_params,
        data=await request.body(),
        headers={k: v for k, v in request.headers.items() if k not in _HOP_BY_HOP},
    ) as upstream:
        body = await upstream.read()
        headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
        return Response(body, upstream.status, headers=headers)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        app.state.session = session
        yield


app = Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST"])], lifespan=lifespan)

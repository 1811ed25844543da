"""The naive peer: a FastAPI route forwarding with a shared `httpx.AsyncClient` and its default
transport, as most FastAPI gateway write-ups do. No auth: it is the reference, not the product.

Served with `uvicorn bench.peers.naive_httpx:app`; `BENCH_UPSTREAM_URL` names the upstream.
"""

import os

import httpx
from fastapi import FastAPI, Request, Response

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}

client = httpx.AsyncClient(base_url=os.environ["BENCH_UPSTREAM_URL"])
app = FastAPI()


@app.api_route("/{path:path}", methods=["GET", "POST"])
async def forward(path: str, request: Request) -> Response:
    upstream = await client.request(
        request.method,
        "/" + path,
        params=request.query_params,
        content=await request.body(),
        headers={k: v for k, v in request.headers.items() if k not in _HOP_BY_HOP},
    )
    headers = {k: v for k, v in upstream.headers.items() if k not in _HOP_BY_HOP}
    return Response(upstream.content, upstream.status_code, headers=headers)

"""CORS for browser clients, with refused preflights answered as problem documents."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from shared.problem_types import BAD_REQUEST
from shared.problems import problem_response


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS; a refused preflight is a 400 problem (docs/contract.md), not plain
    text."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        refused = bytes(response.body).decode().removeprefix("Disallowed CORS ")
        headers = {
            name: value
            for name, value in response.headers.items()
            if name.lower().startswith("access-control-") or name.lower() == "vary"
        }
        return problem_response(
            BAD_REQUEST, f"This cross-origin request is not allowed ({refused}).", headers=headers
        )

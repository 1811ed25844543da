"""What the gateway answers itself on the operations it proxies, added to each service's part
of the merged document from the route table: a client of the gateway meets these answers
whichever service the operation belongs to."""

from __future__ import annotations

import copy
from collections.abc import Sequence

from gateway.openapi_merge import HTTP_METHODS, JSONObject, owner_of
from gateway.routes import ProxyRoute
from shared.openapi_responses import add_headers, add_problems, signed_in, with_components
from shared.problem_types import (
    BAD_REQUEST,
    CONTENT_TOO_LARGE,
    GATEWAY_BUSY,
    RATE_LIMITED,
    REQUEST_HEADER_FIELDS_TOO_LARGE,
    REQUEST_TIMEOUT,
    TOO_MANY_CONNECTIONS,
    UNAUTHORIZED,
    UPSTREAM_TIMEOUT,
    UPSTREAM_UNAVAILABLE,
    UPSTREAM_UNREACHABLE,
    URI_TOO_LONG,
)

# Whatever the route: a request the gateway cannot take, a client too slow or too large, the
# rate limit, the gateway's own connections all taken, and an upstream that is away,
# failing, busy or slow.
EVERY_PROXIED_REQUEST = (
    BAD_REQUEST,
    REQUEST_TIMEOUT,
    CONTENT_TOO_LARGE,
    URI_TOO_LONG,
    RATE_LIMITED,
    REQUEST_HEADER_FIELDS_TOO_LARGE,
    UPSTREAM_UNREACHABLE,
    UPSTREAM_UNAVAILABLE,
    TOO_MANY_CONNECTIONS,
    GATEWAY_BUSY,
    UPSTREAM_TIMEOUT,
)
# On every answer to a proxied request that the rate limiter counted (all but a few 400s).
RATE_LIMIT_HEADERS = ("RateLimit", "RateLimit-Policy")


def with_gateway_answers(document: JSONObject, routes: Sequence[ProxyRoute]) -> JSONObject:
    """`document` (a service's part, cut to the paths the gateway routes to it) with what the
    gateway answers itself on each of its operations."""
    document = copy.deepcopy(document)
    for path, item in document["paths"].items():
        route = owner_of(path, routes)
        if route is None:
            continue
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            problem_types = [*EVERY_PROXIED_REQUEST]
            if not route.is_public:
                # The gateway verifies the token before anything goes upstream.
                operation["security"] = signed_in()
                problem_types.append(UNAUTHORIZED)
            add_problems(operation, problem_types)
            for response in operation["responses"].values():
                add_headers(response, RATE_LIMIT_HEADERS)
    return with_components(document)

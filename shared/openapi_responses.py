"""How an OpenAPI document describes the platform's answers: the one `Problem` schema, the
response headers, the security schemes, and the problem responses of an operation.

The services' documents (`shared.openapi`) and the gateway's (`gateway.own_answers`)
add what their operations answer through `add_problems` and `add_headers`, so that a status
two of them answer (a 503 from the database or from the gateway) is one response listing
every problem type it can carry.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterable, MutableMapping
from http import HTTPStatus
from typing import Any

from shared.problem_types import OUT_OF_STOCK, PROBLEM_TYPES, Member, ProblemType
from shared.problems import status_phrase

JSONObject = dict[str, Any]

PROBLEM_CONTENT_TYPE = "application/problem+json"
# The problem types a response can carry, as their URIs: for tools (the fuzz test checks
# that every problem an operation answers is one it lists), beside the description for people.
PROBLEM_TYPES_KEY = "x-problem-types"

PASSWORD_GRANT = "PasswordGrant"  # noqa: S105 - a scheme's name, not a secret
BEARER_TOKEN = "BearerToken"  # noqa: S105 - a scheme's name, not a secret

SECURITY_SCHEMES: JSONObject = {
    PASSWORD_GRANT: {
        "type": "oauth2",
        "description": "Sign in with an account's email and password (RFC 6749 §4.3); the "
        "token endpoint also takes `grant_type=refresh_token`.",
        "flows": {
            # Relative: resolved against the origin the document was read from (the gateway).
            "password": {"tokenUrl": "/auth/token", "refreshUrl": "/auth/token", "scopes": {}}
        },
    },
    BEARER_TOKEN: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from `POST /auth/token`, as `Authorization: Bearer "
        "<token>`.",
    },
}


def signed_in() -> list[JSONObject]:
    """The security requirement of an operation that needs a token: one of either scheme
    (both are the same JWT, from `POST /auth/token`)."""
    return [{PASSWORD_GRANT: []}, {BEARER_TOKEN: []}]


def _header(description: str, schema: JSONObject, *, required: bool = True) -> JSONObject:
    return {"description": description, "required": required, "schema": schema}


HEADERS: dict[str, JSONObject] = {
    "X-Request-ID": _header(
        "The request's id: the client's own `X-Request-ID` if it sent 1 to 128 visible ASCII "
        "characters, else a new UUID. Every log line about the request carries it.",
        {"type": "string", "pattern": r"^[\x21-\x7e]{1,128}$"},
    ),
    "Server-Timing": _header(
        "Where the time went, in milliseconds: `auth` (verifying the token), `upstream` (the "
        "service), `total` (W3C Server Timing).",
        {"type": "string"},
    ),
    "RateLimit": _header(
        'What is left of the caller\'s budget: `"default";r=<requests>;t=<seconds>` (IETF '
        "draft *RateLimit header fields for HTTP*).",
        {"type": "string"},
        required=False,
    ),
    "RateLimit-Policy": _header(
        'The caller\'s budget: `"default";q=<requests>;w=<seconds>`.',
        {"type": "string"},
        required=False,
    ),
    "Retry-After": _header(
        "Seconds to wait before sending the request again.",
        {"type": "integer", "minimum": 0},
    ),
    "WWW-Authenticate": _header(
        'The challenge of RFC 6750 §3: `Bearer` without a token, `Bearer error="invalid_token", '
        'error_description="…"` with one that is not valid.',
        {"type": "string"},
    ),
    "Allow": _header("The methods the path takes.", {"type": "string"}),
    "ETag": _header(
        "The version of the resource (strong): send it back in `If-Match` to change the "
        "resource only if nobody else has since.",
        {"type": "string", "pattern": r'^"[\x21\x23-\x7e]*"$'},
    ),
    "Location": _header("The created resource.", {"type": "string", "format": "uri-reference"}),
    "Idempotent-Replayed": _header(
        "`true` when the answer is the replay of an earlier request with the same "
        "`Idempotency-Key`; absent on the first answer.",
        {"type": "string", "enum": ["true"]},
        required=False,
    ),
    "Cache-Control": _header(
        "`no-store` on answers no cache may keep (problems, orders, accounts, tokens).",
        {"type": "string"},
    ),
}

_FIELD_ERROR: JSONObject = {
    "type": "object",
    "required": ["loc", "msg", "type"],
    "properties": {
        "loc": {
            "type": "array",
            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "description": "Where: `body`, `query`, `path` or `header`, then the field.",
        },
        "msg": {"type": "string", "description": "What is wrong, in words."},
        "type": {"type": "string", "description": "What is wrong, as a short code."},
    },
}


def _problem_schema() -> JSONObject:
    """RFC 9457's members, the platform's, and every extension member a type adds."""
    members: dict[str, Member] = {}
    carriers: dict[str, list[str]] = defaultdict(list)
    for problem_type in PROBLEM_TYPES.values():
        for name, member in problem_type.extensions.items():
            members[name] = member
            carriers[name].append(f"`{problem_type.slug}`")
    extensions = {
        name: {
            **member.schema,
            "description": f"{member.description} Carried by {', '.join(carriers[name])}.",
        }
        for name, member in members.items()
    }
    return {
        "type": "object",
        "description": "Problem details (RFC 9457), the body of every error answer.",
        "required": ["type", "title", "status", "detail", "request_id"],
        "properties": {
            "type": {
                "type": "string",
                "format": "uri-reference",
                "description": "What kind of problem: `/problems/<slug>`, which describes it "
                "(`GET /problems` lists them all).",
                "examples": [OUT_OF_STOCK.uri],
            },
            "title": {"type": "string", "description": "The type's summary, in words."},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string", "description": "What happened this time."},
            "request_id": {
                "type": "string",
                "description": "The request's `X-Request-ID`: quote it when you report one.",
            },
            "trace_id": {
                "type": "string",
                "description": "The request's W3C trace id, when tracing is on.",
            },
            **extensions,
        },
        "additionalProperties": True,
    }


SCHEMAS: dict[str, JSONObject] = {"Problem": _problem_schema(), "FieldError": _FIELD_ERROR}


def with_components(document: JSONObject) -> JSONObject:
    """`document` with the components the answers refer to (its own win when it has them)."""
    components = document.setdefault("components", {})
    for section, entries in (
        ("schemas", SCHEMAS),
        ("headers", HEADERS),
        ("securitySchemes", SECURITY_SCHEMES),
    ):
        defined = components.setdefault(section, {})
        for name, value in entries.items():
            # A copy: a document is the caller's to change.
            defined.setdefault(name, copy.deepcopy(value))
    return document


def header_refs(names: Iterable[str]) -> JSONObject:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def add_headers(response: MutableMapping[str, Any], names: Iterable[str]) -> None:
    response.setdefault("headers", {}).update(header_refs(names))


def add_problems(operation: JSONObject, problem_types: Iterable[ProblemType]) -> None:
    """Document that `operation` may answer each of `problem_types`: a problem+json response
    per status, listing its types (in words, and as URIs under `x-problem-types`)."""
    responses: JSONObject = operation.setdefault("responses", {})
    for problem_type in sorted(problem_types, key=lambda each: (each.status, each.slug)):
        response = responses.setdefault(str(problem_type.status), {})
        listed: list[str] = response.setdefault(PROBLEM_TYPES_KEY, [])
        if problem_type.uri in listed:
            continue
        listed.append(problem_type.uri)
        response["description"] = _described(response.get("description"), problem_type)
        content = response.setdefault("content", {})
        content[PROBLEM_CONTENT_TYPE] = {"schema": {"$ref": "#/components/schemas/Problem"}}
        add_headers(response, ("Cache-Control", *problem_type.headers))
    operation["responses"] = dict(sorted(responses.items()))


_LINE_START = "- [`"


def _described(description: str | None, problem_type: ProblemType) -> str:
    """The response's description with a line for `problem_type`, which links its page."""
    line = f"{_LINE_START}{problem_type.slug}`]({problem_type.uri}): {problem_type.title}"
    # FastAPI's default is Python's name for the status, which can be an older one.
    is_default = description in (None, "", HTTPStatus(problem_type.status).phrase)
    lead = status_phrase(problem_type.status) if is_default else str(description)
    separator = "\n" if lead.startswith(_LINE_START) or f"\n{_LINE_START}" in lead else "\n\n"
    return f"{lead}{separator}{line}"


def problems(*problem_types: ProblemType) -> dict[int | str, JSONObject]:
    """`responses=` for a route: the problem types it answers beyond those that every
    operation of its kind answers (which `shared.openapi` derives and adds)."""
    responses: dict[int | str, JSONObject] = {}
    for problem_type in problem_types:
        entry = responses.setdefault(problem_type.status, {"description": ""})
        entry.setdefault(PROBLEM_TYPES_KEY, []).append(problem_type.uri)
    return responses


def sends(*names: str) -> JSONObject:
    """A `responses=` entry for a success response: the headers it carries."""
    return {"headers": header_refs(names)}

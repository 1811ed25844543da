"""The catalogue of every problem type the platform answers (RFC 9457 §3.1.1).

Each type has a slug, and its URI is `/problems/<slug>`, relative: it resolves at whichever
origin the client called, where `GET /problems/<slug>` describes it (`shared.problem_pages`).
A problem is raised with its type (`shared.problems.Problem`), so no service can answer a
type that is not here; the OpenAPI documents and the problem pages are made from here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JSONSchema = dict[str, Any]


@dataclass(frozen=True)
class Member:
    """An extension member that problems of a type carry beside RFC 9457's."""

    schema: JSONSchema
    description: str


@dataclass(frozen=True)
class ProblemType:
    slug: str
    status: int
    # The same for every occurrence (RFC 9457 §3.1.3); `detail` says what happened this time.
    title: str
    # What happened, and what the client should do about it.
    description: str
    extensions: Mapping[str, Member] = field(default_factory=dict, hash=False)
    # The response headers that come with it, beside those every answer carries.
    headers: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        return f"/problems/{self.slug}"


_ERRORS = Member(
    {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}},
    "What is wrong, one entry per place: `loc` is where (`body`, `query`, `path` or `header`, "
    "then the field), `msg` what, `type` a short code.",
)
_ORDER_STATUS = Member(
    {"type": "string", "enum": ["pending", "paid", "shipped", "delivered", "cancelled"]},
    "The order's status.",
)
_RETRY_LATER = ("Retry-After",)


BAD_REQUEST = ProblemType(
    "bad-request",
    400,
    "Bad Request",
    "The server cannot take the request as it was sent: it is not valid HTTP, its head breaks "
    "HTTP's rules (such as a missing or repeated `Host`), its path has `.` or `..` segments, "
    "it is a cross-origin preflight for an origin, method or header the gateway does not "
    "allow, or the client went away before its body was complete. Fix the request; sending it "
    "again as it is gets the same answer.",
)
MALFORMED_BODY = ProblemType(
    "malformed-body",
    400,
    "Malformed Body",
    "The operation reads a JSON body, and this one cannot be read as JSON: it is not valid "
    "JSON text, it is not UTF-8, or it was not sent as `Content-Type: application/json` (or "
    "a `+json` type). Nothing was changed. Send the body as JSON with that content type; a body "
    "that is JSON but has the wrong fields gets `validation-error` instead.",
)
UNAUTHORIZED = ProblemType(
    "unauthorized",
    401,
    "Unauthorized",
    "The operation needs an access token, and the request had none, or its token is expired, "
    "not yet valid, malformed, signed by an unknown key, or names an account that is gone. "
    "Get a token from `POST /auth/token` (or refresh it there with the refresh token) and "
    "send it as `Authorization: Bearer <token>`. `WWW-Authenticate` says which of the two "
    "happened (RFC 6750 §3).",
    headers=("WWW-Authenticate",),
)
FORBIDDEN = ProblemType(
    "forbidden",
    403,
    "Forbidden",
    "The token is valid, but its account may not do this: the operation needs the `admin` "
    "role, or the order's status machine lets only someone else act (only its owner pays, "
    "only an admin ships and delivers). Sending it again with the same token gets the same "
    "answer.",
)
NOT_FOUND = ProblemType(
    "not-found",
    404,
    "Not Found",
    "There is nothing at this path: no such route, or no such product, order or problem "
    "type. An order of another account is not found either, so that nobody learns it exists.",
)
METHOD_NOT_ALLOWED = ProblemType(
    "method-not-allowed",
    405,
    "Method Not Allowed",
    "The path exists, but does not take this method. `Allow` lists the methods it takes.",
    headers=("Allow",),
)
REQUEST_TIMEOUT = ProblemType(
    "request-timeout",
    408,
    "Request Timeout",
    "The client paused too long while sending its request (its head, or its body), and the "
    "server stopped waiting. Nothing was done. Send the request again, without pauses.",
)
OUT_OF_STOCK = ProblemType(
    "out-of-stock",
    409,
    "Out of Stock",
    "A product of the order does not have the stock for its quantity. Nothing was reserved: "
    "the stock of every product is as it was. `product_id` names the product; order less of "
    "it, or leave it out.",
    extensions={"product_id": Member({"type": "string", "format": "uuid"}, "The product.")},
)
SKU_TAKEN = ProblemType(
    "sku-taken",
    409,
    "SKU Taken",
    "Another product has this SKU already: a SKU names one product. Choose another SKU, or "
    "change the product that has it.",
)
EMAIL_TAKEN = ProblemType(
    "email-taken",
    409,
    "Email Taken",
    "An account with this email exists already. Sign in with it (`POST /auth/token`), or "
    "register another email.",
)
INVALID_TRANSITION = ProblemType(
    "invalid-transition",
    409,
    "Invalid Transition",
    "The order's status does not allow this action: an order goes pending → paid → shipped → "
    "delivered, and is cancelled while pending or paid. Nothing was changed. `order_status` "
    "is the order's status now, `action` what was asked; read the order again before "
    "deciding what to do.",
    extensions={
        "order_status": _ORDER_STATUS,
        "action": Member(
            {"type": "string", "enum": ["pay", "ship", "deliver", "cancel"]}, "The action."
        ),
    },
)
ORDER_NOT_MODIFIABLE = ProblemType(
    "order-not-modifiable",
    409,
    "Order Not Modifiable",
    "Only a pending order's lines can change, and this one is past that (`order_status`). "
    "Nothing was changed. Place a new order instead.",
    extensions={"order_status": _ORDER_STATUS},
)
PRECONDITION_FAILED = ProblemType(
    "precondition-failed",
    412,
    "Precondition Failed",
    "The request's `If-Match` names a version of the resource that is not the current one: "
    "someone changed it since it was read. Nothing was changed. The answer's `ETag` is the "
    "current version: read the resource again, decide again, and retry with that `If-Match`.",
    headers=("ETag",),
)
CONTENT_TOO_LARGE = ProblemType(
    "content-too-large",
    413,
    "Content Too Large",
    "The request's body is larger than the gateway takes (1 MiB unless its operators chose "
    "otherwise). Nothing was sent on. Send a smaller body.",
)
URI_TOO_LONG = ProblemType(
    "uri-too-long",
    414,
    "URI Too Long",
    "The request's target (its path and query) is longer than the server reads (8 KiB unless "
    "its operators chose otherwise). Send a shorter one.",
)
VALIDATION_ERROR = ProblemType(
    "validation-error",
    422,
    "Validation Error",
    "The request is well-formed, but some of what it says is not valid: a field is missing, "
    "out of range or of the wrong type, a query parameter or header breaks its syntax, a "
    "cursor is not one the listing gave out, or an order names products that do not exist. "
    "Nothing was changed. `errors` says what and where; fix those and send it again.",
    extensions={"errors": _ERRORS},
)
IDEMPOTENCY_KEY_REUSED = ProblemType(
    "idempotency-key-reused",
    422,
    "Idempotency Key Reused",
    "This `Idempotency-Key` was used before, by the same account, with a different request "
    "body. A key stands for one request: retries of it replay its first answer, but it cannot "
    "stand for another. Nothing was changed. Use a new key for a new request.",
    extensions={"errors": _ERRORS},
)
RATE_LIMITED = ProblemType(
    "rate-limited",
    429,
    "Too Many Requests",
    "The account (or, without a token, the client address) has spent its request budget. "
    "Wait for `Retry-After` seconds before sending more; `RateLimit` and `RateLimit-Policy` "
    "on every answer say how much of the budget is left.",
    headers=_RETRY_LATER,
)
TOO_MANY_REGISTRATIONS = ProblemType(
    "too-many-registrations",
    429,
    "Too Many Registrations",
    "The client address (an IPv6 client's /64) has registered as many accounts as it may in "
    "the window. Nothing was created, and the email was not looked at. Retry after "
    "`Retry-After` seconds.",
    headers=_RETRY_LATER,
)
REGISTRATIONS_BUSY = ProblemType(
    "registrations-busy",
    429,
    "Registrations Busy",
    "Registrations are arriving faster than the service can hash their passwords (sign-ins "
    "go first). Nothing was created. Retry after `Retry-After` seconds.",
    headers=_RETRY_LATER,
)
REQUEST_HEADER_FIELDS_TOO_LARGE = ProblemType(
    "request-header-fields-too-large",
    431,
    "Request Header Fields Too Large",
    "The request's head is larger than the server reads: too many header fields (100), one "
    "too long (8 KiB), or all of them together (32 KiB), unless its operators chose other "
    "limits. Send fewer or shorter headers.",
)
INTERNAL_ERROR = ProblemType(
    "internal-error",
    500,
    "Internal Server Error",
    "Something failed that should not have; it has been logged with the answer's "
    "`request_id`. Quote that id when you report it. Retrying may or may not help; a request "
    "that changes something may or may not have taken effect, so read before you retry it.",
)
UPSTREAM_UNREACHABLE = ProblemType(
    "upstream-unreachable",
    502,
    "Upstream Unreachable",
    "The gateway could not reach the service behind the path, or the service broke off its "
    "answer. A request that changes something may or may not have taken effect: read before "
    "you retry it.",
)
DATABASE_UNAVAILABLE = ProblemType(
    "database-unavailable",
    503,
    "Database Unavailable",
    "The service cannot reach its database right now (it is restarting, overloaded or away). "
    "Nothing was changed. Retry after `Retry-After` seconds; the service recovers by itself.",
    headers=_RETRY_LATER,
)
UPSTREAM_UNAVAILABLE = ProblemType(
    "upstream-unavailable",
    503,
    "Upstream Unavailable",
    "The service behind the path has been failing, and the gateway gives it a rest: the "
    "request was not sent on. Retry after `Retry-After` seconds.",
    headers=_RETRY_LATER,
)
TOO_MANY_CONNECTIONS = ProblemType(
    "too-many-connections",
    503,
    "Too Many Connections",
    "The server holds as many open connections as it allows, and closed this one before "
    "reading its request: nothing was done. Retry after `Retry-After` seconds, on a new "
    "connection (a load balancer may send it to another replica).",
    headers=_RETRY_LATER,
)
GATEWAY_BUSY = ProblemType(
    "gateway-busy",
    503,
    "Gateway Busy",
    "The gateway has as many requests in flight to the service behind the path as it allows. "
    "The request was not sent on. Retry after `Retry-After` seconds.",
    headers=_RETRY_LATER,
)
NOT_READY = ProblemType(
    "not-ready",
    503,
    "Not Ready",
    "The service cannot do its job right now: `checks` names what it depends on and how each "
    "is. Orchestrators send it no traffic until it is ready again.",
    extensions={
        "checks": Member(
            {"type": "object", "additionalProperties": {"type": "string"}},
            "Each check of readiness: `ok`, or why not.",
        )
    },
)
UPSTREAM_TIMEOUT = ProblemType(
    "upstream-timeout",
    504,
    "Upstream Timeout",
    "The service behind the path did not answer in time. A request that changes something "
    "may or may not have taken effect: read before you retry it.",
)

PROBLEM_TYPES: Mapping[str, ProblemType] = {
    problem_type.slug: problem_type
    for problem_type in (
        BAD_REQUEST,
        MALFORMED_BODY,
        UNAUTHORIZED,
        FORBIDDEN,
        NOT_FOUND,
        METHOD_NOT_ALLOWED,
        REQUEST_TIMEOUT,
        OUT_OF_STOCK,
        SKU_TAKEN,
        EMAIL_TAKEN,
        INVALID_TRANSITION,
        ORDER_NOT_MODIFIABLE,
        PRECONDITION_FAILED,
        CONTENT_TOO_LARGE,
        URI_TOO_LONG,
        VALIDATION_ERROR,
        IDEMPOTENCY_KEY_REUSED,
        RATE_LIMITED,
        TOO_MANY_REGISTRATIONS,
        REGISTRATIONS_BUSY,
        REQUEST_HEADER_FIELDS_TOO_LARGE,
        INTERNAL_ERROR,
        UPSTREAM_UNREACHABLE,
        DATABASE_UNAVAILABLE,
        UPSTREAM_UNAVAILABLE,
        TOO_MANY_CONNECTIONS,
        GATEWAY_BUSY,
        NOT_READY,
        UPSTREAM_TIMEOUT,
    )
}

BY_URI: Mapping[str, ProblemType] = {each.uri: each for each in PROBLEM_TYPES.values()}

# What the framework answers by status alone (an unknown path, a method a path does not take).
FOR_STATUS: Mapping[int, ProblemType] = {
    problem_type.status: problem_type
    for problem_type in (NOT_FOUND, METHOD_NOT_ALLOWED, MALFORMED_BODY)
}

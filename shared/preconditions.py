"""Conditional requests (RFC 9110 §13): `If-Match` against a resource's current ETag."""

from __future__ import annotations

from shared.problems import Problem


def if_match_allows(if_match: str | None, current_etag: str) -> bool:
    """No header, `*`, or a listed tag equal to `current_etag` (strong comparison: a weak
    `W/` tag never matches)."""
    if if_match is None or if_match.strip() == "*":
        return True
    return any(tag.strip() == current_etag for tag in if_match.split(","))


def require_if_match(if_match: str | None, current_etag: str) -> None:
    """412 unless the client's `If-Match` allows changing the resource as it is now."""
    if not if_match_allows(if_match, current_etag):
        raise Problem(
            412,
            "The resource has changed since you read it; read it again and retry.",
            slug="precondition-failed",
            headers={"ETag": current_etag},
        )

"""Conditional requests (RFC 9110 §13): what an `If-Match` header asks for."""

from __future__ import annotations


def if_match_tags(if_match: str | None) -> frozenset[str] | None:
    """The entity tags a change is allowed at; None when any will do (no header, or `*`).

    Strong comparison (RFC 9110 §13.1.1): a weak `W/"…"` tag never matches, so it is left
    out; an `If-Match` of weak tags only allows nothing.
    """
    if if_match is None or if_match.strip() == "*":
        return None
    tags = (tag.strip() for tag in if_match.split(","))
    return frozenset(tag for tag in tags if not tag.startswith("W/"))

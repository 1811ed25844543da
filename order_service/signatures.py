"""Webhook signatures as the Standard Webhooks specification defines them
(https://www.standardwebhooks.com): every endpoint has its own secret, and each delivery is
signed with HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`.

While a rotated secret overlaps with its successor, a delivery carries a signature by each
(space-separated), so the receiver verifies with whichever it holds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
# The specification allows 24 to 64 bytes.
_SECRET_BYTES = 32


def new_secret() -> str:
    """A signing secret as receivers store it: `whsec_` and the base64 of random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One signature, `v1,<base64 of the HMAC>`, keyed with the secret's decoded bytes."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_headers(
    signing_secrets: Sequence[str], message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three headers of a delivery: its id, its time, and a signature per secret."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            sign(secret, message_id, timestamp, body) for secret in signing_secrets
        ),
    }

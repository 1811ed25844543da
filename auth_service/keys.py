"""The RS256 key that signs access tokens, and the JWKS document that publishes it."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from auth_service.config import AuthSettings

logger = logging.getLogger(__name__)

RSA_KEY_BITS = 2048


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.public_key, as_dict=True)
        # RFC 7517 §4.3: `use` and `key_ops` should not appear together; verifiers read `use`.
        return {
            "kty": "RSA",
            "n": jwk["n"],
            "e": jwk["e"],
            "kid": self.kid,
            "alg": "RS256",
            "use": "sig",
        }


def jwk_thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638: SHA-256 over the key's required members in lexicographic order."""
    jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    canonical = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signing_key_from_pem(pem: bytes) -> SigningKey:
    private_key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise ValueError("the signing key must be an RSA private key")
    return SigningKey(kid=jwk_thumbprint(private_key.public_key()), private_key=private_key)


def generate_private_key_pem() -> bytes:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _development_key_pem(path: Path) -> bytes:
    """The development key, generated on first use and kept so that restarts keep tokens valid."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = generate_private_key_pem()
    try:
        # O_EXCL: when two processes race, the loser reads the winner's key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as key_file:
        key_file.write(pem)
    logger.warning("development_signing_key_generated", extra={"path": str(path)})
    return pem


def load_signing_key(settings: AuthSettings) -> SigningKey:
    """The key from `AUTH_PRIVATE_KEY_FILE`; in development only, a generated one."""
    if settings.private_key_file is not None:
        return signing_key_from_pem(settings.private_key_file.read_bytes())
    if settings.environment == "production":
        raise RuntimeError("AUTH_PRIVATE_KEY_FILE must be set in production")
    return signing_key_from_pem(_development_key_pem(settings.development_key_file))


def jwks_document(keys: list[SigningKey]) -> dict[str, Any]:
    return {"keys": [key.public_jwk() for key in keys]}

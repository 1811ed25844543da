"""The RS256 keys: the one that signs access tokens, and every key the JWKS publishes.

Rotation without downtime publishes a key before it signs and keeps publishing it until the
tokens it signed have expired; `AUTH_VERIFICATION_KEY_FILES` holds those other keys.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from collections.abc import Iterable
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
class VerificationKey:
    """A public key as the JWKS publishes it."""

    kid: str
    public_key: rsa.RSAPublicKey

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


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    @property
    def verification_key(self) -> VerificationKey:
        return VerificationKey(self.kid, self.public_key)


@dataclass(frozen=True)
class KeySet:
    """The key that signs, and every key published for verifiers (the signing key first)."""

    signing_key: SigningKey
    verification_keys: tuple[VerificationKey, ...]

    @classmethod
    def of(cls, signing_key: SigningKey, others: Iterable[VerificationKey] = ()) -> KeySet:
        published = {signing_key.kid: signing_key.verification_key}
        for key in others:
            published.setdefault(key.kid, key)
        return cls(signing_key, tuple(published.values()))

    def public_keys_by_kid(self) -> dict[str, rsa.RSAPublicKey]:
        return {key.kid: key.public_key for key in self.verification_keys}


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


def verification_key_from_pem(pem: bytes) -> VerificationKey:
    """A public key from a PEM holding it or its private key (a retired signing key file)."""
    try:
        public_key = serialization.load_pem_public_key(pem)
    except ValueError:
        public_key = serialization.load_pem_private_key(pem, password=None).public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise ValueError("verification keys must be RSA keys")
    return VerificationKey(kid=jwk_thumbprint(public_key), public_key=public_key)


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


def write_new_private_key(path: Path) -> SigningKey:
    """Generate a signing key into a new file readable by its owner only (never overwrites)."""
    pem = generate_private_key_pem()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as key_file:
        key_file.write(pem)
    return signing_key_from_pem(pem)


def _load_signing_key(settings: AuthSettings) -> SigningKey:
    """The key from `AUTH_PRIVATE_KEY_FILE`; in development only, a generated one."""
    if settings.private_key_file is not None:
        return signing_key_from_pem(settings.private_key_file.read_bytes())
    if settings.environment == "production":
        raise RuntimeError("AUTH_PRIVATE_KEY_FILE must be set in production")
    return signing_key_from_pem(_development_key_pem(settings.development_key_file))


def load_key_set(settings: AuthSettings) -> KeySet:
    """The configured keys; every replica given the same files signs and publishes the same."""
    others = [
        verification_key_from_pem(path.read_bytes()) for path in settings.verification_key_files
    ]
    return KeySet.of(_load_signing_key(settings), others)


def jwks_document(keys: Iterable[VerificationKey]) -> dict[str, Any]:
    return {"keys": [key.public_jwk() for key in keys]}

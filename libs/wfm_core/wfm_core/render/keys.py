"""WireGuard key material: private keys, X25519 public keys, preshared keys (reference.md §3.7)."""

from __future__ import annotations

import base64
import binascii
import os
import random

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from wfm_core.errors import WfmError

KEY_BYTES = 32


def _random_bytes(rng: random.Random | None) -> bytes:
    # A seeded rng is only for tests; production keys come from the OS CSPRNG.
    if rng is None:
        return os.urandom(KEY_BYTES)
    return rng.randbytes(KEY_BYTES)


def _encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _decode(value: str, field: str) -> bytes:
    """Strictly decode a base64 key of exactly 32 bytes, else INVALID_KEY."""
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise WfmError(
            "INVALID_KEY",
            f"{field} must be a base64-encoded 32-byte WireGuard key",
            detail={"field": field},
        )
    return raw


def validate_key(value: str | None, field: str) -> str:
    """Return the stripped key if it is base64 of 32 bytes; else INVALID_KEY with detail.field.

    The result is re-encoded, so a key with non-zero padding bits comes back in the canonical
    spelling WireGuard itself prints (identical to the input for every normal key).
    """
    return _encode(_decode((value or "").strip(), field))


def generate_private_key(rng: random.Random | None = None) -> str:
    """A new private key: base64 of 32 random bytes (X25519 clamps the scalar when it is used)."""
    return _encode(_random_bytes(rng))


def public_key_from_private(private_key: str) -> str:
    """The standard WireGuard public key: X25519 scalar multiplication of the base point."""
    raw = _decode((private_key or "").strip(), "private_key")
    public = X25519PrivateKey.from_private_bytes(raw).public_key()
    return _encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw))


def generate_keypair(rng: random.Random | None = None) -> tuple[str, str]:
    """A fresh `(private_key, public_key)` pair."""
    private_key = generate_private_key(rng)
    return private_key, public_key_from_private(private_key)


def generate_psk(rng: random.Random | None = None) -> str:
    """A fresh preshared key: base64 of 32 random bytes."""
    return _encode(_random_bytes(rng))

"""Key tools behind nodes/keys/* (reference.md §3.7): no writes. PSKs: mesh.service."""

from __future__ import annotations

from wfm_core.nodes.schemas import KeyPair
from wfm_core.render import keys


def generate_keypair() -> KeyPair:
    """A fresh WireGuard key pair (private = 32 random bytes, public = X25519)."""
    private_key, public_key = keys.generate_keypair()
    return KeyPair(private_key=private_key, public_key=public_key)


def derive_public(*, private_key: str) -> KeyPair:
    """The public key of `private_key` (INVALID_KEY unless it is base64 of 32 bytes)."""
    private = keys.validate_key(private_key, "private_key")
    return KeyPair(private_key=private, public_key=keys.public_key_from_private(private))

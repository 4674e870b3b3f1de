"""Secrets at rest: AES-256-GCM with a key derived from `WFM_SECRET_KEY` (design.md §4)."""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PREFIX = "enc1:"
_HKDF_INFO = b"wfm secrets at rest v1"


class SecretDecryptError(Exception):
    """A stored secret could not be decrypted (wrong WFM_SECRET_KEY or damaged value)."""


class SecretBox:
    """Encrypts short strings to `enc1:<base64url(nonce|ciphertext|tag)>` and back."""

    def __init__(self, secret_key: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
            secret_key.encode("utf-8")
        )
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(key).hexdigest()[:8]

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), None)
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, stored: str) -> str:
        if not stored.startswith(_PREFIX):
            # Plain values (imported from the original product) are read as they are.
            return stored
        try:
            raw = base64.urlsafe_b64decode(stored[len(_PREFIX) :])
            return self._aead.decrypt(raw[:12], raw[12:], None).decode("utf-8")
        except (InvalidTag, ValueError) as exc:
            raise SecretDecryptError(
                "stored secret cannot be decrypted with WFM_SECRET_KEY"
            ) from exc


_box: SecretBox | None = None


def configure_secret_box(secret_key: str) -> SecretBox:
    """Install the process-wide box (services call this at start; tests may call it again)."""
    global _box
    _box = SecretBox(secret_key)
    return _box


def secret_box() -> SecretBox:
    """The process-wide box, built from settings on first use."""
    if _box is None:
        from wfm_core.settings import get_settings

        return configure_secret_box(get_settings().secret_key)
    return _box


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()

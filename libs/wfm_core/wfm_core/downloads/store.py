"""Bulk config packages in Redis: API replicas share no disk, and the zips hold private keys.

A package is one hash `wfm:bulk:pkg:<id>` {filename, data} with a TTL, where `data` is the zip
encrypted with the process SecretBox (AES-GCM, `WFM_SECRET_KEY`). The set `wfm:bulk:index` lists
the live packages so a new one deletes every previous one (reference.md §2.3).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from wfm_core.crypto import SecretBox, SecretDecryptError, secret_box

KEY_PREFIX = "wfm:bulk:"
DEFAULT_TTL_SECONDS = 3600
PACKAGE_ID_PREFIX = "pkg_"
_PACKAGE_ID_RE = re.compile(r"pkg_[0-9a-f]{32}")


def new_package_id() -> str:
    """`pkg_` + 32 hex: unguessable, since the zip holds private keys."""
    return f"{PACKAGE_ID_PREFIX}{secrets.token_hex(16)}"


def is_package_id(value: str) -> bool:
    """True only for ids of the form new_package_id() makes (others never reach Redis)."""
    return _PACKAGE_ID_RE.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class StoredPackage:
    filename: str
    data: bytes


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


class PackageStore:
    """Encrypted, expiring bulk packages; at most one lives at a time."""

    def __init__(
        self, redis: Redis, *, prefix: str = KEY_PREFIX, box: SecretBox | None = None
    ) -> None:
        # `prefix` and `box` exist for tests; services use the defaults.
        self._redis = redis
        self._prefix = prefix
        self._box = box

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def index_key(self) -> str:
        return f"{self._prefix}index"

    def package_key(self, package_id: str) -> str:
        return f"{self._prefix}pkg:{package_id}"

    def _secret_box(self) -> SecretBox:
        return self._box if self._box is not None else secret_box()

    async def put(
        self,
        package_id: str,
        filename: str,
        data: bytes,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
    ) -> None:
        """Store a package after deleting every previous one, in one watched transaction."""
        if not is_package_id(package_id):
            raise ValueError(f"not a bulk package id: {package_id!r}")
        # SecretBox seals text: base64 first (the zip is deflated, so the overhead is small).
        sealed = self._secret_box().encrypt(base64.b64encode(data).decode("ascii"))
        key = self.package_key(package_id)
        index = self.index_key

        async def replace(pipe: Pipeline) -> None:
            previous = [_text(member) for member in await pipe.smembers(index)]
            pipe.multi()  # type: ignore[no-untyped-call]
            stale = [self.package_key(old) for old in previous if old != package_id]
            if stale:
                pipe.delete(*stale)
            pipe.delete(index)
            pipe.hset(key, mapping={"filename": filename, "data": sealed})
            pipe.expire(key, ttl_seconds)
            pipe.sadd(index, package_id)
            pipe.expire(index, ttl_seconds)

        await self._redis.transaction(replace, index)

    async def get(self, package_id: str) -> StoredPackage | None:
        """The package, or None when it is unknown, expired or cannot be decrypted."""
        if not is_package_id(package_id):
            return None
        raw = await self._redis.hgetall(self.package_key(package_id))
        fields = {_text(name): _text(value) for name, value in raw.items()}
        if "filename" not in fields or "data" not in fields:
            return None
        try:
            encoded = self._secret_box().decrypt(fields["data"])
            data = base64.b64decode(encoded.encode("ascii"), validate=True)
        except (SecretDecryptError, binascii.Error, UnicodeEncodeError):
            # Another WFM_SECRET_KEY or a damaged value: as good as gone.
            return None
        return StoredPackage(filename=fields["filename"], data=data)

    async def delete_all(self) -> int:
        """Delete every stored package; returns how many there were."""
        members = [_text(m) for m in await self._redis.smembers(self.index_key)]
        keys = [self.package_key(member) for member in members]
        await self._redis.delete(*keys, self.index_key)
        return len(members)

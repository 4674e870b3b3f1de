"""The EMQX HTTP authorization callback `POST /api/internal/emqx/authz` (reference §2.3, §6.8).

EMQX posts `{username, clientid, topic, action}` with our shared key in `x-wfm-internal-key`;
we answer 200 `{"result": "allow"|"deny"}` (a wrong key: 401; a broken body: deny, never 500,
because EMQX reads anything but a 200 answer as "no match", and only `no_match = deny` keeps
that safe). Node lookups are cached briefly and shared between concurrent requests, so a burst
of checks costs one query per account; credential events drop the affected entries at once.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response

from wfm_core.broker import service as broker_service
from wfm_core.broker.authz import is_allowed
from wfm_core.broker.schemas import AuthzSubject
from wfm_core.settings import Settings
from wfm_emqx_sync import metrics

log = logging.getLogger("wfm.emqx_sync.authz")

KEY_HEADER = "x-wfm-internal-key"
MAX_BODY = 4096
_JSON = "application/json"
ALLOW = Response(b'{"result":"allow"}', media_type=_JSON)
DENY = Response(b'{"result":"deny"}', media_type=_JSON)


class SubjectCache:
    """username -> (expiry, subject or None): bounded, short-lived, single-flight lookups."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        ttl: float,
        max_entries: int = 50_000,
    ) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._max = max_entries
        self._entries: dict[str, tuple[float, AuthzSubject | None]] = {}
        self._inflight: dict[str, asyncio.Future[AuthzSubject | None]] = {}
        self._generation = 0

    async def get(self, username: str) -> AuthzSubject | None:
        now = time.monotonic()
        entry = self._entries.get(username)
        if entry is not None and entry[0] > now:
            metrics.LOOKUP_HIT.inc()
            return entry[1]
        shared = self._inflight.get(username)
        if shared is not None:
            metrics.LOOKUP_SHARED.inc()
            return await asyncio.shield(shared)
        future: asyncio.Future[AuthzSubject | None] = asyncio.get_running_loop().create_future()
        self._inflight[username] = future
        generation = self._generation
        try:
            async with self._sessions() as session:
                subject = await broker_service.authz_subject(session, username=username)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
            raise
        finally:
            self._inflight.pop(username, None)
        future.set_result(subject)
        metrics.LOOKUP_MISS.inc()
        if self._ttl > 0 and generation == self._generation:  # no invalidation meanwhile
            if len(self._entries) >= self._max:
                self._evict(now)
            self._entries[username] = (now + self._ttl, subject)
        return subject

    def _evict(self, now: float) -> None:
        expired = [k for k, (expiry, _) in self._entries.items() if expiry <= now]
        for key in expired:
            del self._entries[key]
        while len(self._entries) >= self._max:
            del self._entries[next(iter(self._entries))]  # oldest insertion first

    def invalidate(
        self,
        *,
        node_ids: Iterable[str] = (),
        config_ids: Iterable[str] = (),
        everything: bool = False,
    ) -> None:
        """Drop entries (usernames are node ids); lookups in flight are not cached."""
        self._generation += 1
        if everything:
            self._entries.clear()
            return
        for node_id in node_ids:
            self._entries.pop(node_id, None)
        configs = set(config_ids)
        if configs:
            for key in [
                k for k, (_, s) in self._entries.items() if s is not None and s.config_id in configs
            ]:
                del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)


class Authorizer:
    def __init__(self, *, settings: Settings, cache: SubjectCache) -> None:
        self._settings = settings
        self._key = settings.emqx_authz_shared_key.encode("utf-8")
        self._superuser = settings.backend_mqtt_username
        self.cache = cache

    def key_ok(self, presented: str | None) -> bool:
        if presented is None or not self._key:
            return False
        return hmac.compare_digest(presented.encode("utf-8", "surrogateescape"), self._key)

    async def decide(self, *, username: str, clientid: str, topic: str, action: str) -> bool:
        if self._superuser and username == self._superuser:
            return True
        if not self._settings.enable_mqtt_services:
            return False
        subject = await self.cache.get(username)
        return is_allowed(
            username=username,
            clientid=clientid,
            topic=topic,
            action=action,
            subject=subject,
            superuser=self._superuser,
            mqtt_enabled=self._settings.enable_mqtt_services,
        )

    async def endpoint(self, request: Request) -> Response:
        if not self.key_ok(request.headers.get(KEY_HEADER)):
            metrics.AUTHZ_UNAUTHORIZED.inc()
            return Response(b'{"result":"deny"}', status_code=401, media_type=_JSON)
        try:
            body = await request.body()
            data = json.loads(body) if len(body) <= MAX_BODY else None
        except (ValueError, UnicodeDecodeError):
            data = None
        fields = _fields(data)
        if fields is None:
            metrics.AUTHZ_DENY.inc()
            return DENY
        try:
            allowed = await self.decide(**fields)
        except Exception:  # database trouble: deny (EMQX retries on the next check)
            log.warning("authz lookup failed; denying", exc_info=True)
            metrics.LOOKUP_ERROR.inc()
            allowed = False
        (metrics.AUTHZ_ALLOW if allowed else metrics.AUTHZ_DENY).inc()
        return ALLOW if allowed else DENY


def _fields(data: object) -> dict[str, str] | None:
    if not isinstance(data, dict):
        return None
    fields = {}
    for name in ("username", "clientid", "topic", "action"):
        value = data.get(name)
        if not isinstance(value, str) or not value:
            return None
        fields[name] = value
    return fields

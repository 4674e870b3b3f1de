"""Login rate limiting: 5 failed logins per minute per client address, shared through Redis.

Redis holds the counters so every API replica sees the same budget. When Redis is unreachable
the limiter keeps counting in process memory (per replica) rather than allowing unlimited tries.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from wfm_core.errors import WfmError

log = logging.getLogger("wfm.auth")

MAX_FAILURES = 5
WINDOW_SECONDS = 60
_KEY = "wfm:auth:login-failures:{client}"


class LoginLimiter:
    def __init__(
        self,
        redis: Redis | None,
        *,
        max_failures: int = MAX_FAILURES,
        window_seconds: int = WINDOW_SECONDS,
    ) -> None:
        self._redis = redis
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self._local: dict[str, tuple[int, float]] = {}

    def _local_state(self, client: str) -> tuple[int, float]:
        count, reset_at = self._local.get(client, (0, 0.0))
        if reset_at <= time.monotonic():
            self._local.pop(client, None)
            return 0, 0.0
        return count, reset_at

    async def check(self, client: str) -> None:
        """Raise AUTH_RATE_LIMITED (429, detail.retry_after) when the budget is spent."""
        retry_after: float | None = None
        try:
            if self._redis is not None:
                key = _KEY.format(client=client)
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.get(key)
                    pipe.pttl(key)
                    raw, pttl = await pipe.execute()
                if raw is not None and int(raw) >= self.max_failures:
                    retry_after = max(pttl, 1000) / 1000 if pttl and pttl > 0 else 1.0
        except RedisError as exc:
            log.warning("login limiter: redis unavailable, using local counters (%s)", exc)
        if retry_after is None:
            count, reset_at = self._local_state(client)
            if count >= self.max_failures:
                retry_after = reset_at - time.monotonic()
        if retry_after is not None:
            seconds = max(1, math.ceil(retry_after))
            raise WfmError(
                "AUTH_RATE_LIMITED",
                f"Too many failed logins; try again in {seconds} s",
                detail={"retry_after": seconds},
            )

    async def record_failure(self, client: str) -> None:
        if self._redis is not None:
            try:
                key = _KEY.format(client=client)
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.incr(key)
                    pipe.expire(key, self.window_seconds, nx=True)
                    await pipe.execute()
                return
            except RedisError as exc:
                log.warning("login limiter: redis unavailable, using local counters (%s)", exc)
        count, reset_at = self._local_state(client)
        if not reset_at:
            reset_at = time.monotonic() + self.window_seconds
        self._local[client] = (count + 1, reset_at)

    async def reset(self, client: str) -> None:
        self._local.pop(client, None)
        if self._redis is not None:
            with contextlib.suppress(RedisError):
                await self._redis.delete(_KEY.format(client=client))

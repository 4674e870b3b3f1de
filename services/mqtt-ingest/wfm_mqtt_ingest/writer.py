"""The batched state writer: valid upstream messages → one transaction per batch.

A batch closes after `max_delay` (100 ms) since its first message or at `max_batch` (500)
messages, whichever comes first; it is applied by `signals_service.apply_signals` in one unit
of work (a fixed handful of set-based statements, see signals_repository). Messages keep
arriving while a batch is written.

Failures:
- database unreachable, deadlock, schema not migrated yet (transient): the same batch is
  retried with backoff (0.2 s … 5 s) while new messages queue up to `max_backlog`; beyond
  that new messages are dropped (`backlog_full`) and every dropped ACK is logged;
- a statement the database rejects (a bad value that slipped through): the batch is split in
  halves until the one message that fails is found; it is dropped (`db_rejected`) and logged,
  the others are written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wfm_core.db.types import utc_now
from wfm_core.db.uow import unit_of_work
from wfm_core.endpoints.signals import ACK_KINDS, Signal
from wfm_core.endpoints.signals_service import ApplyResult, apply_signals
from wfm_mqtt_ingest import metrics

log = logging.getLogger("wfm.ingest.writer")

MAX_BATCH = 500
MAX_DELAY_SECONDS = 0.1
MAX_BACKLOG = 50_000
RETRY_DELAYS: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 5.0)
REASON_BACKLOG_FULL = "backlog_full"
REASON_DB_REJECTED = "db_rejected"
REASON_SHUTDOWN = "shutdown"

# SQLSTATE classes worth retrying: connection (08), transaction rollback (40: deadlock,
# serialization), resources (53), operator intervention (57: shutdown), system (58), and
# undefined table/column (42P01/42703: migrations not applied yet).
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
_TRANSIENT_SQLSTATES = frozenset({"42P01", "42703"})


def _sqlstate(exc: BaseException) -> str | None:
    for candidate in (
        getattr(exc, "orig", None),
        getattr(getattr(exc, "orig", None), "__cause__", None),
    ):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def is_transient(exc: BaseException) -> bool:
    """True for failures that say nothing about the batch itself (retry it as it is)."""
    if isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        code = _sqlstate(exc)
        if code is not None:
            return code in _TRANSIENT_SQLSTATES or code[:2] in _TRANSIENT_SQLSTATE_CLASSES
    return False


def _describe(signal: Signal) -> dict[str, str]:
    return {
        "kind": signal.kind,
        "config_id": signal.config_id,
        "node_id": signal.node_id,
        "request_id": signal.request_id,
    }


class BatchWriter:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        max_batch: int = MAX_BATCH,
        max_delay: float = MAX_DELAY_SECONDS,
        max_backlog: int = MAX_BACKLOG,
        retry_delays: Sequence[float] = RETRY_DELAYS,
    ) -> None:
        self._sessions = sessions
        self._max_batch = max_batch
        self._max_delay = max_delay
        self._max_backlog = max_backlog
        self._retry_delays = tuple(retry_delays) or RETRY_DELAYS
        self._pending: deque[Signal] = deque()
        self._first_at = 0.0  # monotonic arrival time of the oldest pending message
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self._current: list[Signal] = []  # the batch being written
        # Totals of this writer (tests, bench); Prometheus has the same by label.
        self.processed = 0
        self.dropped = 0
        self.batches = 0

    @property
    def backlog(self) -> int:
        return len(self._pending)

    # --- intake (synchronous: called from the MQTT socket callback) ---------------------------

    def submit(self, signal: Signal) -> bool:
        """Queue a valid message; False when it was dropped (backlog full or shutting down)."""
        if self._closed or len(self._pending) >= self._max_backlog:
            self._drop([signal], REASON_SHUTDOWN if self._closed else REASON_BACKLOG_FULL)
            return False
        pending = self._pending
        pending.append(signal)
        if len(pending) == 1:
            self._first_at = time.monotonic()
            self._idle.clear()
            self._wake.set()
        elif len(pending) >= self._max_batch:
            self._wake.set()
        return True

    # --- batching loop ----------------------------------------------------------------------

    async def run(self) -> None:
        """Flush batches until `close()` was called and nothing is left (or until cancelled)."""
        while True:
            batch = await self._next_batch()
            if batch is None:
                return
            self._current = batch
            await self._write(batch)
            self._current = []
            if not self._pending:
                self._idle.set()

    async def _next_batch(self) -> list[Signal] | None:
        pending = self._pending
        while not pending:
            if self._closed:
                return None
            self._wake.clear()
            await self._wake.wait()
        while len(pending) < self._max_batch and not self._closed:
            remaining = self._first_at + self._max_delay - time.monotonic()
            if remaining <= 0:
                break
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=remaining)
        count = min(len(pending), self._max_batch)
        batch = [pending.popleft() for _ in range(count)]
        # Whatever arrives from now on waited at most for this flush.
        self._first_at = time.monotonic()
        metrics.BACKLOG.set(len(pending))
        return batch

    async def wait_idle(self) -> None:
        """Until everything submitted so far is written (tests, bench)."""
        await self._idle.wait()

    async def _write(self, batch: list[Signal]) -> None:
        failures = 0
        while True:
            started = time.perf_counter()
            try:
                async with unit_of_work(self._sessions) as session:
                    result = await apply_signals(session, signals=batch, now=utc_now())
            except Exception as exc:
                if is_transient(exc):
                    metrics.FLUSH_ERRORS.labels("transient").inc()
                    delay = self._retry_delays[min(failures, len(self._retry_delays) - 1)]
                    failures += 1
                    log.warning(
                        "batch not written (database unavailable); retrying",
                        extra={
                            "error": f"{type(exc).__name__}: {str(exc)[:300]}",
                            "batch": len(batch),
                            "backlog": len(self._pending),
                            "retry_in_s": delay,
                        },
                    )
                    await asyncio.sleep(delay)
                    continue
                metrics.FLUSH_ERRORS.labels("rejected").inc()
                await self._isolate(batch, exc)
                return
            self._record(batch, result, time.perf_counter() - started)
            return

    async def _isolate(self, batch: list[Signal], exc: Exception) -> None:
        """Split a rejected batch until the failing message is alone; drop only that one."""
        if len(batch) == 1:
            log.error(
                "message rejected by the database; dropped",
                extra={**_describe(batch[0]), "error": f"{type(exc).__name__}: {str(exc)[:300]}"},
            )
            self._drop(batch, REASON_DB_REJECTED, logged=True)
            return
        middle = len(batch) // 2
        await self._write(batch[:middle])
        await self._write(batch[middle:])

    def _record(self, batch: list[Signal], result: ApplyResult, seconds: float) -> None:
        self.batches += 1
        metrics.BATCH_SIZE.observe(len(batch))
        metrics.FLUSH_SECONDS.observe(seconds)
        for kind, count in result.applied.items():
            metrics.PROCESSED.labels(kind).inc(count)
            self.processed += count
        for kind, count in result.stale.items():
            metrics.STALE.labels(kind).inc(count)
        for signal in result.unmatched_acks:
            metrics.ACKS_UNMATCHED.labels(signal.kind).inc()
        if result.unmatched_acks:
            log.info(
                "acks matching no open control log of their node",
                extra={
                    "count": len(result.unmatched_acks),
                    "sample": [_describe(s) for s in result.unmatched_acks[:5]],
                },
            )
        if result.came_online:
            metrics.CAME_ONLINE.inc(len(result.came_online))
        reasons: dict[str, list[Signal]] = {}
        for signal, reason in result.dropped:
            reasons.setdefault(reason, []).append(signal)
        for reason, signals in reasons.items():
            self._drop(signals, reason, refused=True)

    def _drop(
        self, signals: list[Signal], reason: str, *, logged: bool = False, refused: bool = False
    ) -> None:
        """Count dropped messages. ACKs close commands: none is lost without a trace. Those of
        nodes that may not talk (`refused`) get one line per batch, so a flood of forged ACKs
        cannot flood the log; those lost to an outage or shutdown get a line each."""
        self.dropped += len(signals)
        metrics.DROPPED.labels(reason).inc(len(signals))
        acks = [signal for signal in signals if signal.kind in ACK_KINDS]
        if logged or not acks:
            return
        if refused:
            log.warning(
                "acks of nodes that may not talk dropped",
                extra={
                    "reason": reason,
                    "count": len(acks),
                    "sample": [_describe(s) for s in acks[:5]],
                },
            )
            return
        for signal in acks:
            log.warning("ack dropped", extra={**_describe(signal), "reason": reason})

    # --- shutdown ---------------------------------------------------------------------------

    def close(self) -> None:
        """Take no more messages; `run` writes what is queued, then returns."""
        self._closed = True
        self._wake.set()

    def abandon(self) -> int:
        """After `run` was cancelled: count (and log the ACKs of) what was never written."""
        left = [*self._current, *self._pending]
        self._current = []
        self._pending.clear()
        if left:
            self._drop(left, REASON_SHUTDOWN)
            log.warning("messages not written at shutdown", extra={"count": len(left)})
        self._idle.set()
        return len(left)

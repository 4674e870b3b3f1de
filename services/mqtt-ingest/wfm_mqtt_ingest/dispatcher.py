"""Downstream dispatch (design.md §3 "Commands to nodes"): `wfm:commands` → the node's topic.

Consumer group `mqtt-ingest` on the commands stream: each command goes to one replica, which
wraps it in the §6.3 envelope, publishes it (QoS 1) and acks the entry only after the broker's
PUBACK. While the broker is down entries wait unacked (and are kept claimed, so other replicas do
not take them over); a replica that dies leaves its entries pending, and the others reclaim them
after `RECLAIM_MIN_IDLE_MS`. A Redis key per `request_id`, set right after the PUBACK, keeps a
re-delivered entry from being published twice (the agent also ignores repeats). Commands older
than the ACK timeout are not sent any more: their log is `timeout` already or soon.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Histogram
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from wfm_core.db.types import utc_now
from wfm_core.db.uow import unit_of_work
from wfm_core.endpoints import timers as timers_uc
from wfm_core.endpoints.commands import COMMAND_TYPE
from wfm_core.outbox.streams import COMMANDS_STREAM
from wfm_core.protocol import ProtocolError, build_command, topic
from wfm_mqtt_ingest.context import IngestContext, MqttUnavailable
from wfm_mqtt_ingest.metrics import REGISTRY

log = logging.getLogger("wfm.ingest.dispatch")

GROUP = "mqtt-ingest"
READ_COUNT = 500  # entries per XREADGROUP
MAX_IN_FLIGHT = 200  # publishes awaiting their PUBACK at once
READ_BLOCK_MS = 1000
RECLAIM_MIN_IDLE_MS = 30_000  # a pending entry this idle belongs to a dead replica
RECLAIM_EVERY_SECONDS = 10.0
KEEP_CLAIMED_EVERY_SECONDS = 10.0  # < RECLAIM_MIN_IDLE_MS: waiting entries are never stolen
DEAD_CONSUMER_IDLE_MS = 3_600_000  # consumers without pending entries idle this long are removed
SENT_KEY_PREFIX = "wfm:dispatch:sent:"
SENT_TTL_SECONDS = 600  # > the ACK timeout: older commands are dropped as stale anyway
PUBLISH_TIMEOUT_SECONDS = 30.0  # a publisher that never answers counts as unavailable

DISPATCHED = Counter(
    "wfm_ingest_commands_dispatched_total",
    "Commands published to nodes (broker PUBACK received), by topic kind",
    ["kind"],
    registry=REGISTRY,
)
FAILED = Counter(
    "wfm_ingest_commands_failed_total",
    "Commands dropped as unsendable, by reason (invalid_entry | invalid_payload | publish_error)",
    ["reason"],
    registry=REGISTRY,
)
STALE = Counter(
    "wfm_ingest_commands_stale_total",
    "Commands not sent because they were older than the ACK timeout when their turn came",
    registry=REGISTRY,
)
DUPLICATES = Counter(
    "wfm_ingest_commands_duplicate_total",
    "Re-delivered commands not published again (already sent)",
    registry=REGISTRY,
)
RETRIES = Counter(
    "wfm_ingest_command_publish_retries_total",
    "Publish attempts that found the broker unavailable (retried after reconnect)",
    registry=REGISTRY,
)
LATENCY = Histogram(
    "wfm_ingest_dispatch_latency_seconds",
    "From the command's requested_at (API transaction) to the broker's PUBACK",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)

_REQUEST_ID_RE = re.compile(r"[0-9a-f]{32}")

Entry = tuple[str, dict[str, str]]


# --- shared by the stream consumers of this package (dispatcher, autopush) --------------------


def text(value: Any) -> str:
    """A Redis reply value as str, whether the client decodes responses or not."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def entries_of(reply: Any) -> list[Entry]:
    """The (id, fields) entries of an XREADGROUP / XAUTOCLAIM entry list."""
    entries: list[Entry] = []
    for entry_id, fields in reply or []:
        decoded = {text(key): text(value) for key, value in (fields or {}).items()}
        entries.append((text(entry_id), decoded))
    return entries


def read_reply_entries(reply: Any) -> list[Entry]:
    """The entries of an XREADGROUP reply on one stream."""
    entries: list[Entry] = []
    for _stream, items in reply or []:
        entries += entries_of(items)
    return entries


async def ensure_group(redis: Redis, *, stream: str, group: str, start_id: str) -> None:
    """Create the consumer group (and the stream) if missing; an existing one is kept."""
    try:
        await redis.xgroup_create(stream, group, id=start_id, mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def reclaim(
    redis: Redis, *, stream: str, group: str, consumer: str, min_idle_ms: int, count: int
) -> list[Entry]:
    """Take over entries other consumers left pending for `min_idle_ms` (they died), and forget
    consumers that have been gone for long with nothing pending."""
    claimed: list[Entry] = []
    start = "0-0"
    while True:
        reply = await redis.xautoclaim(
            stream, group, consumer, min_idle_time=min_idle_ms, start_id=start, count=count
        )
        start = text(reply[0])
        claimed += entries_of(reply[1])
        if start == "0-0" or len(claimed) >= count:
            break
    for info in await redis.xinfo_consumers(stream, group):
        fields = {text(key): value for key, value in info.items()}
        name, pending, idle = text(fields["name"]), int(fields["pending"]), int(fields["idle"])
        if name != consumer and pending == 0 and idle > DEAD_CONSUMER_IDLE_MS:
            await redis.xgroup_delconsumer(stream, group, name)
    return claimed


class Backoff:
    """Exponential sleep between attempts after failures: 0.5 s doubling up to 5 s."""

    def __init__(self, first: float = 0.5, ceiling: float = 5.0) -> None:
        self._first = first
        self._ceiling = ceiling
        self._next = first

    def reset(self) -> None:
        self._next = self._first

    async def sleep(self) -> None:
        delay, self._next = self._next, min(self._next * 2, self._ceiling)
        await asyncio.sleep(delay)


def is_outage(exc: BaseException) -> bool:
    """Errors that say a dependency is down (wait it out), not that the work itself is bad."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(
        exc,
        RedisConnectionError | RedisTimeoutError | OSError | OperationalError | InterfaceError,
    )


async def retry(what: str, step: Callable[[], Awaitable[None]], *, attempts: int = 3) -> bool:
    """Run `step` until it succeeds. Outages of the database or Redis are waited out however long
    they last; any other error (bad data, a bug) is retried `attempts` times, then logged and
    given up, so one poison item never stalls a component. False when given up."""
    backoff = Backoff()
    failures = 0
    while True:
        try:
            await step()
            return True
        except Exception as exc:
            if not is_outage(exc):
                failures += 1
                if failures >= attempts:
                    log.exception("%s failed %d times; giving up", what, failures)
                    return False
            log.warning("%s failed (%s: %s); retrying", what, type(exc).__name__, exc)
            await backoff.sleep()


# --- commands -----------------------------------------------------------------------------------


class BadEntry(ValueError):
    """A stream entry that is not a usable command; `request_id` when it names one."""

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id


@dataclass(frozen=True)
class StreamCommand:
    entry_id: str
    request_id: str
    config_id: str
    node_id: str
    kind: str
    payload: dict[str, Any]
    requested_at: datetime


def _str(document: Mapping[str, Any], name: str, request_id: str | None) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value:
        raise BadEntry(f"{name} missing or not a string", request_id=request_id)
    return value


def parse_entry(entry_id: str, fields: Mapping[str, str]) -> StreamCommand:
    """One `wfm:commands` entry as the relay wrote it (outbox `stream_fields`)."""
    if fields.get("type") != COMMAND_TYPE:
        raise BadEntry(f"entry type {fields.get('type')!r} is not {COMMAND_TYPE}")
    try:
        document = json.loads(fields.get("payload", ""))
    except ValueError:
        raise BadEntry("payload is not JSON") from None
    if not isinstance(document, dict):
        raise BadEntry("payload is not an object")
    request_id = document.get("request_id")
    if not isinstance(request_id, str) or _REQUEST_ID_RE.fullmatch(request_id) is None:
        raise BadEntry("request_id missing or not 32 hex characters")
    payload = document.get("payload")
    if not isinstance(payload, dict):
        raise BadEntry("command payload is not an object", request_id=request_id)
    stamp = _str(document, "requested_at", request_id)
    try:
        requested_at = datetime.fromisoformat(stamp)
    except ValueError:
        raise BadEntry("requested_at is not ISO-8601", request_id=request_id) from None
    if requested_at.tzinfo is None:
        requested_at = requested_at.replace(tzinfo=UTC)
    return StreamCommand(
        entry_id=entry_id,
        request_id=request_id,
        config_id=_str(document, "config_id", request_id),
        node_id=_str(document, "node_id", request_id),
        kind=_str(document, "kind", request_id),
        payload=payload,
        requested_at=requested_at,
    )


def is_stale(command: StreamCommand, *, now: datetime, ack_timeout_seconds: float) -> bool:
    """Past the ACK timeout nobody waits for the command: its log is (or soon is) `timeout`."""
    return (now - command.requested_at).total_seconds() >= ack_timeout_seconds


class _Completions:
    """Marks published commands as sent and acks finished entries: one pipeline per burst, so a
    thousand PUBACKs cost a few round trips, and the window between PUBACK and mark stays short.
    """

    def __init__(self, redis: Redis, *, stream: str, group: str) -> None:
        self._redis = redis
        self._stream = stream
        self._group = group
        self._items: list[tuple[str, str | None]] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def add(self, entry_id: str, sent_request_id: str | None) -> None:
        self._items.append((entry_id, sent_request_id))
        self._idle.clear()
        self._wake.set()

    async def drain(self) -> None:
        await self._idle.wait()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._items:
                items, self._items = self._items, []
                await retry("acking commands", functools.partial(self._flush, items))
            self._idle.set()

    async def _flush(self, items: Sequence[tuple[str, str | None]]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for _, request_id in items:
                if request_id is not None:
                    pipe.set(SENT_KEY_PREFIX + request_id, "1", ex=SENT_TTL_SECONDS)
            pipe.xack(self._stream, self._group, *[entry_id for entry_id, _ in items])
            await pipe.execute()


class Dispatcher:
    def __init__(self, ctx: IngestContext, *, stream: str = COMMANDS_STREAM) -> None:
        self._ctx = ctx
        self._redis = ctx.redis
        self._stream = stream
        self._consumer = ctx.instance_id
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._completions = _Completions(ctx.redis, stream=stream, group=GROUP)
        self._in_flight: set[str] = set()

    async def run(self) -> None:
        acker = asyncio.create_task(self._completions.run(), name="dispatch-acks")
        backoff = Backoff()
        try:
            while True:
                try:
                    await self._consume()
                except Exception as exc:  # Redis down, group lost, a bug: never crash
                    log.warning("dispatcher: %s: %s; retrying", type(exc).__name__, exc)
                    await backoff.sleep()
                else:
                    backoff.reset()
        finally:
            # Mark and ack what was published, so a restart does not publish it again.
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._completions.drain(), 2.0)
            acker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acker

    async def _consume(self) -> None:
        await ensure_group(self._redis, stream=self._stream, group=GROUP, start_id="0")
        # Entries delivered to this consumer name before a restart come first (once each).
        after = "0"
        while own := read_reply_entries(
            await self._redis.xreadgroup(
                GROUP, self._consumer, {self._stream: after}, count=READ_COUNT
            )
        ):
            await self.handle(own)
            after = own[-1][0]
        next_reclaim = 0.0
        while True:
            if time.monotonic() >= next_reclaim:
                claimed = await reclaim(
                    self._redis,
                    stream=self._stream,
                    group=GROUP,
                    consumer=self._consumer,
                    min_idle_ms=RECLAIM_MIN_IDLE_MS,
                    count=READ_COUNT,
                )
                if claimed:
                    log.info("dispatcher: reclaimed %d pending commands", len(claimed))
                    await self.handle(claimed)
                next_reclaim = time.monotonic() + RECLAIM_EVERY_SECONDS
            reply = await self._redis.xreadgroup(
                GROUP,
                self._consumer,
                {self._stream: ">"},
                count=READ_COUNT,
                block=READ_BLOCK_MS,
            )
            entries = read_reply_entries(reply)
            if entries:
                await self.handle(entries)

    async def handle(self, entries: Sequence[Entry]) -> None:
        """Publish a batch of entries; returns once every one of them is acked."""
        started = time.monotonic()
        commands: list[StreamCommand] = []
        failures: dict[str, str] = {}
        for entry_id, fields in entries:
            if not fields:  # trimmed from the stream while pending
                self._completions.add(entry_id, None)
                continue
            try:
                commands.append(parse_entry(entry_id, fields))
            except BadEntry as exc:
                log.warning("dispatcher: dropping entry %s: %s", entry_id, exc)
                FAILED.labels(reason="invalid_entry").inc()
                if exc.request_id is not None:
                    failures[exc.request_id] = str(exc)
                self._completions.add(entry_id, None)
        sent = await self._already_sent(commands)
        now = utc_now()
        timeout = self._ctx.settings.control_ack_timeout_seconds
        publishes: list[Awaitable[Any]] = []
        for command in commands:
            if command.request_id in sent:
                DUPLICATES.inc()
                self._completions.add(command.entry_id, None)
                continue
            sent.add(command.request_id)  # the same command twice in one batch
            if is_stale(command, now=now, ack_timeout_seconds=timeout):
                STALE.inc()
                self._completions.add(command.entry_id, None)
                continue
            try:
                envelope = build_command(
                    command.kind,
                    config_id=command.config_id,
                    node_id=command.node_id,
                    payload=command.payload,
                    request_id=command.request_id,
                )
            except ProtocolError as exc:
                log.warning("dispatcher: command %s is invalid: %s", command.request_id, exc)
                FAILED.labels(reason="invalid_payload").inc()
                failures[command.request_id] = str(exc)
                self._completions.add(command.entry_id, None)
                continue
            target = topic(command.config_id, command.node_id, command.kind)
            self._in_flight.add(command.entry_id)
            publishes.append(self._publish(command, target, envelope.to_json()))
        if failures:  # alongside the publishes: a database outage does not hold them up
            publishes.append(retry("failing unsendable commands", lambda: self._fail(failures)))
        if publishes:
            keeper = asyncio.create_task(self._keep_claimed(), name="dispatch-keep-claimed")
            try:
                await asyncio.gather(*publishes)
            finally:
                keeper.cancel()
                self._in_flight.clear()
        await self._completions.drain()
        log.debug(
            "dispatcher: %d entries handled in %.0f ms",
            len(entries),
            (time.monotonic() - started) * 1000,
        )

    async def _already_sent(self, commands: Sequence[StreamCommand]) -> set[str]:
        if not commands:
            return set()
        flags = await self._redis.mget([SENT_KEY_PREFIX + c.request_id for c in commands])
        return {c.request_id for c, flag in zip(commands, flags, strict=True) if flag is not None}

    async def _fail(self, failures: Mapping[str, str]) -> None:
        async with unit_of_work(self._ctx.sessions) as session:
            await timers_uc.fail_commands(session, failures=failures)

    async def _publish(self, command: StreamCommand, target: str, body: bytes) -> None:
        publisher = self._ctx.publisher
        timeout = self._ctx.settings.control_ack_timeout_seconds
        pause = Backoff(first=0.1, ceiling=2.0)
        async with self._slots:
            try:
                while True:
                    if is_stale(command, now=utc_now(), ack_timeout_seconds=timeout):
                        STALE.inc()
                        self._completions.add(command.entry_id, None)
                        return
                    try:
                        await asyncio.wait_for(
                            publisher.publish(target, body), PUBLISH_TIMEOUT_SECONDS
                        )
                    except (MqttUnavailable, TimeoutError):
                        RETRIES.inc()
                        if publisher.connected.is_set():  # up, yet it failed: do not spin
                            await pause.sleep()
                        else:  # wait for the link (re-checking staleness every few seconds)
                            with contextlib.suppress(TimeoutError):
                                await asyncio.wait_for(publisher.connected.wait(), 5.0)
                        continue
                    except Exception as exc:  # the broker refused this message: never retry it
                        log.warning("dispatcher: publishing %s failed: %r", command.request_id, exc)
                        FAILED.labels(reason="publish_error").inc()
                        failure = {command.request_id: f"publish failed: {exc}"}
                        await retry(
                            "failing an unpublishable command",
                            functools.partial(self._fail, failure),
                        )
                        self._completions.add(command.entry_id, None)
                        return
                    LATENCY.observe(max(0.0, (utc_now() - command.requested_at).total_seconds()))
                    DISPATCHED.labels(kind=command.kind).inc()
                    self._completions.add(command.entry_id, command.request_id)
                    return
            finally:
                self._in_flight.discard(command.entry_id)

    async def _keep_claimed(self) -> None:
        """Reset the idle time of entries still waiting (broker down), so that the other
        replicas' reclaim does not take over entries this replica still holds."""
        while True:
            await asyncio.sleep(KEEP_CLAIMED_EVERY_SECONDS)
            if not self._in_flight:
                continue
            ids: list[Any] = sorted(self._in_flight)
            with contextlib.suppress(RedisError):
                await self._redis.xclaim(
                    self._stream,
                    GROUP,
                    self._consumer,
                    min_idle_time=0,
                    message_ids=ids,
                    justid=True,
                )


async def run(ctx: IngestContext) -> None:
    """The dispatcher of this replica; runs until cancelled."""
    await Dispatcher(ctx).run()

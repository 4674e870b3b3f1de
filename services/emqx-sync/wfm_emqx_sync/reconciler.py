"""The reconciler: converges the broker's node accounts to the database, level-triggered.

Two ways to compare, same outcome:
- `reconcile()` lists the broker and fixes every difference (start, broker recovery, snapshot
  restore, every `interval` seconds). Creates missing accounts, replaces wrong ones, revokes
  `node_…` accounts the database does not want.
- `converge()` re-reads only the scope an event names (nodes, configs) and compares it with what
  this process last applied: one indexed query, and broker writes only when something changed.

Every trigger just marks work and wakes `run()`, which does it in order, one thing at a time;
the broker's or the database's absence is retried with backoff and never ends the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wfm_core.broker import service as broker_service
from wfm_core.broker.authz import node_client_id
from wfm_core.broker.schemas import BrokerSyncStatus, SyncCounters
from wfm_core.db.uow import unit_of_work
from wfm_core.settings import Settings
from wfm_emqx_sync import metrics
from wfm_emqx_sync.port import (
    BrokerAdmin,
    BrokerUnavailable,
    NodeAccount,
    Outcome,
    Revocation,
    fingerprint_key,
    node_account,
    service_account,
)

log = logging.getLogger("wfm.emqx_sync")

BACKOFF_START = 0.25
BACKOFF_CAP = 5.0
_DATABASE_ERRORS = (OperationalError, DBAPIError, OSError)


@dataclass
class _Work:
    full: bool = False
    force: bool = False
    everything: bool = False  # database vs. memory for every account
    nodes: set[str] = field(default_factory=set)  # revoke these if the database drops them
    checks: set[str] = field(default_factory=set)  # re-check these against memory only
    configs: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.full or self.everything or self.nodes or self.checks or self.configs)

    def merge(self, other: _Work) -> None:
        self.full |= other.full
        self.force |= other.force
        self.everything |= other.everything
        self.nodes |= other.nodes
        self.checks |= other.checks
        self.configs |= other.configs


class Reconciler:
    def __init__(
        self,
        *,
        admin: BrokerAdmin,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        interval: float | None = None,
        on_status: Callable[[], None] | None = None,
    ) -> None:
        self.admin = admin
        self._sessions = sessions
        self._settings = settings
        self._interval = interval if interval is not None else settings.broker_sync_interval_seconds
        self._on_status = on_status or (lambda: None)
        self._key = fingerprint_key(settings.secret_key)
        self._lock = asyncio.Lock()
        self._work = _Work(full=True, force=True)
        self._wake = asyncio.Event()
        self._stopping = False
        self._stopped = asyncio.Event()
        # username -> the account this process last wrote or found correct on the broker.
        self.applied: dict[str, NodeAccount] = {}
        self.last_error: str | None = None
        self.last_connected_at: datetime | None = None
        self.last_reconcile_at: datetime | None = None
        self.last_result: SyncCounters | None = None
        self.reconciles = 0
        self.events_connected = False

    # --- triggers -----------------------------------------------------------------------

    def request_full(self, *, force: bool = False) -> None:
        self._add(_Work(full=True, force=force))

    def request_nodes(self, node_ids: Iterable[str], *, revoke: bool = True) -> None:
        """Re-check nodes now; with `revoke`, also revoke any of them the database drops
        even when this process never wrote them (an event said its credentials changed)."""
        ids = {n for n in node_ids if isinstance(n, str) and n}
        self._add(_Work(nodes=ids) if revoke else _Work(checks=ids))

    def request_configs(self, config_ids: Iterable[str]) -> None:
        self._add(_Work(configs={c for c in config_ids if isinstance(c, str) and c}))

    def request_everything(self) -> None:
        self._add(_Work(everything=True))

    def _add(self, work: _Work) -> None:
        if work:
            self._work.merge(work)
            self._wake.set()

    # --- status -------------------------------------------------------------------------

    def status(self) -> BrokerSyncStatus:
        enabled = self._settings.enable_mqtt_services
        connected = self.admin.connected
        if not enabled:
            state = "disabled"
        elif connected and self.last_error is None:
            state = "connected"
        elif connected or self.last_error:
            state = "error"
        else:
            state = "connecting"
        return BrokerSyncStatus(
            broker=self.admin.kind,
            enabled=enabled,
            connected=connected,
            status=state,
            last_error=self.last_error,
            last_connected_at=self.last_connected_at,
            last_reconcile_at=self.last_reconcile_at,
            last_result=self.last_result,
            events_connected=self.events_connected,
        )

    def _error(self, message: str | None) -> None:
        self.last_error = message
        metrics.CONNECTED.set(1 if self.admin.connected else 0)
        self._on_status()

    # --- work ---------------------------------------------------------------------------

    async def _desired(
        self, *, config_ids: Iterable[str] | None = None, node_ids: Iterable[str] | None = None
    ) -> dict[str, NodeAccount]:
        async with unit_of_work(self._sessions) as session:
            credentials = await broker_service.desired_credentials(
                session,
                settings=self._settings,
                config_ids=None if config_ids is None else sorted(config_ids),
                node_ids=None if node_ids is None else sorted(node_ids),
            )
        return {c.username: node_account(c, key=self._key) for c in credentials}

    async def reconcile(self, *, force: bool = False) -> SyncCounters:
        """Full reconcile against what the broker reports. BrokerUnavailable and database
        errors propagate (the caller retries); per-account refusals are counted."""
        async with self._lock:
            started = time.perf_counter()
            desired = await self._desired()
            counters = SyncCounters(
                enabled=self._settings.enable_mqtt_services, mqtt_credentials=len(desired)
            )
            errors: list[str] = []
            s = self._settings
            try:
                await self.admin.ensure_service_account(
                    service_account(
                        username=s.backend_mqtt_username,
                        password=s.backend_mqtt_password,
                        share_group=s.mqtt_share_group,
                        key=self._key,
                    )
                )
                counters.server_users_synced = 1
            except BrokerUnavailable:
                raise
            except Exception as exc:  # the broker refused it; node accounts still go ahead
                counters.server_users_failed = 1
                errors.append(f"services account {s.backend_mqtt_username}: {exc}")
            if force:
                self.admin.forget()
            seen = await self.admin.node_users()
            upserts = [
                account
                for username, account in desired.items()
                if username not in seen or not self.admin.up_to_date(account, seen[username])
            ]
            revokes = [
                Revocation(username=username, client_id=self._client_id(username))
                for username in seen
                if username not in desired
            ]
            applied = {u: a for u, a in desired.items() if u in seen}
            await self._apply(upserts, revokes, counters, errors, applied)
            counters.node_users_unchanged = len(desired) - len(upserts)
            self.applied = applied
            self._finish("full", started, counters, errors)
            self.last_reconcile_at = datetime.now(UTC)
            metrics.LAST_RECONCILE.set(time.time())
            metrics.NODE_ACCOUNTS.set(len(desired))
            return counters

    async def converge(
        self,
        *,
        node_ids: Iterable[str] = (),
        check_ids: Iterable[str] = (),
        config_ids: Iterable[str] = (),
        everything: bool = False,
    ) -> SyncCounters:
        """Bring the named scope in line with the database, comparing with what this process
        last applied (no broker listing)."""
        async with self._lock:
            started = time.perf_counter()
            revoke_ids, checks, configs = set(node_ids), set(check_ids), set(config_ids)
            if everything:
                desired = await self._desired()
                known = dict(self.applied)
            else:
                desired = await self._desired(config_ids=configs, node_ids=revoke_ids | checks)
                scope_nodes = revoke_ids | checks
                known = {
                    u: a
                    for u, a in self.applied.items()
                    if a.credential.node_id in scope_nodes or a.credential.config_id in configs
                }
            counters = SyncCounters(
                enabled=self._settings.enable_mqtt_services, mqtt_credentials=len(desired)
            )
            upserts = [
                account
                for username, account in desired.items()
                if (current := self.applied.get(username)) is None
                or current.fingerprint != account.fingerprint
            ]
            gone = {u for u in known if u not in desired}
            # An event about a node whose account we never wrote (another replica did, or we
            # restarted): revoke by convention, username = node id.
            gone |= {n for n in revoke_ids if n not in desired}
            revokes = [Revocation(username=u, client_id=self._client_id(u)) for u in sorted(gone)]
            errors: list[str] = []
            applied = dict(self.applied)
            for username in gone:
                applied.pop(username, None)
            await self._apply(upserts, revokes, counters, errors, applied)
            counters.node_users_unchanged = len(desired) - len(upserts)
            self.applied = applied
            if upserts or revokes:
                self._finish("scoped", started, counters, errors)
            return counters

    def _client_id(self, username: str) -> str:
        known = self.applied.get(username)
        return known.client_id if known is not None else node_client_id(username)

    async def _apply(
        self,
        upserts: list[NodeAccount],
        revokes: list[Revocation],
        counters: SyncCounters,
        errors: list[str],
        applied: dict[str, NodeAccount],
    ) -> None:
        if revokes:
            outcome: Outcome = await self.admin.revoke_node_users(revokes)
            for username, error in outcome.items():
                applied.pop(username, None)
                if error is None:
                    counters.node_users_deleted += 1
                else:
                    counters.node_users_delete_failed += 1
                    errors.append(f"revoke {username}: {error}")
            metrics.OPERATIONS.labels("revoke", "ok").inc(counters.node_users_deleted)
            metrics.OPERATIONS.labels("revoke", "failed").inc(counters.node_users_delete_failed)
        if upserts:
            by_name = {a.username: a for a in upserts}
            outcome = await self.admin.upsert_node_users(upserts)
            for username, error in outcome.items():
                if error is None:
                    counters.node_users_synced += 1
                    applied[username] = by_name[username]
                else:
                    counters.node_users_failed += 1
                    applied.pop(username, None)
                    errors.append(f"upsert {username}: {error}")
            metrics.OPERATIONS.labels("upsert", "ok").inc(counters.node_users_synced)
            metrics.OPERATIONS.labels("upsert", "failed").inc(counters.node_users_failed)

    def _finish(self, kind: str, started: float, counters: SyncCounters, errors: list[str]) -> None:
        elapsed = time.perf_counter() - started
        metrics.RECONCILE_SECONDS.labels(kind).observe(elapsed)
        metrics.RECONCILES.labels(kind, "partial" if errors else "ok").inc()
        if kind == "full":
            self.last_result = counters
            self.reconciles += 1
        if errors:
            log.warning(
                "broker %s reconcile: %d failure(s)",
                kind,
                len(errors),
                extra={"errors": errors[:20]},
            )
            self._error("; ".join(errors[:3]))
        elif kind == "full" or self.last_error is not None:
            self._error(None)
        log.info(
            "broker %s reconcile done in %.3f s",
            kind,
            elapsed,
            extra={"counters": counters.model_dump()},
        )

    # --- the loop -----------------------------------------------------------------------

    async def _sleep(self, seconds: float) -> None:
        """Sleep, cut short by stop() (not by new work: backoff must hold)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), timeout=seconds)

    async def run(self) -> None:
        backoff = BACKOFF_START
        next_full = time.monotonic()
        while not self._stopping:
            if not self.admin.connected:
                try:
                    await self.admin.connect()
                except BrokerUnavailable as exc:
                    self._error(str(exc))
                    # MQTT services off: the broker may well not exist (§6.9); keep quiet.
                    level = (
                        logging.WARNING if self._settings.enable_mqtt_services else logging.DEBUG
                    )
                    log.log(level, "broker unavailable; retrying in %.2f s: %s", backoff, exc)
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, BACKOFF_CAP)
                    continue
                self.last_connected_at = datetime.now(UTC)
                log.info("broker admin link up", extra={"broker": self.admin.kind})
                self._add(_Work(full=True, force=True))  # whatever happened while away
            if time.monotonic() >= next_full:
                self._add(_Work(full=True))
            work, self._work = self._work, _Work()
            self._wake.clear()
            try:
                if work.full:
                    await self.reconcile(force=work.force)
                    next_full = time.monotonic() + self._interval
                    work.full = work.force = work.everything = False
                    work.nodes, work.checks, work.configs = set(), set(), set()
                elif work:
                    await self.converge(
                        node_ids=work.nodes,
                        check_ids=work.checks,
                        config_ids=work.configs,
                        everything=work.everything,
                    )
                backoff = BACKOFF_START
            except BrokerUnavailable as exc:
                await self.admin.close()
                self._error(str(exc))
                self._work.merge(_Work(full=True, force=True))
                continue  # reconnect at once, then back off if it fails
            except _DATABASE_ERRORS as exc:
                self._work.merge(work)
                self._error(f"database: {type(exc).__name__}: {exc}"[:500])
                log.warning("database unavailable; retrying in %.2f s", backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_CAP)
                continue
            except Exception as exc:  # a bug must not end the projection
                self._work.merge(work)
                self._error(f"{type(exc).__name__}: {exc}"[:500])
                log.exception("reconcile failed")
                await self._sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_CAP)
                continue
            self._on_status()
            if self._work:
                continue
            timeout = max(0.0, min(next_full - time.monotonic(), 0.5))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)

    def stop(self) -> None:
        self._stopping = True
        self._stopped.set()
        self._wake.set()

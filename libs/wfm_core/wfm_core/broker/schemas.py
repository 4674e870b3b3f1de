"""Models of the broker domain: desired node credentials, authz subjects, sync status (§6.10)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from wfm_core.schemas import ResponseModel

BrokerKind = Literal["emqx", "mosquitto"]
SyncState = Literal["disabled", "connected", "connecting", "error"]


@dataclass(frozen=True, slots=True)
class NodeCredential:
    """One node's broker account as the database says it must exist (§6.10 "restorable")."""

    config_id: str
    node_id: str
    username: str
    client_id: str
    password: str


@dataclass(frozen=True, slots=True)
class AuthzSubject:
    """What §6.8 needs to know about a node account, with its exact topic grants."""

    node_id: str
    config_id: str
    client_id: str
    # dynamic, enabled, initialized, config enabled: false means deny everything.
    active: bool
    publish_topics: frozenset[str]
    subscribe_topics: frozenset[str]


class SyncCounters(ResponseModel):
    """The result counters of one reconcile (reference.md §6.10), plus what was left alone."""

    enabled: bool
    mqtt_credentials: int = 0
    server_users_synced: int = 0
    server_users_failed: int = 0
    node_users_synced: int = 0
    node_users_failed: int = 0
    node_users_deleted: int = 0
    node_users_delete_failed: int = 0
    node_users_unchanged: int = 0


class BrokerSyncStatus(ResponseModel):
    """What emqx-sync reports under `wfm:status:broker-sync` (system status, /healthz)."""

    broker: BrokerKind
    enabled: bool
    connected: bool
    status: SyncState
    last_error: str | None = None
    last_connected_at: datetime | None = None
    last_reconcile_at: datetime | None = None
    last_result: SyncCounters | None = None
    events_connected: bool = False

"""Prometheus metrics of emqx-sync: reconcile results, broker link, events, authz decisions."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate

REGISTRY = CollectorRegistry(auto_describe=True)

CONNECTED = Gauge(
    "wfm_broker_sync_connected", "1 while the broker admin link is up", registry=REGISTRY
)
RECONCILES = Counter(
    "wfm_broker_sync_reconciles_total",
    "Reconcile runs by kind (full, scoped) and result (ok, partial, failed)",
    ["kind", "result"],
    registry=REGISTRY,
)
RECONCILE_SECONDS = Histogram(
    "wfm_broker_sync_reconcile_duration_seconds",
    "Duration of reconcile runs by kind",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
    registry=REGISTRY,
)
OPERATIONS = Counter(
    "wfm_broker_sync_operations_total",
    "Node account writes by operation (upsert, revoke) and result (ok, failed)",
    ["operation", "result"],
    registry=REGISTRY,
)
NODE_ACCOUNTS = Gauge(
    "wfm_broker_sync_node_accounts",
    "Node accounts the database wants on the broker",
    registry=REGISTRY,
)
EVENTS = Counter(
    "wfm_broker_sync_events_total",
    "Events read from wfm:events by type",
    ["type"],
    registry=REGISTRY,
)
LAST_RECONCILE = Gauge(
    "wfm_broker_sync_last_reconcile_timestamp_seconds",
    "Unix time of the last complete full reconcile",
    registry=REGISTRY,
)
AUTHZ = Counter(
    "wfm_authz_decisions_total", "Authz callback answers by result", ["result"], registry=REGISTRY
)
AUTHZ_LOOKUPS = Counter(
    "wfm_authz_lookups_total",
    "Authz account lookups by outcome (hit, miss, shared, error)",
    ["outcome"],
    registry=REGISTRY,
)
LOOKUP_HIT = AUTHZ_LOOKUPS.labels("hit")
LOOKUP_MISS = AUTHZ_LOOKUPS.labels("miss")
LOOKUP_SHARED = AUTHZ_LOOKUPS.labels("shared")
LOOKUP_ERROR = AUTHZ_LOOKUPS.labels("error")
AUTHZ_ALLOW = AUTHZ.labels("allow")
AUTHZ_DENY = AUTHZ.labels("deny")
AUTHZ_UNAUTHORIZED = AUTHZ.labels("unauthorized")


def render() -> tuple[bytes, str]:
    return _generate(REGISTRY), CONTENT_TYPE_LATEST

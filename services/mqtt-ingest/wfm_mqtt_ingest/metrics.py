"""Prometheus metrics of mqtt-ingest (served on /metrics by `app.py`).

One process-wide `REGISTRY`; every component adds its own collectors here (additively: names are
`wfm_ingest_*`, labels have a small fixed set of values so cardinality stays bounded).
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate

REGISTRY = CollectorRegistry(auto_describe=True)

# --- upstream (subscriber + batched writer) ---------------------------------------------------

RECEIVED = Counter(
    "wfm_ingest_received_total",
    "Upstream MQTT messages received, by topic kind (`invalid` when the topic is not a WFM topic)",
    ["kind"],
    registry=REGISTRY,
)
DROPPED = Counter(
    "wfm_ingest_dropped_total",
    "Upstream messages dropped without changing state, by reason (protocol reason codes, "
    "unknown_node, wrong_config, stale, backlog_full, db_rejected)",
    ["reason"],
    registry=REGISTRY,
)
PROCESSED = Counter(
    "wfm_ingest_processed_total",
    "Upstream messages applied to the database (committed), by topic kind",
    ["kind"],
    registry=REGISTRY,
)
ACKS_UNMATCHED = Counter(
    "wfm_ingest_acks_unmatched_total",
    "ACKs whose request_id names no control log of that node, or a log already closed",
    ["kind"],
    registry=REGISTRY,
)
STALE = Counter(
    "wfm_ingest_stale_total",
    "Messages older than the node's newest presence change: no presence or runtime effect",
    ["kind"],
    registry=REGISTRY,
)
BATCH_SIZE = Histogram(
    "wfm_ingest_batch_messages",
    "Messages per flushed batch",
    buckets=(1, 5, 10, 25, 50, 100, 250, 500),
    registry=REGISTRY,
)
FLUSH_SECONDS = Histogram(
    "wfm_ingest_flush_seconds",
    "Duration of one batch transaction (lookups, writes, commit)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
FLUSH_ERRORS = Counter(
    "wfm_ingest_flush_errors_total",
    "Failed batch transactions, by kind (transient: retried; rejected: split to isolate)",
    ["kind"],
    registry=REGISTRY,
)
BACKLOG = Gauge(
    "wfm_ingest_backlog_messages",
    "Valid messages waiting for the batched writer",
    registry=REGISTRY,
)
CAME_ONLINE = Counter(
    "wfm_ingest_clients_came_online_total",
    "Client presence transitions to online (endpoint.client.online events)",
    registry=REGISTRY,
)

# --- MQTT link --------------------------------------------------------------------------------

MQTT_CONNECTED = Gauge(
    "wfm_ingest_mqtt_connected",
    "1 while this process is connected to the broker",
    registry=REGISTRY,
)
MQTT_CONNECTS = Counter(
    "wfm_ingest_mqtt_connects_total",
    "Broker connection attempts, by outcome (connected | failed)",
    ["outcome"],
    registry=REGISTRY,
)
MQTT_PUBLISHED = Counter(
    "wfm_ingest_mqtt_published_total",
    "Downstream publishes, by outcome (acked | unavailable)",
    ["outcome"],
    registry=REGISTRY,
)

# --- presence sweep ---------------------------------------------------------------------------

PRESENCE_EXPIRED = Counter(
    "wfm_ingest_presence_expired_total",
    "Clients moved from online to dropped by the reachable TTL sweep",
    registry=REGISTRY,
)


def render() -> tuple[bytes, str]:
    return _generate(REGISTRY), CONTENT_TYPE_LATEST

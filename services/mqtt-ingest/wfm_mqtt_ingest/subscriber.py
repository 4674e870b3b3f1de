"""Upstream messages in: decode and check each one, drop what breaks the contract, batch the rest.

Runs inside the MQTT link's socket callback, so it is synchronous, quick and never raises. The
checks of `wfm_core.protocol.decode_message` (topic shape, size limit per kind, UTF-8 JSON
envelope, type/config_id/node_id equal to the topic's, payload schema) decide; a refused message
is counted under its reason code (`wfm_ingest_dropped_total{reason}`) and changes nothing.
Whether the node may talk at all (exists, dynamic, enabled, bound, right config) needs the
database: the batched writer checks that.
"""

from __future__ import annotations

import logging
import time

from wfm_core.db.types import utc_now
from wfm_core.endpoints.signals import Signal
from wfm_core.protocol import UPSTREAM_KINDS, ProtocolError, decode_message, parse_topic
from wfm_mqtt_ingest import metrics
from wfm_mqtt_ingest.writer import BatchWriter

log = logging.getLogger("wfm.ingest.subscriber")

DROP_LOG_INTERVAL_SECONDS = 10.0
REASON_NOT_UPSTREAM = "not_upstream"
REASON_INTERNAL = "internal_error"


class Subscriber:
    """The MQTT message handler: `handle(topic, payload)`."""

    def __init__(self, writer: BatchWriter) -> None:
        self._writer = writer
        self._received = {kind: metrics.RECEIVED.labels(kind) for kind in UPSTREAM_KINDS}
        self._received_invalid = metrics.RECEIVED.labels("invalid")
        self._drop_log_at = 0.0
        self._drops_since_log = 0
        self.received = 0
        self.dropped = 0

    def handle(self, topic: str, payload: bytes) -> None:
        self.received += 1
        try:
            parsed, envelope = decode_message(topic, payload)
        except ProtocolError as exc:
            self._count_received(topic)
            self._drop(exc.reason_code, topic, exc.message)
            return
        except Exception:  # a bug in validation must cost one message, not the process
            log.exception("message validation failed unexpectedly", extra={"topic": topic[:200]})
            self._count_received(topic)
            self._drop(REASON_INTERNAL, topic, "validation error")
            return
        counter = self._received.get(parsed.kind)
        if counter is None:
            self._received_invalid.inc()
            self._drop(REASON_NOT_UPSTREAM, topic, "not an upstream message kind")
            return
        counter.inc()
        self._writer.submit(Signal.from_envelope(envelope, received_at=utc_now()))

    def _count_received(self, topic: str) -> None:
        parsed = parse_topic(topic)
        counter = self._received.get(parsed.kind) if parsed is not None else None
        (counter or self._received_invalid).inc()

    def _drop(self, reason: str, topic: str, message: str) -> None:
        self.dropped += 1
        metrics.DROPPED.labels(reason).inc()
        # One log line per interval at most: a flood of bad messages must not flood the logs.
        self._drops_since_log += 1
        now = time.monotonic()
        if now - self._drop_log_at >= DROP_LOG_INTERVAL_SECONDS:
            log.warning(
                "dropped invalid mqtt message",
                extra={
                    "reason": reason,
                    "topic": topic[:200],
                    "detail": message,
                    "dropped_since_last_log": self._drops_since_log,
                },
            )
            self._drop_log_at = now
            self._drops_since_log = 0

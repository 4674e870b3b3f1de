"""ProtocolError: why an MQTT message was refused, as a small fixed set of reason codes."""

from __future__ import annotations

# A closed set of reason codes, so ingest can use them as metric labels (bounded cardinality).
REASON_INVALID_TOPIC = "invalid_topic"
REASON_UNKNOWN_KIND = "unknown_kind"
REASON_OVERSIZED = "oversized"
REASON_NOT_UTF8 = "not_utf8"
REASON_NOT_JSON = "not_json"
REASON_NOT_OBJECT = "not_object"
REASON_MISSING_FIELD = "missing_field"
REASON_INVALID_FIELD = "invalid_field"
REASON_INVALID_REQUEST_ID = "invalid_request_id"
REASON_INVALID_SENT_AT = "invalid_sent_at"
REASON_TOPIC_MISMATCH = "topic_mismatch"
REASON_SHA256_MISMATCH = "sha256_mismatch"

REASON_CODES: frozenset[str] = frozenset(
    {
        REASON_INVALID_TOPIC,
        REASON_UNKNOWN_KIND,
        REASON_OVERSIZED,
        REASON_NOT_UTF8,
        REASON_NOT_JSON,
        REASON_NOT_OBJECT,
        REASON_MISSING_FIELD,
        REASON_INVALID_FIELD,
        REASON_INVALID_REQUEST_ID,
        REASON_INVALID_SENT_AT,
        REASON_TOPIC_MISMATCH,
        REASON_SHA256_MISMATCH,
    }
)


class ProtocolError(ValueError):
    """A message, topic or payload that breaks the MQTT contract (reference.md §6)."""

    def __init__(self, reason_code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{reason_code}: {message}")
        self.reason_code = reason_code
        self.message = message
        self.field = field

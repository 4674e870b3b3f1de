"""Stream names shared by the outbox relay, the API (SSE) and mqtt-ingest."""

EVENTS_STREAM = "wfm:events"
COMMANDS_STREAM = "wfm:commands"

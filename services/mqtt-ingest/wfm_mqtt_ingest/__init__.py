"""WFM MQTT ingest: upstream node messages to state, downstream command dispatch."""

__version__ = "0.1.0"

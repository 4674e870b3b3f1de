"""WFM management API (FastAPI): /api/v1, client bind and SSE."""

__version__ = "0.1.0"

"""Prometheus metrics of the MCP service: HTTP requests, tool calls, resource reads, auth."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as _generate

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "wfm_http_requests_total",
    "HTTP requests handled, by method, route and status code",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "wfm_http_request_duration_seconds",
    "HTTP request latency by method and route",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
CALLS = Counter(
    "wfm_mcp_calls_total",
    "MCP tool calls and resource reads, by kind, target and audit result",
    ["kind", "target", "result"],
    registry=REGISTRY,
)
CALL_LATENCY = Histogram(
    "wfm_mcp_call_duration_seconds",
    "Latency of MCP tool calls and resource reads (consent wait included)",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 300.0),
    registry=REGISTRY,
)
AUTH_FAILURES = Counter(
    "wfm_mcp_auth_failures_total",
    "MCP requests refused with 401 (token missing, unknown, revoked or expired)",
    registry=REGISTRY,
)
TOKEN_LOOKUPS = Counter(
    "wfm_mcp_token_lookups_total",
    "MCP token checks, by source (cache or database)",
    ["source"],
    registry=REGISTRY,
)


def observe(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


def observe_call(kind: str, target: str, result: str, seconds: float) -> None:
    CALLS.labels(kind, target, result).inc()
    CALL_LATENCY.labels(kind).observe(seconds)


def render() -> tuple[bytes, str]:
    return _generate(REGISTRY), CONTENT_TYPE_LATEST

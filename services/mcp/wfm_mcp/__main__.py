"""`python -m wfm_mcp`: serve MCP (Streamable HTTP) at /mcp, plus /healthz and /metrics.

Uses the `WFM_*` settings (database, Redis, secret key, public origin) like the API.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys

import uvicorn

from wfm_core.logs import configure_logging
from wfm_mcp.app import create_app
from wfm_mcp.auth import DEFAULT_CACHE_SECONDS

DEFAULT_PORT = 8001


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wfm-mcp", description="Serve WG Free Mesh to AI clients over MCP at /mcp."
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"bind port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--stateless",
        action="store_true",
        help="no MCP sessions: any replica answers any request, but clients on protocol "
        "2025-11-25 or older cannot confirm writes (newer clients can)",
    )
    parser.add_argument(
        "--token-cache-seconds",
        type=float,
        default=DEFAULT_CACHE_SECONDS,
        help="how long a token check is reused; a revoked token stops working within this "
        f"time (default {DEFAULT_CACHE_SECONDS:g}, 0 = check every request)",
    )
    parser.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1",
        help="proxies whose X-Forwarded-* headers are trusted (the gateway's address)",
    )
    parser.add_argument("--log-level", default="info", help="log level (default info)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging("wfm-mcp", level=args.log_level.upper())
    if logging.getLogger().level > logging.DEBUG:
        # The SDK narrates every session at INFO; its warnings and errors still come through.
        logging.getLogger("mcp").setLevel(logging.WARNING)
    factory = functools.partial(
        create_app, stateless=args.stateless, token_cache_seconds=args.token_cache_seconds
    )
    try:
        uvicorn.run(
            factory,
            factory=True,
            host=args.host,
            port=args.port,
            proxy_headers=True,
            forwarded_allow_ips=args.forwarded_allow_ips,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=10,
        )
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m wfm_api`: serve the API with uvicorn (several workers share nothing in process)."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from wfm_core.logs import configure_logging
from wfm_core.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="wfm-api", description="Run the WFM management API.")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=settings.app_port, help="bind port")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1",
        help="proxies whose X-Forwarded-For is trusted (the gateway's address)",
    )
    parser.add_argument("--log-level", default="info", help="log level (default info)")
    args = parser.parse_args(argv)
    configure_logging("wfm-api", level=args.log_level.upper())
    try:
        uvicorn.run(
            "wfm_api.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
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

"""`python -m wfm_mqtt_ingest`: run one mqtt-ingest replica (any number may run side by side).

Connects to the database, Redis and the broker of the `WFM_*` settings, and serves `/healthz`
and `/metrics` on `--metrics-host`/`--metrics-port` (default 127.0.0.1:`WFM_INGEST_PORT`, 8003).
SIGTERM or Ctrl-C: stop taking messages, write what was received, exit.
"""

from __future__ import annotations

import argparse
import sys

import uvicorn

from wfm_core.logs import configure_logging
from wfm_core.settings import get_settings
from wfm_mqtt_ingest.app import create_app, default_instance_id


def _parser(default_port: int) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wfm-mqtt-ingest",
        description="Turn node MQTT messages (heartbeats, events, ACKs) into runtime state, "
        "deliver commands to nodes, and run the control channel timers.",
    )
    parser.add_argument(
        "--metrics-host",
        "--host",
        dest="host",
        default="127.0.0.1",
        help="bind address of /healthz and /metrics (default 127.0.0.1)",
    )
    parser.add_argument(
        "--metrics-port",
        "--port",
        dest="port",
        type=int,
        default=default_port,
        help=f"port of /healthz and /metrics (default WFM_INGEST_PORT, now {default_port})",
    )
    parser.add_argument(
        "--instance-id",
        default=None,
        help="replica id, unique per running process; the MQTT client id is "
        "wfm-ingest-<instance id> (default <hostname>-<pid>)",
    )
    parser.add_argument(
        "--no-shared-subscription",
        dest="shared",
        action="store_false",
        help="subscribe without $share/<group>/ (only for a broker without shared "
        "subscriptions, with exactly one replica)",
    )
    parser.add_argument("--log-level", default="info", help="log level (default info)")
    return parser


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    args = _parser(settings.ingest_port).parse_args(argv)
    configure_logging("wfm-mqtt-ingest", level=args.log_level.upper())
    app = create_app(
        settings,
        instance_id=args.instance_id or default_instance_id(),
        shared_subscriptions=args.shared,
    )
    try:
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m wfm_emqx_sync`: run the broker sync service, or one reconcile for operators.

python -m wfm_emqx_sync [run] [--host 127.0.0.1] [--port 8002]
python -m wfm_emqx_sync reconcile --once [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import uvicorn

from wfm_core.crypto import configure_secret_box
from wfm_core.db.engine import engine_from_settings, session_factory
from wfm_core.logs import configure_logging
from wfm_core.settings import get_settings
from wfm_emqx_sync.port import BrokerUnavailable
from wfm_emqx_sync.reconciler import Reconciler
from wfm_emqx_sync.service import build_admin


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wfm-emqx-sync",
        description="Keep the MQTT broker's node accounts and ACLs in line with the database "
        "(EMQX v5 or Mosquitto dynamic security), and serve the EMQX authz callback.",
    )
    parser.add_argument("--log-level", default="info", help="log level (default info)")
    commands = parser.add_subparsers(dest="command", metavar="{run,reconcile}")
    run = commands.add_parser("run", help="run the service (the default)")
    run.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    run.add_argument("--port", type=int, default=8002, help="bind port (default 8002)")
    reconcile = commands.add_parser("reconcile", help="reconcile the broker once and exit")
    reconcile.add_argument(
        "--once", action="store_true", required=True, help="one full reconcile, then exit"
    )
    reconcile.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


async def _reconcile_once(as_json: bool) -> int:
    settings = get_settings()
    configure_secret_box(settings.secret_key)
    engine = engine_from_settings(settings)
    admin = build_admin(settings)
    reconciler = Reconciler(admin=admin, sessions=session_factory(engine), settings=settings)
    try:
        await admin.connect()
        counters = await reconciler.reconcile(force=True)
    except BrokerUnavailable as exc:
        result = {"ok": False, "error": str(exc)}
        code = 2
    else:
        failed = counters.node_users_failed + counters.node_users_delete_failed
        failed += counters.server_users_failed
        result = {"ok": failed == 0, "broker": admin.kind, **counters.model_dump()}
        code = 0 if failed == 0 else 1
    finally:
        await admin.close()
        await engine.dispose()
    if as_json:
        sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    else:
        for key, value in result.items():
            sys.stdout.write(f"{key}: {value}\n")
    return code


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging("wfm-emqx-sync", level=args.log_level.upper())
    if args.command == "reconcile":
        return asyncio.run(_reconcile_once(args.json))
    host = getattr(args, "host", "127.0.0.1")
    port = getattr(args, "port", 8002)
    try:
        uvicorn.run(
            "wfm_emqx_sync.service:create_app",
            factory=True,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=5,
        )
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())

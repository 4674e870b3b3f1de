"""`python -m wfm_core.db`: apply or inspect schema migrations of WFM_DATABASE."""

from __future__ import annotations

import argparse
import asyncio
import sys

from sqlalchemy import text

from wfm_core.db import migrate
from wfm_core.db.engine import engine_from_settings, wait_for_database
from wfm_core.errors import WfmError
from wfm_core.settings import get_settings


async def _upgrade(revision: str) -> str:
    settings = get_settings()
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = engine_from_settings(settings)
    try:
        await wait_for_database(engine, within_seconds=settings.database_connect_timeout_seconds)
        await migrate.upgrade(engine, revision)
        async with engine.connect() as conn:
            current = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        return str(current)
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wfm_core.db", description="WFM database migrations (uses WFM_DATABASE)."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("upgrade", help="migrate to a revision (default: head)")
    up.add_argument("revision", nargs="?", default="head")
    args = parser.parse_args(argv)
    try:
        current = asyncio.run(_upgrade(args.revision))
    except WfmError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return 2
    sys.stdout.write(f"database at revision {current}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

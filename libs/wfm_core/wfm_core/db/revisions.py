"""Config revisions: one counter per config, bumped inside every transaction that changes it.

Any ORM flush that inserts, updates or deletes a `Config` or a row carrying a `config_id`
(nodes, links, states, runtime, client state, rules, …) bumps that config's `revision` in the
same transaction, so a reader that sees revision N sees exactly the data revision N describes.
Writes that bypass the ORM (COPY, bulk `INSERT … ON CONFLICT`, Core updates) must call
`bump_revisions` themselves; `sync.service.refresh_config_state` does for every mesh write.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

_BUMPED = "wfm_bumped_config_ids"


class WfmSession(Session):
    """The sync session behind every AsyncSession we create (see db.engine.session_factory)."""


def _config_ids(session: Session) -> set[str]:
    from wfm_core.configs.models import Config

    ids: set[str] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Config):
            if obj not in session.new and session.is_modified(obj):
                ids.add(obj.id)
            continue
        config_id = getattr(obj, "config_id", None)
        if isinstance(config_id, str) and (obj not in session.dirty or session.is_modified(obj)):
            ids.add(config_id)
    return ids


def _bump(session: Session, config_ids: Iterable[str]) -> None:
    from wfm_core.configs.models import Config

    done: set[str] = session.info.setdefault(_BUMPED, set())
    todo = sorted(set(config_ids) - done)  # sorted: rows locked in one order, no deadlocks
    if not todo:
        return
    session.execute(
        update(Config)
        .where(Config.id.in_(todo))
        .values(revision=Config.revision + 1)
        .execution_options(synchronize_session=False)
    )
    done.update(todo)


@event.listens_for(WfmSession, "before_flush")
def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    _bump(session, _config_ids(session))


@event.listens_for(WfmSession, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_BUMPED, None)


async def bump_revisions(session: AsyncSession, *, config_ids: Iterable[str]) -> None:
    """For writes the ORM does not see (bulk statements): bump once per transaction."""
    ids = list(config_ids)
    if ids:
        await session.run_sync(_bump, ids)

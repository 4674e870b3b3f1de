"""Config revisions and the change feed: what every transaction that changes a config does.

Any ORM flush that inserts, updates or deletes a `Config` or a row carrying a `config_id`
(nodes, links, states, runtime, client state, rules, …) bumps that config's `revision` in the
same transaction, so a reader that sees revision N sees exactly the data revision N describes.
Writes that bypass the ORM (COPY, bulk `INSERT … ON CONFLICT`, Core updates) must call
`bump_revisions` themselves; `sync.service.refresh_config_state` does for every mesh write.
The same hook writes the §9 refresh hints to the outbox (wfm_core.outbox.changes) and, after
commit, wakes this process's relay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from wfm_core.outbox import changes

_BUMPED = "wfm_bumped_config_ids"


class WfmSession(Session):
    """The sync session behind every AsyncSession we create (see db.engine.session_factory)."""


def _changes(
    session: Session,
) -> tuple[set[str], dict[str, set[str]], dict[str, set[str]]]:
    """(configs whose revision moves, {config_id: touched node ids}, the same for endpoint
    runtime/client-state rows)."""
    from wfm_core.configs.models import Config

    bump: set[str] = set()
    scopes: dict[str, set[str]] = {}
    endpoint_scopes: dict[str, set[str]] = {}
    for obj in (*session.new, *session.dirty, *session.deleted):
        if obj in session.dirty and not session.is_modified(obj):
            continue
        if isinstance(obj, Config):
            scopes.setdefault(obj.id, set())
            if obj not in session.new:
                bump.add(obj.id)
            continue
        config_id = getattr(obj, "config_id", None)
        if isinstance(config_id, str):
            bump.add(config_id)
            node_ids = changes.node_ids_of(obj)
            scopes.setdefault(config_id, set()).update(node_ids)
            if getattr(obj, "__tablename__", "") in changes.ENDPOINT_TABLES:
                endpoint_scopes.setdefault(config_id, set()).update(node_ids)
    return bump, scopes, endpoint_scopes


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
    bump, scopes, endpoint_scopes = _changes(session)
    _bump(session, bump)
    changes.record_changes(session, scopes=scopes, endpoint_scopes=endpoint_scopes)


@event.listens_for(WfmSession, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(changes.OUTBOX_WRITTEN, False):
        for wake in list(_commit_listeners):
            wake()


@event.listens_for(WfmSession, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_BUMPED, None)
        changes.forget(session)


# Called after a commit that wrote outbox rows (the relay of this process wakes up at once).
_commit_listeners: list[Callable[[], None]] = []


def on_outbox_commit(listener: Callable[[], None]) -> Callable[[], None]:
    """Register `listener`; returns a function that unregisters it."""
    _commit_listeners.append(listener)
    return lambda: _commit_listeners.remove(listener)


async def bump_revisions(session: AsyncSession, *, config_ids: Iterable[str]) -> None:
    """For writes the ORM does not see (bulk statements): bump once per transaction."""
    ids = list(config_ids)
    if ids:
        await session.run_sync(_bump, ids)


def _record_endpoint_changes(session: Session, endpoint_scopes: dict[str, set[str]]) -> None:
    _bump(session, endpoint_scopes)
    changes.record_changes(session, scopes=endpoint_scopes, endpoint_scopes=endpoint_scopes)


async def record_endpoint_changes(
    session: AsyncSession, *, endpoint_scopes: dict[str, set[str]]
) -> None:
    """For bulk writes to runtime / client-state rows ({config_id: node ids}): what the flush
    hook does for ORM writes — bump the configs' revisions and emit the §9 refresh hints
    (`endpoint.status.updated` and the node/config hints) once per transaction."""
    if endpoint_scopes:
        await session.run_sync(_record_endpoint_changes, endpoint_scopes)

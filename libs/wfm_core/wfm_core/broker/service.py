"""Broker use cases: the desired broker accounts and the authz subject of one account."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.broker import repository as broker_repo
from wfm_core.broker.authz import subject_for
from wfm_core.broker.schemas import AuthzSubject, NodeCredential
from wfm_core.crypto import SecretDecryptError, secret_box
from wfm_core.protocol.topics import is_valid_id
from wfm_core.settings import Settings

log = logging.getLogger("wfm.broker")


async def desired_credentials(
    session: AsyncSession,
    *,
    settings: Settings,
    config_ids: Sequence[str] | None = None,
    node_ids: Sequence[str] | None = None,
) -> list[NodeCredential]:
    """The node accounts the broker must hold (all, or only those in the given scope).

    MQTT services off: none, so the broker holds no node account (§6.9). Skipped (and logged):
    a row whose ids cannot be topic segments (no ACL could express it; ids are generated, so
    never in practice) and a password sealed with another secret key."""
    if not settings.enable_mqtt_services:
        return []
    rows = await broker_repo.node_credentials(session, config_ids=config_ids, node_ids=node_ids)
    box = secret_box()
    credentials: list[NodeCredential] = []
    for row in rows:
        if not (is_valid_id(row.config_id) and is_valid_id(row.node_id)):
            log.warning("node id unusable as an MQTT topic segment", extra={"node": row.node_id})
            continue
        try:
            password = box.decrypt(row.sealed_password)
        except SecretDecryptError:
            # Another WFM_SECRET_KEY wrote it: that node cannot be provisioned (rebind fixes
            # it); every other node still can.
            log.error("node MQTT password cannot be decrypted", extra={"node": row.node_id})
            continue
        credentials.append(
            NodeCredential(
                config_id=row.config_id,
                node_id=row.node_id,
                username=row.mqtt_username,
                client_id=row.mqtt_client_id,
                password=password,
            )
        )
    return credentials


async def authz_subject(session: AsyncSession, *, username: str) -> AuthzSubject | None:
    """The §6.8 subject for a broker username (= node id), or None when no such node account."""
    if not is_valid_id(username):
        return None
    row = await broker_repo.account_flags(session, node_id=username)
    if row is None or row.mqtt_username != username:
        return None
    active = bool(
        row.client_initialized
        and row.node_enabled
        and row.node_type == broker_repo.DYNAMIC
        and row.config_enabled
    )
    return subject_for(
        node_id=row.node_id, config_id=row.config_id, client_id=row.mqtt_client_id, active=active
    )

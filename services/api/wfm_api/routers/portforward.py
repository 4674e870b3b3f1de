"""Port-forward tool routes (reference.md §2.3 "Tools — port forwarding", §5)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from wfm_api.deps import SessionDep
from wfm_api.envelope import Envelope, ok
from wfm_core.auth.schemas import MessageRead
from wfm_core.portforward import service
from wfm_core.portforward.schemas import (
    PortForwardEnabledRequest,
    PortForwardRead,
    PortForwardRequest,
)

public = APIRouter(prefix="/tools/port-forwards", tags=["portforward"])
router = APIRouter(prefix="/tools/port-forwards", tags=["portforward"])


@router.get("/configs/{config_id}", response_model=Envelope[list[PortForwardRead]])
async def list_port_forwards(config_id: str, session: SessionDep) -> Response:
    return ok(await service.list_rules(session, config_id=config_id))


@router.post("/configs/{config_id}", response_model=Envelope[PortForwardRead])
async def create_port_forward(
    config_id: str, body: PortForwardRequest, session: SessionDep
) -> Response:
    return ok(await service.create_rule(session, config_id=config_id, data=body))


@router.delete("/{rule_id}", response_model=Envelope[MessageRead])
async def delete_port_forward(rule_id: str, session: SessionDep) -> Response:
    await service.delete_rule(session, rule_id=rule_id)
    return ok(MessageRead(message="Port forward rule deleted"))


@router.put("/{rule_id}/enabled", response_model=Envelope[PortForwardRead])
async def set_port_forward_enabled(
    rule_id: str, body: PortForwardEnabledRequest, session: SessionDep
) -> Response:
    return ok(await service.set_enabled(session, rule_id=rule_id, enabled=body.enabled))

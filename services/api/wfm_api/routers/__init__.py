"""Route groups. Public routers are listed by name; every other router is mounted behind the
admin session guard here, in one place, so a new route cannot forget authentication."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

from wfm_api.deps import require_admin
from wfm_api.routers import (
    auth,
    backups,
    configs,
    downloads,
    endpoints,
    events,
    mcp_access,
    mesh,
    nodes,
    portforward,
    settings,
    sync,
    system,
)

# Reference.md §2.1: auth state/setup/login, system health/timezone, the token-checked
# download routes and the event stream (Bearer header or one-time ticket). Each of these
# checks its own credentials where it needs any.
PUBLIC: list[APIRouter] = [
    auth.public,
    system.public,
    sync.public,
    downloads.public,
    events.public,
    backups.public,
]
PROTECTED: list[APIRouter] = [
    auth.router,
    system.router,
    settings.router,
    configs.router,
    nodes.router,
    mesh.router,
    sync.router,
    portforward.router,
    downloads.router,
    events.router,
    endpoints.router,
    backups.router,
    mcp_access.router,
]
# Outside /api/v1: the client bind API (reference.md §2.3) answers at /api/client/….
CLIENT: list[APIRouter] = [endpoints.client]


def include_routers(app: FastAPI, *, prefix: str) -> None:
    """Mount every group directly on the app (one include level keeps routing cheap).

    Guarded groups first: their static paths (`config-bulk/options`) must win over the public
    parameterised ones (`config-bulk/{package_id}`); no public path is shadowed by a guarded one
    (the route-auth test calls every public route without a token).
    """
    for router in PROTECTED:
        app.include_router(router, prefix=prefix, dependencies=[Depends(require_admin)])
    for router in PUBLIC:
        app.include_router(router, prefix=prefix)
    for router in CLIENT:
        app.include_router(router, prefix="/api")

"""Download tool routes (reference.md §2.3 "Tools — downloads"): bulk config packages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from wfm_api.deps import SessionDep, StateDep, bearer_token
from wfm_api.envelope import Envelope, ok
from wfm_core.auth import service as auth_service
from wfm_core.downloads import service
from wfm_core.downloads.schemas import BulkOptions, BulkPackageRead, BulkPackageRequest
from wfm_core.downloads.store import PackageStore

public = APIRouter(prefix="/tools/download", tags=["downloads"])
router = APIRouter(prefix="/tools/download", tags=["downloads"])

BULK_FILE_KIND = "config_bulk_package"


async def _package_store(state: StateDep) -> PackageStore:
    return PackageStore(state.redis)


PackageStoreDep = Annotated[PackageStore, Depends(_package_store)]


@router.get("/config-bulk/options", response_model=Envelope[BulkOptions])
async def get_config_bulk_options(session: SessionDep, config_id: str | None = None) -> Response:
    return ok(await service.bulk_options(session, config_id=config_id))


@router.post("/config-bulk/package", response_model=Envelope[BulkPackageRead])
async def build_config_bulk_package(
    body: BulkPackageRequest, session: SessionDep, store: PackageStoreDep
) -> Response:
    return ok(
        await service.build_bulk_package(
            session, store=store, config_id=body.config_id, node_ids=body.node_ids
        )
    )


async def require_bulk_package_access(
    package_id: str,
    request: Request,
    session: SessionDep,
    state: StateDep,
    download_token: str | None = None,
) -> None:
    """A session Bearer, or a file token of kind `config_bulk_package` for this package."""
    await auth_service.verify_file_access(
        session,
        bearer=bearer_token(request),
        file_token=download_token,
        file_kind=BULK_FILE_KIND,
        resource_id=package_id,
        redis=state.redis,
    )


@public.get(
    "/config-bulk/{package_id}",
    response_class=Response,
    dependencies=[Depends(require_bulk_package_access)],
    responses={
        200: {
            "description": "The bulk zip: one `<stem>.conf` per node plus manifest.json",
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def download_config_bulk_package(package_id: str, store: PackageStoreDep) -> Response:
    package = await service.fetch_bulk_package(store=store, package_id=package_id)
    return Response(
        package.data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{package.filename}"',
            "Cache-Control": "no-store",
        },
    )

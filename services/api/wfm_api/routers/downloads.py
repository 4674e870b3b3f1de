"""Download tool routes (reference.md §2.3 "Tools — downloads"): bulk config packages and the
node agent (one zipapp for every system, design.md §4)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse

from wfm_api.deps import SessionDep, SettingsDep, StateDep, bearer_token
from wfm_api.envelope import Envelope, ok
from wfm_core import __version__
from wfm_core.auth import service as auth_service
from wfm_core.downloads import artifacts, service
from wfm_core.downloads.schemas import (
    BulkOptions,
    BulkPackageRead,
    BulkPackageRequest,
    ClientArtifactGrant,
    ClientArtifactRead,
    ClientArtifactRequest,
    ClientOptions,
)
from wfm_core.downloads.store import PackageStore

public = APIRouter(prefix="/tools/download", tags=["downloads"])
router = APIRouter(prefix="/tools/download", tags=["downloads"])

BULK_FILE_KIND = "config_bulk_package"
ARTIFACT_FILE_KIND = "client_artifact"


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


def file_access(file_kind: str, param: str) -> Callable[..., Awaitable[None]]:
    """A dependency for a token-checked file route: a session Bearer, or a file token of
    `file_kind` issued for the resource named by the path parameter `param`."""

    async def check(
        request: Request, session: SessionDep, state: StateDep, download_token: str | None = None
    ) -> None:
        await auth_service.verify_file_access(
            session,
            bearer=bearer_token(request),
            file_token=download_token,
            file_kind=file_kind,
            resource_id=str(request.path_params[param]),
            redis=state.redis,
        )

    return check


@public.get(
    "/config-bulk/{package_id}",
    response_class=Response,
    dependencies=[Depends(file_access(BULK_FILE_KIND, "package_id"))],
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


# --- the node agent (design.md §4: one zipapp for every system) --------------------------------


@router.get("/client-options", response_model=Envelope[ClientOptions])
async def get_client_options(settings: SettingsDep) -> Response:
    return ok(artifacts.client_options(settings, version=__version__))


@router.post("/client-artifacts/build", response_model=Envelope[ClientArtifactRead])
async def build_client_artifact(body: ClientArtifactRequest, settings: SettingsDep) -> Response:
    read, _ = artifacts.artifact_for(body, settings, version=__version__)
    return ok(read)


@router.post("/client-artifacts/download-grant", response_model=Envelope[ClientArtifactGrant])
async def grant_client_artifact(
    body: ClientArtifactRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    read, artifact = artifacts.artifact_for(body, settings, version=__version__)
    token, claims = await auth_service.issue_file_token(
        session, settings=settings, file_kind=ARTIFACT_FILE_KIND, resource_id=artifact.artifact_id
    )
    path = f"{read.download_path}?download_token={token}"
    base = (settings.public_origin or str(request.base_url)).rstrip("/")
    return ok(
        ClientArtifactGrant(
            **read.model_dump(exclude={"download_path"}),
            download_path=path,
            download_token=token,
            download_token_expires_at=claims.expires_at,
            install_command=artifacts.install_command(f"{base}{path}"),
        )
    )


@public.get(
    "/client-artifacts/{artifact_id}",
    response_class=FileResponse,
    dependencies=[Depends(file_access(ARTIFACT_FILE_KIND, "artifact_id"))],
    responses={
        200: {
            "description": "The agent zipapp: `python3 wfm.pyz --help`",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def download_client_artifact(artifact_id: str, settings: SettingsDep) -> FileResponse:
    artifact = artifacts.require_artifact(artifact_id, settings, version=__version__)
    return FileResponse(
        artifact.path,
        media_type="application/octet-stream",
        filename=artifact.filename,
        headers={"Cache-Control": "no-store", "X-Content-SHA256": artifact.sha256},
    )

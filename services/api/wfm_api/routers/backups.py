"""Backups / snapshots routes (reference.md §2.3, §11): create, list, import, restore, delete, note
edit, and the archive download (a session Bearer or a `snapshot_export` file token)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.responses import FileResponse
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from wfm_api.deps import SessionDep, SettingsDep, StateDep, bearer_token
from wfm_api.envelope import Envelope, ok
from wfm_core.errors import WfmError
from wfm_core.snapshots import service
from wfm_core.snapshots.archive import MAX_NOTE_LENGTH
from wfm_core.snapshots.schemas import (
    SnapshotCreateRequest,
    SnapshotDeleteResult,
    SnapshotDownloadGrant,
    SnapshotRead,
    SnapshotRestoreRequest,
    SnapshotRestoreResult,
)

router = APIRouter(prefix="/backups", tags=["backups"])
public = APIRouter(prefix="/backups", tags=["backups"])

UPLOAD_FIELD = "file"
# Other form fields are tolerated (browsers add some) but not stored.
MAX_OTHER_FIELD_BYTES = 64 * 1024


class MultipartUpload:
    """The `file` part of a multipart/form-data body, parsed as it arrives.

    FastAPI's UploadFile would read (and spool) the whole body before the session guard runs;
    this reads nothing until the handler asks, so an anonymous upload costs nothing, and the
    service stops reading at its size limit."""

    def __init__(self, request: Request) -> None:
        self._request = request
        self.filename: str | None = None
        self._seen = False
        self._in_file = False
        self._pending: list[bytes] = []
        self._other_bytes = 0
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""

    def _on_part_begin(self) -> None:
        self._headers = {}
        self._in_file = False

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[self._field.strip().lower()] = self._value.strip()
        self._field = self._value = b""

    def _on_headers_finished(self) -> None:
        disposition, params = parse_options_header(self._headers.get(b"content-disposition"))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        if disposition == b"form-data" and name == UPLOAD_FIELD and not self._seen:
            self._seen = self._in_file = True
            filename = params.get(b"filename")
            self.filename = filename.decode("utf-8", "replace") if filename else None

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._pending.append(bytes(data[start:end]))
            return
        self._other_bytes += end - start
        if self._other_bytes > MAX_OTHER_FIELD_BYTES:
            raise WfmError("VALIDATION_ERROR", "Form fields other than the file are too large")

    def _on_part_end(self) -> None:
        self._in_file = False

    def _parser(self) -> MultipartParser:
        content_type, params = parse_options_header(self._request.headers.get("content-type"))
        boundary = params.get(b"boundary")
        if content_type != b"multipart/form-data" or not boundary:
            raise WfmError(
                "VALIDATION_ERROR",
                "The body must be multipart/form-data with a `file` field",
                detail={"errors": [{"type": "missing", "loc": ["body", UPLOAD_FIELD]}]},
            )
        callbacks: Any = {
            "on_part_begin": self._on_part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
        }
        return MultipartParser(boundary, callbacks)

    async def chunks(self) -> AsyncIterator[bytes]:
        parser = self._parser()
        try:
            async for raw in self._request.stream():
                parser.write(raw)
                if self._pending:
                    chunk = b"".join(self._pending)
                    self._pending.clear()
                    yield chunk
            parser.finalize()
        except FormParserError as exc:
            raise WfmError("VALIDATION_ERROR", "The multipart body is malformed") from exc
        if self._pending:
            yield b"".join(self._pending)
            self._pending.clear()
        if not self._seen:
            raise WfmError(
                "VALIDATION_ERROR",
                "File is required",
                detail={"errors": [{"type": "missing", "loc": ["body", UPLOAD_FIELD]}]},
            )


_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [UPLOAD_FIELD],
                    "properties": {UPLOAD_FIELD: {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


@router.post("/snapshot", response_model=Envelope[SnapshotRead])
async def create_snapshot(
    body: SnapshotCreateRequest, session: SessionDep, state: StateDep
) -> Response:
    return ok(
        await service.create_snapshot(
            session, session_factory=state.sessions, settings=state.settings, data=body
        )
    )


@router.get("/list", response_model=Envelope[list[SnapshotRead]])
async def list_snapshots(session: SessionDep, settings: SettingsDep) -> Response:
    return ok(await service.list_snapshots(session, settings=settings))


@router.post("/import", response_model=Envelope[SnapshotRead], openapi_extra=_UPLOAD_BODY)
async def import_snapshot(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Multipart field `file`; the outer structure is checked, nothing is restored."""
    upload = MultipartUpload(request)
    return ok(await service.import_snapshot(session, settings=settings, upload=upload))


@router.post("/upload", response_model=Envelope[SnapshotRead], openapi_extra=_UPLOAD_BODY)
async def upload_snapshot(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Legacy alias of POST /backups/import."""
    upload = MultipartUpload(request)
    return ok(await service.import_snapshot(session, settings=settings, upload=upload))


@router.post("/restore/{snapshot_id}", response_model=Envelope[SnapshotRestoreResult])
async def restore_snapshot(
    snapshot_id: str, body: SnapshotRestoreRequest, session: SessionDep, settings: SettingsDep
) -> Response:
    return ok(
        await service.restore_snapshot(
            session, settings=settings, snapshot_id=snapshot_id, data=body
        )
    )


@router.delete("/{snapshot_id}", response_model=Envelope[SnapshotDeleteResult])
async def delete_snapshot(snapshot_id: str, session: SessionDep, settings: SettingsDep) -> Response:
    return ok(await service.delete_snapshot(session, settings=settings, snapshot_id=snapshot_id))


@router.put("/{snapshot_id}/note", response_model=Envelope[SnapshotRead])
async def update_snapshot_note(
    snapshot_id: str,
    note: Annotated[str, Body(max_length=MAX_NOTE_LENGTH, description="The note (a JSON string)")],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    return ok(
        await service.update_note(session, settings=settings, snapshot_id=snapshot_id, note=note)
    )


@router.post("/download-grant/{snapshot_id}", response_model=Envelope[SnapshotDownloadGrant])
async def grant_snapshot_download(
    snapshot_id: str, session: SessionDep, settings: SettingsDep
) -> Response:
    return ok(await service.grant_download(session, settings=settings, snapshot_id=snapshot_id))


async def require_snapshot_access(
    snapshot_id: str,
    request: Request,
    session: SessionDep,
    state: StateDep,
    download_token: str | None = None,
) -> None:
    """A session Bearer, or a `snapshot_export` file token for this snapshot."""
    await service.verify_download(
        session,
        snapshot_id=snapshot_id,
        bearer=bearer_token(request),
        download_token=download_token,
        redis=state.redis,
    )


_ARCHIVE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The encrypted snapshot archive (zip)",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


async def _archive_response(
    snapshot_id: str, session: SessionDep, settings: SettingsDep
) -> FileResponse:
    found = await service.archive_file(session, settings=settings, snapshot_id=snapshot_id)
    return FileResponse(
        found.path,
        media_type="application/octet-stream",
        filename=found.filename,
        headers={"Cache-Control": "no-store"},
    )


@public.get(
    "/download/{snapshot_id}",
    response_class=FileResponse,
    dependencies=[Depends(require_snapshot_access)],
    responses=_ARCHIVE_RESPONSE,
)
async def download_snapshot(
    snapshot_id: str, session: SessionDep, settings: SettingsDep
) -> FileResponse:
    return await _archive_response(snapshot_id, session, settings)


@public.get(
    "/export/{snapshot_id}",
    response_class=FileResponse,
    dependencies=[Depends(require_snapshot_access)],
    responses=_ARCHIVE_RESPONSE,
)
async def export_snapshot(
    snapshot_id: str, session: SessionDep, settings: SettingsDep
) -> FileResponse:
    return await _archive_response(snapshot_id, session, settings)

"""Response models of the sync pipeline (reference.md §2.3 "Sync / apply / download")."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from wfm_core.schemas import RequestModel, ResponseModel


class SyncStatus(ResponseModel):
    node_id: str
    node_name: str
    node_type: str
    auto_sync: bool
    desired_version: int
    staged_version: int
    confirmed_version: int
    desired_sha256: str | None
    staged_sha256: str | None
    confirmed_sha256: str | None
    reported_local_sha256: str | None
    reported_local_version: int | None
    status: str
    runtime_status: str
    topology_valid: bool
    topology_messages: list[str] = Field(default_factory=list)


class AppliedConf(ResponseModel):
    exists: bool
    content: str
    node_name: str
    node_type: str
    source: str = "server_applied"
    desired_version: int
    staged_version: int


class SyncResult(ResponseModel):
    message: str
    staged_version: int
    staged_sha256: str | None
    sync_status: SyncStatus


class SyncAllResult(ResponseModel):
    message: str
    synced_count: int
    failed_count: int = 0
    synced: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)


class AppliedConfUpdate(RequestModel):
    """Body of PUT /configs/{cid}/nodes/{nid}/applied-conf: the text is taken byte for byte."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    content: str


class WgPreview(ResponseModel):
    """GET /configs/{cid}/nodes/{nid}/wg-preview: the node's desired rendering."""

    node_id: str
    node_name: str
    content: str
    sha256: str

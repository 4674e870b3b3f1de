"""Request and response models of node config downloads and bulk packages (reference.md §2.3)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from wfm_core.schemas import RequestModel, ResponseModel

MAX_BULK_NODES = 10_000


class NodeDownloadPackage(ResponseModel):
    """GET /configs/{cid}/nodes/{nid}/download-package: the node's staged text."""

    config_id: str
    node_id: str
    config_name: str
    node_name: str
    filename: str
    content: str
    download_path: str


class BulkConfigOption(ResponseModel):
    id: str
    name: str
    enabled: bool
    node_count: int
    dynamic_node_count: int
    disabled_node_count: int


class BulkNodeOption(ResponseModel):
    id: str
    name: str
    node_type: str
    virtual_ip: str | None
    auto_sync: bool
    can_download: bool
    staged_version: int
    staged_sha256: str | None
    sync_status: str  # SyncStatus.status: empty | in_sync | staged_outdated | pending


class BulkOptions(ResponseModel):
    """GET /tools/download/config-bulk/options; `nodes` only when a config_id is given."""

    configs: list[BulkConfigOption]
    nodes: list[BulkNodeOption] = Field(default_factory=list)


class BulkPackageRequest(RequestModel):
    """Body of POST /tools/download/config-bulk/package."""

    config_id: str
    node_ids: list[str] = Field(default_factory=list, max_length=MAX_BULK_NODES)


class BulkPackageRead(ResponseModel):
    package_id: str
    filename: str
    download_path: str
    config_id: str
    config_name: str
    node_count: int


class BulkManifestNode(ResponseModel):
    node_id: str
    node_name: str
    filename: str
    staged_version: int
    staged_sha256: str | None


class BulkManifest(ResponseModel):
    """`manifest.json` inside a bulk zip."""

    config_id: str
    config_name: str
    generated_at: datetime
    nodes: list[BulkManifestNode]


# --- client artifacts (reference.md §2.3 "Tools — downloads", design.md §4) ---------------------


class ClientOption(ResponseModel):
    value: str
    label: str
    available: bool = True
    description: str = ""


class ClientOptions(ResponseModel):
    sources: list[ClientOption]
    systems: list[ClientOption]
    architectures: dict[str, list[ClientOption]]
    defaults: dict[str, str]
    version: str


class ClientArtifactRequest(RequestModel):
    source: str = Field(default="bundled", max_length=32)
    goos: str = Field(default="linux", max_length=32)
    goarch: str = Field(default="amd64", max_length=32)


class ClientArtifactRead(ResponseModel):
    artifact_id: str
    filename: str
    download_path: str
    source: str
    goos: str
    goarch: str
    version: str
    cached: bool
    source_hash: str | None = None
    download_url: str | None = None
    size: int | None = None


class ClientArtifactGrant(ClientArtifactRead):
    download_token: str
    download_token_expires_at: datetime
    # The one-line install for Linux/macOS (design.md §4), with the grant URL filled in.
    install_command: str

"""The WfmError family: every domain failure carries a reference error code (reference.md §12)."""

from __future__ import annotations

from typing import Any

# HTTP status per error code, reference.md §12. One table, so a code always maps to one status.
ERROR_STATUS: dict[str, int] = {
    "VALIDATION_ERROR": 422,
    # auth
    "AUTH_SETUP_REQUIRED": 428,
    "AUTH_REQUIRED": 401,
    "INVALID_TOKEN": 401,
    "TOKEN_EXPIRED": 401,
    "AUTH_FAILED": 401,
    "PASSWORD_UNCHANGED": 400,
    "AUTH_ALREADY_INITIALIZED": 409,
    "ADMIN_PASSWORD_INVALID": 400,
    "AUTH_RATE_LIMITED": 429,
    # source guard
    "PUBLIC_HOST_REJECTED": 403,
    "PUBLIC_ORIGIN_REJECTED": 403,
    # downloads
    "DOWNLOAD_TOKEN_REQUIRED": 401,
    "INVALID_DOWNLOAD_TOKEN": 401,
    "DOWNLOAD_TOKEN_SCOPE_MISMATCH": 403,
    "INVALID_DOWNLOAD_SOURCE": 400,
    "INVALID_CLIENT_SYSTEM": 400,
    "INVALID_CLIENT_ARCH": 400,
    "CLIENT_ARTIFACT_NOT_FOUND": 404,
    "CLIENT_SOURCE_NOT_FOUND": 500,
    "CLIENT_BUILD_TIMEOUT": 500,
    "CLIENT_BUILD_FAILED": 500,
    "GITHUB_RELEASE_ASSET_NOT_FOUND": 404,
    "GITHUB_RELEASE_DOWNLOAD_FAILED": 502,
    "CONFIG_BULK_EMPTY_SELECTION": 400,
    "CONFIG_BULK_NODE_NOT_READY": 409,
    "CONFIG_BULK_PACKAGE_NOT_FOUND": 404,
    # configs / nodes
    "CONFIG_NOT_FOUND": 404,
    "CONFIG_NAME_EXISTS": 409,
    "INVALID_CONFIG_NAME": 400,
    "INVALID_SUBNET": 400,
    "IP_POOL_EXHAUSTED": 400,
    "INVALID_VIRTUAL_IP": 400,
    "INVALID_NODE_NAME": 400,
    "INVALID_NODE_FIELD": 400,
    "INVALID_KEY": 400,
    "NODE_NOT_FOUND": 404,
    "NODE_DISABLED": 409,
    "NODE_CONFIG_MISMATCH": 400,
    "INVALID_TAG": 400,
    "NODE_STATE_NOT_FOUND": 404,
    "RUNTIME_NOT_FOUND": 404,
    "NO_STAGED_CONFIG": 409,
    # mesh
    "INVALID_PEER_LINK": 400,
    "PEER_LINK_NOT_FOUND": 404,
    "INVALID_ENDPOINT": 400,
    "INVALID_ENDPOINT_FAMILY": 400,
    "TOPOLOGY_INVALID": 409,
    # quick mesh
    "INVALID_QUICK_MESH_MODE": 400,
    "QUICK_MESH_NOT_ENOUGH_NODES": 400,
    "QUICK_MESH_VIRTUAL_IP_REQUIRED": 400,
    "QUICK_MESH_HUB_REQUIRED": 400,
    "QUICK_MESH_HUB_ENDPOINT_REQUIRED": 400,
    "QUICK_MESH_ENDPOINT_REQUIRED": 400,
    "QUICK_MESH_GATEWAY_REQUIRED": 400,
    "QUICK_MESH_GATEWAY_ENDPOINT_REQUIRED": 400,
    "QUICK_MESH_LEAF_INVALID": 400,
    "QUICK_MESH_NODE_ROLE_CONFLICT": 400,
    "QUICK_MESH_LEAF_GATEWAY_INVALID": 400,
    "QUICK_MESH_NODE_UNASSIGNED": 400,
    # AWG
    "INVALID_AWG_VERSION": 400,
    "INVALID_AWG_PARAMETER": 400,
    "INVALID_AWG_H_RANGE": 400,
    "INVALID_AWG_J_RANGE": 400,
    # port forwarding
    "PORT_FORWARD_SAME_NODE": 400,
    "PORT_FORWARD_TO_PLATFORM_INVALID": 400,
    "PORT_FORWARD_PROTOCOL_INVALID": 400,
    "PORT_FORWARD_NODE_INVALID": 400,
    "PORT_FORWARD_VIRTUAL_IP_REQUIRED": 400,
    "PORT_FORWARD_IPV4_REQUIRED": 400,
    "PORT_FORWARD_PORT_INVALID": 400,
    "PORT_FORWARD_TO_PORT_IN_USE": 409,
    "PORT_FORWARD_NOT_FOUND": 404,
    # MQTT / client
    "MQTT_DISABLED": 409,
    "MQTT_TLS_CA_NOT_READY": 409,
    "MQTT_CONTROL_UNAVAILABLE": 503,
    "INVALID_ACTION": 400,
    "CONTROL_LOG_NOT_FOUND": 404,
    "CLIENT_BIND_STATIC_NODE": 400,
    "CLIENT_BIND_TOKEN_INVALID": 401,
    "CLIENT_BIND_TOKEN_USED": 409,
    "CLIENT_BIND_TOKEN_EXPIRED": 401,
    "CLIENT_BIND_NOT_ALLOWED": 403,
    "EMQX_USER_SYNC_FAILED": 502,
    "EMQX_USER_DELETE_FAILED": 502,
    "EMQX_CLIENT_DISCONNECT_FAILED": 502,
    # snapshots
    "SNAPSHOT_NOT_FOUND": 404,
    "SNAPSHOT_INVALID_ARCHIVE": 400,
    "SNAPSHOT_PASSWORD_INVALID": 401,
    "SNAPSHOT_IMPORT_FAILED": 500,
    "SNAPSHOT_RESTORE_UNSAFE_PATH": 500,
    # MCP
    "MCP_TOKEN_NAME_REQUIRED": 400,
    "MCP_TOKEN_PERMISSION_INVALID": 400,
    "MCP_TOKEN_EXPIRY_INVALID": 400,
    "MCP_TOKEN_NOT_FOUND": 404,
    "MCP_AUDIT_RANGE_INVALID": 400,
    # infrastructure
    "DATABASE_UNAVAILABLE": 503,
}


class WfmError(Exception):
    """A domain failure: stable code, human message, HTTP status and structured detail."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else ERROR_STATUS.get(code, 400)
        self.detail: dict[str, Any] = detail or {}

    def __repr__(self) -> str:
        return f"WfmError({self.code!r}, {self.message!r}, status={self.status})"

    def to_envelope(self) -> dict[str, Any]:
        """The reference error envelope (reference.md §2.1)."""
        return {
            "success": False,
            "error": {"code": self.code, "message": self.message, "detail": self.detail},
        }

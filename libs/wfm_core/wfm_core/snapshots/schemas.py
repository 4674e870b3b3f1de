"""Request and response models of snapshots (reference.md §2.3 "Backups / snapshots")."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from wfm_core.auth.passwords import MAX_PASSWORD_LENGTH
from wfm_core.schemas import RequestModel, ResponseModel
from wfm_core.snapshots.archive import MAX_NOTE_LENGTH


class SnapshotRead(ResponseModel):
    id: str
    name: str = Field(description="The archive's file name in the snapshot directory")
    path: str
    size: int
    note: str
    created_at: datetime


class _PasswordModel(RequestModel):
    """Passwords are taken byte for byte: no whitespace stripping."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class SnapshotCreateRequest(_PasswordModel):
    note: str = Field(default="", max_length=MAX_NOTE_LENGTH)
    password: str = Field(
        min_length=1,
        max_length=MAX_PASSWORD_LENGTH,
        description="The current admin password; it also encrypts the snapshot",
    )


class SnapshotRestoreRequest(_PasswordModel):
    password: str = Field(
        min_length=1,
        max_length=MAX_PASSWORD_LENGTH,
        description="The admin password that was current when the snapshot was created",
    )


class SnapshotRecovery(ResponseModel):
    """What the restore did to bring the runtime back (reference.md §11 "recovery")."""

    mqtt_credentials: int = Field(description="Node MQTT accounts the restored data defines")
    mqtt_users_sync: Literal["requested", "disabled"] = Field(
        description="emqx-sync rebuilds the broker users asynchronously (a forced full "
        "reconcile on `snapshot.restored`); its counters appear in the system status"
    )
    mqtt_users_synced: int | None = Field(
        default=None, description="Not known when the restore answers (see mqtt_users_sync)"
    )
    mqtt_users_failed: int | None = Field(
        default=None, description="Not known when the restore answers (see mqtt_users_sync)"
    )
    runtime_reset: int = Field(description="Runtime rows reset to offline (`snapshot-restore`)")
    detect_requested: int = Field(description="Nodes sent a detect probe")


class SnapshotRestoreResult(ResponseModel):
    message: str
    snapshot: SnapshotRead
    tables: dict[str, int] = Field(description="Rows restored per table")
    recovery: SnapshotRecovery


class SnapshotDeleteResult(ResponseModel):
    message: str


class SnapshotDownloadGrant(SnapshotRead):
    """A 5-minute download link for one archive (a `snapshot_export` file token)."""

    download_path: str
    download_token: str
    download_token_expires_at: datetime

"""The sync status vocabulary of reference.md §2.3 (SyncStatus.status), in one place."""

from __future__ import annotations


def apply_status(desired_sha256: str | None, staged_sha256: str | None) -> str:
    """Is the server-applied (staged) text the latest rendering? `empty` (nothing rendered),
    `pending` (never staged), `in_sync`, `staged_outdated`."""
    if not desired_sha256:
        return "empty"
    if not staged_sha256:
        return "pending"
    if staged_sha256 == desired_sha256:
        return "in_sync"
    return "staged_outdated"

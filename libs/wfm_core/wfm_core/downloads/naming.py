"""File names of downloads: `<config>-<node>.conf`, bulk zip names and in-zip dedupe (§2.3)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from wfm_core.render.naming import file_segment, file_stem

__all__ = [
    "bulk_download_path",
    "bulk_zip_filename",
    "conf_filename",
    "file_segment",
    "file_stem",
    "node_download_path",
    "unique_filenames",
]

CONF_SUFFIX = ".conf"


def conf_filename(config_name: str | None, node_name: str | None) -> str:
    """`<stem>.conf` of one node."""
    return f"{file_stem(config_name, node_name)}{CONF_SUFFIX}"


def bulk_zip_filename(config_name: str | None, generated_at: datetime) -> str:
    """`wg-configs-<seg(config)>-YYYYmmdd-HHMMSS.zip`, the time in UTC."""
    stamp = generated_at.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    return f"wg-configs-{file_segment(config_name, 'wireguard')}-{stamp}.zip"


def unique_filenames(names: Iterable[str]) -> list[str]:
    """The names in order, a repeated one as `<stem>-2.conf`, `<stem>-3.conf`, …

    Names are compared case-insensitively: a zip unpacked on Windows or macOS would otherwise
    let `A.conf` overwrite `a.conf`. A suffixed name never takes one that is already used.
    """
    used: set[str] = set()
    out: list[str] = []
    for name in names:
        stem, dot, suffix = name.rpartition(".")
        if not dot:
            stem, suffix = name, ""
        ext = f".{suffix}" if dot else ""
        candidate, counter = name, 1
        while candidate.lower() in used:
            counter += 1
            candidate = f"{stem}-{counter}{ext}"
        used.add(candidate.lower())
        out.append(candidate)
    return out


def node_download_path(config_id: str, node_id: str) -> str:
    """The download-conf route of one node (the API adds `?download_token=`)."""
    return f"/api/v1/configs/{config_id}/nodes/{node_id}/download-conf"


def bulk_download_path(package_id: str) -> str:
    return f"/api/v1/tools/download/config-bulk/{package_id}"

"""Names: config/node name rules, download file stems and Linux-safe interface names."""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata

from wfm_core.errors import WfmError

CONFIG_NAME_RE = re.compile(r"[a-zA-Z0-9_=+.-]{1,32}")
WINDOWS_RESERVED_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"COM{i}" for i in range(1, 10)]
    + [f"LPT{i}" for i in range(1, 10)]
)
NODE_NAME_MAX = 128
# Cc = C0/C1 controls; Zl/Zp = U+2028/U+2029, which some readers treat as line breaks;
# Cs = lone surrogates, which cannot be encoded as UTF-8.
_FORBIDDEN_NAME_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})
_SEGMENT_KEEP = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
INTERFACE_PREFIX = "wfm-"
INTERFACE_HASH_CHARS = 10


def validate_config_name(name: str) -> str:
    """The config name if it is 1–32 safe characters and not a Windows reserved device name."""
    value = name if isinstance(name, str) else ""
    if not CONFIG_NAME_RE.fullmatch(value):
        raise WfmError(
            "INVALID_CONFIG_NAME",
            "Config name must be 1-32 characters of letters, digits and _ = + . -",
            detail={"name": name},
        )
    # Windows refuses `CON`, and also `con.conf`: the stem before the first dot counts.
    if value.upper() in WINDOWS_RESERVED_NAMES or value.split(".", 1)[0].upper() in (
        WINDOWS_RESERVED_NAMES
    ):
        raise WfmError(
            "INVALID_CONFIG_NAME",
            f"Config name {value!r} is a reserved Windows device name",
            detail={"name": name},
        )
    return value


def validate_node_name(name: str | None) -> str:
    """The trimmed node name: 1–128 characters, no control or line-separator characters."""
    value = (name or "").strip() if isinstance(name, str | None) else ""
    if not value or len(value) > NODE_NAME_MAX:
        raise WfmError(
            "INVALID_NODE_NAME",
            f"Node name must be 1-{NODE_NAME_MAX} characters",
            detail={"name": name},
        )
    if any(unicodedata.category(ch) in _FORBIDDEN_NAME_CATEGORIES for ch in value):
        raise WfmError(
            "INVALID_NODE_NAME",
            "Node name must not contain control characters",
            detail={"name": name},
        )
    return value


def file_segment(value: str | None, fallback: str) -> str:
    """A file-name segment: ASCII alnum and `-_.` kept, others as `u%04x`, edges `-_.` trimmed."""
    text = "".join(ch if ch in _SEGMENT_KEEP else f"u{ord(ch):04x}" for ch in (value or ""))
    text = text.strip("-_.")
    return text or fallback


def file_stem(config_name: str | None, node_name: str | None) -> str:
    """Download file stem `<config>-<node>` (reference.md §2.3); the file is `<stem>.conf`."""
    return f"{file_segment(config_name, 'wireguard')}-{file_segment(node_name, 'node')}"


def interface_name(*, config_id: str, node_id: str) -> str:
    """The WireGuard interface name of a node, e.g. `wfm-k3j9x2ab7q` (design.md §4).

    Linux limits interface names to 15 characters (IFNAMSIZ 16 incl. NUL), so names built from
    config and node names (the original's `mesh-main-node-a`) do not fit. We use `wfm-` plus the
    first 10 lowercase base32 characters of sha256("<config_id>/<node_id>"): 14 characters from
    [a-z2-7-], valid on Linux and macOS wg-quick and as a file name, stable for the node's
    lifetime (ids never change, renames do not move the interface), and 50 bits of hash make a
    clash between two profiles on one host practically impossible.
    """
    digest = hashlib.sha256(f"{config_id}/{node_id}".encode()).digest()
    slug = base64.b32encode(digest).decode("ascii").lower()[:INTERFACE_HASH_CHARS]
    return f"{INTERFACE_PREFIX}{slug}"

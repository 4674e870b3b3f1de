"""Pure input rules for node fields that end up inside rendered config text."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from wfm_core.errors import WfmError

MAX_TAG_LENGTH = 64
MAX_HOOK_LENGTH = 1024
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalize_public_entry(value: str | None, *, family: str, field: str) -> str | None:
    """A public entry is an IP of the family or a DNS name (reference.md §1.2); empty → None."""
    text = (value or "").strip()
    if not text:
        return None
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        if _HOSTNAME.match(text) and not text.replace(".", "").isdigit():
            return text.lower().rstrip(".")
        raise WfmError(
            "INVALID_ENDPOINT",
            f"{field} must be an IP address or a domain name",
            detail={"field": field, "value": text},
        ) from None
    if (family == "ipv4") != (address.version == 4):
        raise WfmError(
            "INVALID_ENDPOINT",
            f"{field} must be an {'IPv4' if family == 'ipv4' else 'IPv6'} address or a domain name",
            detail={"field": field, "value": text},
        )
    return str(address)


def normalize_dns(value: str | None) -> str | None:
    """DNS = comma list of resolver IPs or search domains, one line."""
    text = (value or "").strip()
    if not text:
        return None
    entries = [entry.strip() for entry in text.split(",") if entry.strip()]
    for entry in entries:
        try:
            ipaddress.ip_address(entry)
        except ValueError:
            if not _HOSTNAME.match(entry):
                raise WfmError(
                    "VALIDATION_ERROR",
                    f"DNS entry {entry!r} is neither an IP address nor a domain",
                    status=422,
                    detail={"field": "dns"},
                ) from None
    return ", ".join(entries)


def normalize_tags(tags: Iterable[str]) -> list[str]:
    """Trimmed, deduplicated (first spelling wins), each 1–64 chars without control characters."""
    result: list[str] = []
    for raw in tags:
        tag = normalize_tag(raw)
        if tag not in result:
            result.append(tag)
    return result


def normalize_tag(raw: str) -> str:
    tag = (raw or "").strip()
    if not tag or len(tag) > MAX_TAG_LENGTH or _CONTROL.search(tag):
        raise WfmError(
            "INVALID_TAG",
            f"Tag must be 1–{MAX_TAG_LENGTH} characters without control characters",
            detail={"tag": raw},
        )
    return tag


def normalize_hooks(commands: Iterable[str], *, field: str) -> list[str]:
    """Hook commands are single lines without `#`.

    A newline would inject lines into the config file, and wg-quick cuts every line at the
    first `#`, so either would silently change what runs.
    """
    result: list[str] = []
    for raw in commands:
        command = (raw or "").strip()
        if not command:
            continue
        if _CONTROL.search(command) or "#" in command or len(command) > MAX_HOOK_LENGTH:
            raise WfmError(
                "VALIDATION_ERROR",
                f"{field} commands must be single lines without '#' (max {MAX_HOOK_LENGTH} chars)",
                status=422,
                detail={"field": field},
            )
        result.append(command)
    return result

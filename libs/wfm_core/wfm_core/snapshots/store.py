"""The snapshot directory (`<data_dir>/backups`, a volume in compose): archives as files.

Files are written under a hidden `.part` name and published with a hard link to their final
name, which fails instead of overwriting when the name is taken: two writers (API replicas on
one volume) never clobber each other, and a half-written archive is never listed.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import unicodedata
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from wfm_core.errors import WfmError

SUFFIX = ".zip"
PART_PREFIX = ".incoming-"
PART_SUFFIX = ".part"
MAX_NAME_LENGTH = 120
# A `.part` file this old belongs to a writer that died: removed on the next scan.
STALE_PART_SECONDS = 24 * 3600
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class StoredFile:
    name: str
    path: Path
    size: int
    modified_at: datetime


def default_name(created_at: datetime) -> str:
    """`snapshot_YYYYmmdd_HHMMSS.zip` (UTC), as the original names them."""
    return f"snapshot_{created_at.astimezone(UTC):%Y%m%d_%H%M%S}{SUFFIX}"


def clean_name(filename: str | None) -> str:
    """An uploaded file name made safe to keep: its last path segment, ASCII letters, digits,
    `._-` only, no leading dot, at most MAX_NAME_LENGTH characters, ending in `.zip`."""
    base = re.split(r"[\\/]", filename or "")[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    stem = base[: -len(SUFFIX)] if base.lower().endswith(SUFFIX) else base
    stem = _UNSAFE_CHARS.sub("_", stem).strip("._-")
    stem = stem[: MAX_NAME_LENGTH - len(SUFFIX) - 4] or "snapshot_import"
    return f"{stem}{SUFFIX}"


def _candidates(name: str) -> Iterator[str]:
    """`name`, then `stem_1.zip`, `stem_2.zip`, … (reference.md §2.3 import dedupe)."""
    stem = name[: -len(SUFFIX)]
    yield name
    for number in range(1, 10_000):
        yield f"{stem}_{number}{SUFFIX}"


def is_archive_name(name: str) -> bool:
    return (
        name.endswith(SUFFIX)
        and not name.startswith(".")
        and "/" not in name
        and "\\" not in name
        and len(name) <= 255
    )


class SnapshotStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_of(self, name: str) -> Path:
        """The file of an archive name; only plain names inside the directory."""
        if not is_archive_name(name):
            raise WfmError("SNAPSHOT_NOT_FOUND", "Snapshot not found")
        return self.directory / name

    def exists(self, name: str) -> bool:
        return self.path_of(name).is_file()

    def scan(self) -> list[StoredFile]:
        """Every archive in the directory (none when it does not exist yet)."""
        if not self.directory.is_dir():
            return []
        files: list[StoredFile] = []
        now = time.time()
        with os.scandir(self.directory) as entries:
            for entry in entries:
                try:
                    if entry.name.startswith(PART_PREFIX) and entry.name.endswith(PART_SUFFIX):
                        if now - entry.stat().st_mtime > STALE_PART_SECONDS:
                            os.unlink(entry.path)
                        continue
                    if not is_archive_name(entry.name) or not entry.is_file(follow_symlinks=False):
                        continue
                    stat = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # removed while we looked
                files.append(
                    StoredFile(
                        name=entry.name,
                        path=Path(entry.path),
                        size=stat.st_size,
                        modified_at=datetime.fromtimestamp(stat.st_mtime, UTC),
                    )
                )
        return sorted(files, key=lambda f: f.name)

    @contextmanager
    def part(self) -> Iterator[tuple[Path, IO[bytes]]]:
        """A fresh hidden file to write an archive into; removed unless published."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.directory / f"{PART_PREFIX}{uuid.uuid4().hex}{PART_SUFFIX}"
        # Owner-only: an archive is encrypted, but nobody else needs a copy to guess at.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                yield path, handle
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    @staticmethod
    def finish(handle: IO[bytes]) -> None:
        """Flush a part to stable storage and close it (before publish or replace)."""
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()

    def publish(self, part: Path, name: str) -> str:
        """Give a written part its name (or the first free `_n` variant); returns the name."""
        for candidate in _candidates(name):
            try:
                os.link(part, self.directory / candidate)
            except FileExistsError:
                continue
            part.unlink()
            return candidate
        raise WfmError("SNAPSHOT_IMPORT_FAILED", "No free file name for the snapshot")

    def replace(self, part: Path, name: str) -> None:
        """Atomically put a part in place of an existing archive (note edits)."""
        os.replace(part, self.path_of(name))

    def delete(self, name: str) -> bool:
        try:
            self.path_of(name).unlink()
        except FileNotFoundError:
            return False
        return True

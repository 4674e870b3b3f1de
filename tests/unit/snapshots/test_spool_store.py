"""The sealed spool (random access, nothing in clear on disk) and the snapshot directory."""

from __future__ import annotations

import io
import os
import random
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from wfm_core.errors import WfmError
from wfm_core.snapshots.spool import SealedSpool
from wfm_core.snapshots.store import SnapshotStore, clean_name, default_name


def test_spool_reads_back_any_range() -> None:
    rng = random.Random(7)
    data = rng.randbytes(300_001)
    spool = SealedSpool()
    try:
        for start in range(0, len(data), 4093):  # odd chunk sizes cross CTR blocks
            spool.write(data[start : start + 4093])
        assert spool.size == len(data)
        for _ in range(200):
            offset = rng.randrange(0, len(data))
            length = rng.randrange(0, 5000)
            spool.seek(offset)
            assert spool.read(length) == data[offset : offset + length]
        spool.seek(-10, io.SEEK_END)
        assert spool.read() == data[-10:]
    finally:
        spool.close()


def test_spool_keeps_nothing_in_clear_on_disk() -> None:
    marker = b"PrivateKey = super-secret-marker" * 100
    spool = SealedSpool()
    try:
        spool.write(marker)
        raw = spool._file  # the temporary file itself
        raw.seek(0)
        on_disk = raw.read()
        assert len(on_disk) == len(marker)
        assert b"super-secret-marker" not in on_disk
    finally:
        spool.close()


def test_spool_backs_a_zip_reader() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as out:
        out.writestr("a.txt", b"alpha" * 1000)
        out.writestr("b.txt", b"beta" * 1000)
    spool = SealedSpool()
    spool.write(buffer.getvalue())
    spool.seek(0)
    with zipfile.ZipFile(io.BufferedReader(spool)) as z:
        assert z.read("b.txt") == b"beta" * 1000
        assert z.read("a.txt") == b"alpha" * 1000


def test_spool_is_append_only() -> None:
    spool = SealedSpool()
    spool.write(b"abc")
    spool.seek(0)
    with pytest.raises(io.UnsupportedOperation):
        spool.write(b"x")
    spool.close()


@pytest.mark.parametrize(
    ("uploaded", "kept"),
    [
        ("snapshot_20260101_000000.zip", "snapshot_20260101_000000.zip"),
        ("../../etc/passwd", "passwd.zip"),
        ("C:\\Users\\me\\backup.ZIP", "backup.zip"),
        ("my backup (1).zip", "my_backup_1.zip"),
        (".hidden.zip", "hidden.zip"),
        ("", "snapshot_import.zip"),
        (None, "snapshot_import.zip"),
        ("..", "snapshot_import.zip"),
        ("résumé.zip", "resume.zip"),
        ("x" * 500 + ".zip", "x" * 112 + ".zip"),  # room for a `_n` dedupe suffix
    ],
)
def test_clean_name(uploaded: str | None, kept: str) -> None:
    assert clean_name(uploaded) == kept


def test_default_name_is_utc() -> None:
    moment = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert default_name(moment) == "snapshot_20260304_050607.zip"


def test_publish_dedupes_and_never_overwrites(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "backups")
    names = []
    for content in (b"one", b"two", b"three"):
        with store.part() as (part, handle):
            handle.write(content)
            store.finish(handle)
            names.append(store.publish(part, "snap.zip"))
    assert names == ["snap.zip", "snap_1.zip", "snap_2.zip"]
    assert (tmp_path / "backups" / "snap.zip").read_bytes() == b"one"
    assert [f.name for f in store.scan()] == ["snap.zip", "snap_1.zip", "snap_2.zip"]
    assert (tmp_path / "backups" / "snap.zip").stat().st_mode & 0o777 == 0o600
    # Parts never show up, and an abandoned one is removed.
    assert not [p for p in os.listdir(tmp_path / "backups") if p.endswith(".part")]


def test_failed_writes_leave_nothing(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)

    def write_and_fail() -> None:
        with store.part() as (_part, handle):
            handle.write(b"half")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_and_fail()
    assert os.listdir(tmp_path) == []


def test_scan_ignores_what_is_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "a.zip").write_bytes(b"x")
    (tmp_path / "notes.txt").write_bytes(b"x")
    (tmp_path / ".hidden.zip").write_bytes(b"x")
    (tmp_path / "dir.zip").mkdir()
    os.symlink("/etc/passwd", tmp_path / "link.zip")
    assert [f.name for f in SnapshotStore(tmp_path).scan()] == ["a.zip"]
    assert SnapshotStore(tmp_path / "missing").scan() == []


@pytest.mark.parametrize("name", ["../x.zip", "a/b.zip", ".x.zip", "x.txt", ""])
def test_path_of_refuses_anything_but_plain_archive_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(WfmError) as exc:
        SnapshotStore(tmp_path).path_of(name)
    assert exc.value.code == "SNAPSHOT_NOT_FOUND"

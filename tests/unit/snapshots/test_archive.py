"""The archive format: version 2 round trip, the key check, associated data, every refusal, and
reading the original's version 1 (written independently in crafting.py)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from typing import Any

import pytest

from wfm_core.errors import WfmError
from wfm_core.snapshots import archive

from .crafting import CHEAP_KDF, decrypt, legacy_v1, seal_v2, unzip, zip_bytes

PASSWORD = "snapshot password ü"
MAX = 1 << 30


def _code(exc: pytest.ExceptionInfo[WfmError]) -> tuple[str, str | None]:
    return exc.value.code, exc.value.detail.get("reason")


def test_version_2_round_trip_streams_large_payloads() -> None:
    payload = bytes(range(256)) * 20_000  # 5 MB, several chunks
    data = seal_v2(PASSWORD, payload, note="before upgrade")
    manifest = archive.inspect(io.BytesIO(data), max_payload_bytes=MAX)
    assert manifest.version == 2 and manifest.kdf == "argon2id"
    assert manifest.note == "before upgrade" and manifest.snapshot_id == "snap_0123456789ab"
    assert decrypt(data, PASSWORD) == payload
    members = unzip(data)
    assert set(members) == {"snapshot_manifest.json", "snapshot_payload.bin"}
    # ciphertext + 16-byte tag, stored (not deflated)
    assert len(members["snapshot_payload.bin"]) == len(payload) + 16
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.getinfo("snapshot_payload.bin").compress_type == zipfile.ZIP_STORED


def test_default_kdf_is_rfc9106_second_recommendation() -> None:
    assert archive.Argon2idParams(3, 64 * 1024, 4) == archive.DEFAULT_KDF
    sealing = archive.seal(
        password="p",
        snapshot_id="snap_x",
        name="n.zip",
        created_at=datetime.now(UTC),
        note="",
        system_version="1",
        schema_revision="0003",
    )
    crypto = sealing.document["crypto"]
    assert (crypto["kdf"], crypto["time_cost"], crypto["memory_cost_kib"]) == ("argon2id", 3, 65536)
    assert crypto["parallelism"] == 4 and crypto["algorithm"] == "aes-256-gcm"


def test_wrong_password_is_caught_by_the_key_check_before_decrypting() -> None:
    data = seal_v2(PASSWORD, b"secret")
    with pytest.raises(WfmError) as exc:
        decrypt(data, "another password")
    assert exc.value.code == "SNAPSHOT_PASSWORD_INVALID" and exc.value.status == 401


def test_tampered_ciphertext_is_a_damaged_archive_not_a_wrong_password() -> None:
    members = unzip(seal_v2(PASSWORD, b"x" * 1000))
    payload = bytearray(members["snapshot_payload.bin"])
    payload[500] ^= 0x01
    members["snapshot_payload.bin"] = bytes(payload)
    with pytest.raises(WfmError) as exc:
        decrypt(zip_bytes(members), PASSWORD)
    assert _code(exc) == ("SNAPSHOT_INVALID_ARCHIVE", "tampered")
    assert exc.value.status == 400


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m.update(created_at="2020-01-01T00:00:00+00:00"),
        lambda m: m.update(id="snap_ffffffffffff"),
        lambda m: m.update(schema_revision="0001"),
        lambda m: m["crypto"].update(nonce="AAAAAAAAAAAAAAAA"),
    ],
)
def test_sealed_manifest_fields_are_authenticated(edit: Any) -> None:
    with pytest.raises(WfmError) as exc:
        decrypt(seal_v2(PASSWORD, b"payload", document=edit), PASSWORD)
    assert _code(exc) == ("SNAPSHOT_INVALID_ARCHIVE", "tampered")


def test_note_and_name_stay_editable() -> None:
    data = seal_v2(PASSWORD, b"payload", document=lambda m: m.update(note="new", name="x.zip"))
    assert decrypt(data, PASSWORD) == b"payload"
    out = io.BytesIO()
    rewritten = archive.rewrite_manifest(
        io.BytesIO(data), out, note="rewritten ✓", max_payload_bytes=MAX
    )
    assert rewritten.note == "rewritten ✓"
    assert decrypt(out.getvalue(), PASSWORD) == b"payload"
    assert archive.inspect(io.BytesIO(out.getvalue()), max_payload_bytes=MAX).note == "rewritten ✓"


def test_reads_the_original_version_1_format() -> None:
    database = {"format": "application", "tables": {"configs": []}}
    data = legacy_v1(PASSWORD, database, iterations=390_000)
    manifest = archive.inspect(io.BytesIO(data), max_payload_bytes=MAX)
    assert (manifest.version, manifest.kdf, manifest.iterations) == (1, "pbkdf2-sha256", 390_000)
    assert manifest.associated_data is None
    assert json.loads(unzip(decrypt(data, PASSWORD))["database.json"]) == database
    with pytest.raises(WfmError) as exc:
        decrypt(data, "wrong")
    # Version 1 has no key check: a wrong password surfaces as a failed tag (reported as 401).
    assert exc.value.code == "SNAPSHOT_PASSWORD_INVALID"


def _manifest_edit(edit: Any) -> bytes:
    return seal_v2(PASSWORD, b"p", document=edit)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not a zip at all", "not_a_zip"),
        (b"", "not_a_zip"),
        (zip_bytes({"snapshot_manifest.json": b"{}"}), "unexpected_members"),
        (
            zip_bytes({"snapshot_manifest.json": b"{}", "snapshot_payload.bin": b"", "x": b""}),
            "unexpected_members",
        ),
        (
            zip_bytes(
                {
                    "snapshot_manifest.json": b"{}",
                    "snapshot_payload.bin": b"",
                    "../../etc/cron.d/evil": b"",
                }
            ),
            "unsafe_path",
        ),
        (zip_bytes({"/abs/snapshot_manifest.json": b"{}"}), "unsafe_path"),
        (zip_bytes({"snapshot_manifest.json": b"[", "snapshot_payload.bin": b""}), None),
        (_manifest_edit(lambda m: m.update(format="something-else")), "unsupported_format"),
        (_manifest_edit(lambda m: m.update(version=99)), "unsupported_version"),
        (_manifest_edit(lambda m: m.update(version="2")), "unsupported_version"),
        (_manifest_edit(lambda m: m["crypto"].update(algorithm="aes-128-cbc")), None),
        (_manifest_edit(lambda m: m["crypto"].update(kdf="pbkdf2-sha256")), "unsupported_kdf"),
        (
            _manifest_edit(lambda m: m["crypto"].update(memory_cost_kib=64 * 1024 * 1024)),
            "kdf_params_out_of_range",
        ),
        (_manifest_edit(lambda m: m["crypto"].update(time_cost=10_000)), None),
        (_manifest_edit(lambda m: m["crypto"].update(nonce="short")), "manifest_invalid"),
        (_manifest_edit(lambda m: m["crypto"].pop("key_check")), "manifest_invalid"),
        (_manifest_edit(lambda m: m.pop("crypto")), "manifest_invalid"),
    ],
)
def test_malformed_archives_are_refused_without_the_password(
    data: bytes, reason: str | None
) -> None:
    with pytest.raises(WfmError) as exc:
        archive.inspect(io.BytesIO(data), max_payload_bytes=MAX)
    assert exc.value.code == "SNAPSHOT_INVALID_ARCHIVE" and exc.value.status == 400
    if reason is not None:
        assert exc.value.detail["reason"] == reason


def test_truncated_archives_are_refused() -> None:
    data = seal_v2(PASSWORD, b"z" * 200_000)
    for cut in (len(data) // 2, len(data) - 30, 100):
        with pytest.raises(WfmError) as exc:
            decrypt(data[:cut], PASSWORD)
        assert exc.value.code == "SNAPSHOT_INVALID_ARCHIVE"


def test_payload_that_lost_its_tail_is_truncated() -> None:
    members = unzip(seal_v2(PASSWORD, b"z" * 1000))
    members["snapshot_payload.bin"] = members["snapshot_payload.bin"][:10]
    with pytest.raises(WfmError) as exc:
        decrypt(zip_bytes(members), PASSWORD)
    assert exc.value.code == "SNAPSHOT_INVALID_ARCHIVE"


def test_payload_size_limit() -> None:
    data = seal_v2(PASSWORD, b"y" * 10_000)
    with pytest.raises(WfmError) as exc:
        archive.inspect(io.BytesIO(data), max_payload_bytes=1000)
    assert exc.value.detail["reason"] == "too_large"


@pytest.mark.parametrize(
    "name",
    ["", "/etc/passwd", "../x", "a/../../x", "a\\b", "C:/x", "a//b", "./a", "a/./b", "x\x00y"],
)
def test_unsafe_member_names(name: str) -> None:
    assert not archive.is_safe_member_name(name)


@pytest.mark.parametrize(
    "name", ["database.json", "tables/configs.jsonl", "data/wireguard/a/b.conf"]
)
def test_safe_member_names(name: str) -> None:
    assert archive.is_safe_member_name(name)


def test_cheap_test_kdf_is_within_the_reader_bounds() -> None:
    data = seal_v2(PASSWORD, b"ok", kdf=CHEAP_KDF)
    assert archive.inspect(io.BytesIO(data), max_payload_bytes=MAX).argon2 == CHEAP_KDF


def test_a_huge_central_directory_is_refused_before_parsing() -> None:
    members = {f"m{i}": b"" for i in range(5000)}
    data = zip_bytes({"snapshot_manifest.json": b"{}", "snapshot_payload.bin": b"", **members})
    with pytest.raises(WfmError) as exc:
        archive.inspect(io.BytesIO(data), max_payload_bytes=MAX)
    assert exc.value.detail["reason"] == "unexpected_members"
    assert "far more" in exc.value.message


def test_large_payloads_keep_a_small_directory() -> None:
    """Our own archives (ZIP64 member) pass the directory check."""
    data = seal_v2(PASSWORD, b"q" * 3_000_000)
    assert archive.inspect(io.BytesIO(data), max_payload_bytes=MAX).version == 2

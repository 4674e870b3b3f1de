"""The snapshot archive (reference.md §11): a zip holding a manifest and an AES-256-GCM payload.

Pure: byte streams in, byte streams out; no database, no paths. Two versions are read:

- 1, the original product's: key = PBKDF2-HMAC-SHA256(password, salt, iterations, 32 bytes), no
  associated data. Read so its snapshots stay restorable; never written.
- 2, what we write: 64 bytes of argon2id(password, salt) with RFC 9106's second recommended
  parameters (recorded in the manifest, so they can be raised later without breaking old
  archives): an AES-256 key and a key-check key. The manifest carries HMAC(check key, label), so
  a wrong password (401) and a damaged payload (400) are told apart before any decryption, and
  the manifest's immutable fields are the GCM associated data: they cannot be swapped between
  archives. The note and the file name stay editable.

The payload is encrypted and decrypted as a stream (the 16-byte GCM tag follows the ciphertext),
so neither side ever holds the whole plaintext. Whatever comes from an archive is bounded: the
manifest's size, the KDF parameters (time and memory), the payload's declared size.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import json
import os
import re
import struct
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, Protocol

from argon2.exceptions import HashingError
from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from wfm_core.errors import WfmError

MANIFEST_NAME = "snapshot_manifest.json"
PAYLOAD_NAME = "snapshot_payload.bin"
FORMAT = "wfm-encrypted-snapshot"
LEGACY_VERSION = 1
VERSION = 2
ALGORITHM = "aes-256-gcm"
KDF_PBKDF2 = "pbkdf2-sha256"
KDF_ARGON2ID = "argon2id"
LEGACY_ITERATIONS = 390_000

SALT_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
CHUNK_BYTES = 1024 * 1024
MAX_MANIFEST_BYTES = 64 * 1024
MAX_NOTE_LENGTH = 2000
_KEY_CHECK_LABEL = b"wfm snapshot key check v2"
# Manifest fields bound to the payload as GCM associated data (everything but note and name).
_SEALED_FIELDS = ("format", "version", "id", "created_at", "system_version", "schema_revision")

# Bounds on parameters read from a manifest: an archive must not make us spend unbounded time or
# memory before the password is even checked.
MAX_PBKDF2_ITERATIONS = 5_000_000
MAX_ARGON2_TIME_COST = 16
MAX_ARGON2_MEMORY_KIB = 1024 * 1024
MAX_ARGON2_PARALLELISM = 16

_SNAPSHOT_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class ByteSink(Protocol):
    def write(self, data: bytes, /) -> object: ...


@dataclass(frozen=True, slots=True)
class Argon2idParams:
    """argon2id cost; the default is RFC 9106 §4 "second recommended option" (64 MiB, t=3, p=4)."""

    time_cost: int = 3
    memory_cost_kib: int = 64 * 1024
    parallelism: int = 4


DEFAULT_KDF = Argon2idParams()


def invalid(reason: str, message: str, **detail: Any) -> WfmError:
    """400 SNAPSHOT_INVALID_ARCHIVE with a machine-readable `detail.reason`."""
    return WfmError("SNAPSHOT_INVALID_ARCHIVE", message, detail={"reason": reason, **detail})


def wrong_password() -> WfmError:
    return WfmError("SNAPSHOT_PASSWORD_INVALID", "The snapshot password is incorrect")


def is_safe_member_name(name: str) -> bool:
    """A relative path of plain segments: no absolute path, drive, `..`, backslash or NUL."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/"):
        return False
    if re.match(r"[A-Za-z]:", name):
        return False
    return all(part not in ("", ".", "..") for part in name.rstrip("/").split("/"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _unb64(value: Any, *, field: str, length: int | None = None) -> bytes:
    if not isinstance(value, str) or len(value) > 256:
        raise invalid("manifest_invalid", f"Manifest field crypto.{field} is missing or invalid")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise invalid("manifest_invalid", f"Manifest field crypto.{field} is not base64") from exc
    if length is not None and len(raw) != length:
        raise invalid("manifest_invalid", f"Manifest field crypto.{field} has the wrong length")
    return raw


def _int_field(crypto: dict[str, Any], field: str, low: int, high: int) -> int:
    value = crypto.get(field)
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid("manifest_invalid", f"Manifest field crypto.{field} must be an integer")
    if not low <= value <= high:
        raise invalid(
            "kdf_params_out_of_range",
            f"Manifest field crypto.{field} must be between {low} and {high}",
            field=field,
        )
    return value


@dataclass(frozen=True, slots=True)
class Manifest:
    """A validated manifest; `document` is the JSON object as stored (note edits rewrite it)."""

    version: int
    document: dict[str, Any]
    snapshot_id: str | None
    created_at: datetime | None
    note: str
    system_version: str | None
    schema_revision: str | None
    kdf: str
    salt: bytes
    nonce: bytes
    iterations: int | None = None
    argon2: Argon2idParams | None = None
    key_check: bytes | None = None

    @property
    def associated_data(self) -> bytes | None:
        return associated_data(self.document) if self.version >= VERSION else None


def associated_data(document: dict[str, Any]) -> bytes:
    """Canonical JSON of the immutable manifest fields and the crypto block (version 2)."""
    sealed = {key: document.get(key) for key in _SEALED_FIELDS}
    sealed["crypto"] = document.get("crypto")
    return json.dumps(sealed, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _optional_text(document: dict[str, Any], field: str, limit: int = 256) -> str | None:
    value = document.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise invalid("manifest_invalid", f"Manifest field {field} is invalid")
    return value


def _created_at(document: dict[str, Any]) -> datetime | None:
    value = document.get("created_at")
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_manifest(raw: bytes) -> Manifest:
    """Validate a manifest's JSON, format, version and crypto fields (no password needed)."""
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise invalid("manifest_invalid", "The snapshot manifest is not valid JSON") from exc
    if not isinstance(document, dict):
        raise invalid("manifest_invalid", "The snapshot manifest is not a JSON object")
    if document.get("format") != FORMAT:
        raise invalid(
            "unsupported_format",
            "Not a WFM encrypted snapshot",
            format=str(document.get("format"))[:64],
        )
    version = document.get("version")
    if version not in (LEGACY_VERSION, VERSION) or isinstance(version, bool):
        raise invalid(
            "unsupported_version",
            "This snapshot version is not supported",
            version=str(version)[:32],
            supported=[LEGACY_VERSION, VERSION],
        )
    assert isinstance(version, int)
    crypto = document.get("crypto")
    if not isinstance(crypto, dict):
        raise invalid("manifest_invalid", "The snapshot manifest has no crypto block")
    if crypto.get("algorithm") != ALGORITHM:
        raise invalid("unsupported_crypto", "Only aes-256-gcm snapshots are supported")
    note = document.get("note", "")
    if not isinstance(note, str) or len(note) > MAX_NOTE_LENGTH * 2:
        raise invalid("manifest_invalid", "Manifest field note is invalid")
    snapshot_id = document.get("id")
    fields: dict[str, Any] = {
        "version": version,
        "document": document,
        "snapshot_id": snapshot_id
        if isinstance(snapshot_id, str) and _SNAPSHOT_ID.fullmatch(snapshot_id)
        else None,
        "created_at": _created_at(document),
        "note": note,
        "system_version": _optional_text(document, "system_version"),
        "schema_revision": _optional_text(document, "schema_revision"),
        "salt": _unb64(crypto.get("salt"), field="salt"),
        "nonce": _unb64(crypto.get("nonce"), field="nonce", length=NONCE_BYTES),
    }
    if not 8 <= len(fields["salt"]) <= 64:
        raise invalid("manifest_invalid", "Manifest field crypto.salt has the wrong length")
    kdf = crypto.get("kdf")
    if version == LEGACY_VERSION:
        if kdf != KDF_PBKDF2:
            raise invalid("unsupported_kdf", "Version 1 snapshots use pbkdf2-sha256")
        iterations = _int_field(crypto, "iterations", 1, MAX_PBKDF2_ITERATIONS)
        return Manifest(kdf=KDF_PBKDF2, iterations=iterations, **fields)
    if kdf != KDF_ARGON2ID:
        raise invalid("unsupported_kdf", "Version 2 snapshots use argon2id", kdf=str(kdf)[:32])
    parallelism = _int_field(crypto, "parallelism", 1, MAX_ARGON2_PARALLELISM)
    params = Argon2idParams(
        time_cost=_int_field(crypto, "time_cost", 1, MAX_ARGON2_TIME_COST),
        memory_cost_kib=_int_field(
            crypto, "memory_cost_kib", 8 * parallelism, MAX_ARGON2_MEMORY_KIB
        ),
        parallelism=parallelism,
    )
    key_check = _unb64(crypto.get("key_check"), field="key_check", length=32)
    return Manifest(kdf=KDF_ARGON2ID, argon2=params, key_check=key_check, **fields)


def manifest_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"


# --- keys ----------------------------------------------------------------------------------------


def _argon2(password: str, salt: bytes, params: Argon2idParams) -> bytes:
    try:
        return hash_secret_raw(
            password.encode("utf-8"),
            salt,
            time_cost=params.time_cost,
            memory_cost=params.memory_cost_kib,
            parallelism=params.parallelism,
            hash_len=2 * KEY_BYTES,
            type=Type.ID,
        )
    except HashingError as exc:
        raise invalid(
            "kdf_params_out_of_range", "The snapshot's argon2id parameters are invalid"
        ) from exc


def _key_check(check_key: bytes) -> bytes:
    return hmac.new(check_key, _KEY_CHECK_LABEL, hashlib.sha256).digest()


def derive_key(manifest: Manifest, password: str) -> bytes:
    """The AES key for `manifest`; SNAPSHOT_PASSWORD_INVALID when a version 2 key check fails.
    (Version 1 has no check: a wrong password shows up as a failed tag, reported the same way.)
    CPU- and memory-heavy by design: call it in a worker thread."""
    if manifest.version == LEGACY_VERSION:
        assert manifest.iterations is not None
        return hashlib.pbkdf2_hmac(
            "sha256", password.encode("utf-8"), manifest.salt, manifest.iterations, KEY_BYTES
        )
    assert manifest.argon2 is not None
    assert manifest.key_check is not None
    material = _argon2(password, manifest.salt, manifest.argon2)
    if not hmac.compare_digest(_key_check(material[KEY_BYTES:]), manifest.key_check):
        raise wrong_password()
    return material[:KEY_BYTES]


@dataclass(frozen=True, slots=True)
class Sealing:
    """What a new archive is written with: its manifest, AES key and associated data."""

    document: dict[str, Any]
    key: bytes
    nonce: bytes
    aad: bytes


def seal(
    *,
    password: str,
    snapshot_id: str,
    name: str,
    created_at: datetime,
    note: str,
    system_version: str,
    schema_revision: str | None,
    kdf: Argon2idParams = DEFAULT_KDF,
) -> Sealing:
    """A version 2 manifest with fresh salt and nonce, and its key (runs argon2id: use a thread)."""
    salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
    material = _argon2(password, salt, kdf)
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "id": snapshot_id,
        "name": name,
        "created_at": created_at.astimezone(UTC).isoformat(),
        "note": note,
        "system_version": system_version,
        "schema_revision": schema_revision,
        "crypto": {
            "algorithm": ALGORITHM,
            "kdf": KDF_ARGON2ID,
            "time_cost": kdf.time_cost,
            "memory_cost_kib": kdf.memory_cost_kib,
            "parallelism": kdf.parallelism,
            "salt": _b64(salt),
            "nonce": _b64(nonce),
            "key_check": _b64(_key_check(material[KEY_BYTES:])),
        },
    }
    return Sealing(document, material[:KEY_BYTES], nonce, associated_data(document))


# --- payload streams -----------------------------------------------------------------------------


class PayloadEncryptor:
    """A write-only stream: what is written goes to `out` encrypted; `finish()` appends the tag.

    It has no `tell()`, so a ZipFile writing into it streams (data descriptors, no seeking)."""

    def __init__(self, out: IO[bytes], *, key: bytes, nonce: bytes, aad: bytes | None) -> None:
        self._out = out
        self._encryptor = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
        if aad:
            self._encryptor.authenticate_additional_data(aad)
        self.plaintext_bytes = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data)
        self._out.write(self._encryptor.update(view))
        self.plaintext_bytes += view.nbytes
        return view.nbytes

    def flush(self) -> None:
        self._out.flush()

    def finish(self) -> None:
        self._out.write(self._encryptor.finalize())
        self._out.write(self._encryptor.tag)


def _read_exactly(source: IO[bytes], count: int) -> bytes:
    parts: list[bytes] = []
    while count > 0:
        chunk = source.read(min(CHUNK_BYTES, count))
        if not chunk:
            raise invalid("truncated", "The snapshot payload is truncated")
        parts.append(chunk)
        count -= len(chunk)
    return b"".join(parts)


def decrypt_payload(
    source: IO[bytes],
    sink: ByteSink,
    *,
    size: int,
    key: bytes,
    manifest: Manifest,
) -> None:
    """Stream-decrypt `size` payload bytes (ciphertext + tag) into `sink`. The plaintext written
    before the tag is checked is untrusted: use the sink only when this returns."""
    if size < TAG_BYTES:
        raise invalid("truncated", "The snapshot payload is truncated")
    decryptor = Cipher(algorithms.AES(key), modes.GCM(manifest.nonce)).decryptor()
    aad = manifest.associated_data
    if aad:
        decryptor.authenticate_additional_data(aad)
    remaining = size - TAG_BYTES
    while remaining > 0:
        chunk = source.read(min(CHUNK_BYTES, remaining))
        if not chunk:
            raise invalid("truncated", "The snapshot payload is truncated")
        sink.write(decryptor.update(chunk))
        remaining -= len(chunk)
    tag = _read_exactly(source, TAG_BYTES)
    try:
        sink.write(decryptor.finalize_with_tag(tag))
    except InvalidTag as exc:
        if manifest.version == LEGACY_VERSION:
            # No key check in version 1: a wrong password and a damaged payload look the same.
            raise wrong_password() from exc
        raise invalid(
            "tampered", "The snapshot payload failed its integrity check (damaged or altered)"
        ) from exc


# --- the outer zip -------------------------------------------------------------------------------

_ALLOWED_COMPRESSION = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
# An archive has two members: a bigger central directory is refused before zipfile parses it
# (it would build one object per entry — a small upload could cost gigabytes).
MAX_DIRECTORY_ENTRIES = 16
MAX_DIRECTORY_BYTES = 64 * 1024


def _check_directory(fileobj: IO[bytes]) -> None:
    fileobj.seek(0, io.SEEK_END)
    size = fileobj.tell()
    tail_size = min(size, _EOCD.size + 0xFFFF + _ZIP64_LOCATOR.size)
    fileobj.seek(size - tail_size)
    tail = fileobj.read(tail_size)
    fileobj.seek(0)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD.size:
        return  # not a zip: zipfile says so
    entries, directory = _EOCD.unpack_from(tail, at)[4:6]
    locator_at = at - _ZIP64_LOCATOR.size
    if locator_at >= 0 and tail[locator_at : locator_at + 4] == b"PK\x06\x07":
        record_offset = _ZIP64_LOCATOR.unpack_from(tail, locator_at)[2]
        fileobj.seek(record_offset)
        record = fileobj.read(_ZIP64_EOCD.size)
        fileobj.seek(0)
        if len(record) == _ZIP64_EOCD.size and record[:4] == b"PK\x06\x06":
            fields = _ZIP64_EOCD.unpack(record)
            entries, directory = max(entries, fields[7]), max(directory, fields[8])
    if entries > MAX_DIRECTORY_ENTRIES or directory > MAX_DIRECTORY_BYTES:
        raise invalid("unexpected_members", "The archive holds far more than a snapshot does")


@contextmanager
def _opened(fileobj: IO[bytes]) -> Iterator[zipfile.ZipFile]:
    try:
        _check_directory(fileobj)
        with zipfile.ZipFile(fileobj) as archive:
            yield archive
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise invalid("not_a_zip", "The file is not a readable snapshot archive") from exc


def _validated(
    archive: zipfile.ZipFile, *, max_payload_bytes: int
) -> tuple[Manifest, zipfile.ZipInfo]:
    infos = archive.infolist()
    names = [info.filename for info in infos]
    for name in names:
        if not is_safe_member_name(name):
            raise invalid("unsafe_path", "The archive holds an unsafe path", member=name[:200])
    if len(set(names)) != len(names):
        raise invalid("duplicate_member", "The archive holds a member twice")
    if set(names) != {MANIFEST_NAME, PAYLOAD_NAME}:
        raise invalid(
            "unexpected_members",
            f"A snapshot holds exactly {MANIFEST_NAME} and {PAYLOAD_NAME}",
            members=[name[:200] for name in names[:20]],
        )
    by_name = {info.filename: info for info in infos}
    for info in infos:
        if info.flag_bits & 0x1:
            raise invalid("encrypted_zip", "Zip-level encryption is not used by snapshots")
        if info.compress_type not in _ALLOWED_COMPRESSION:
            raise invalid("unsupported_compression", "Unsupported zip compression method")
    manifest_info, payload_info = by_name[MANIFEST_NAME], by_name[PAYLOAD_NAME]
    if manifest_info.file_size > MAX_MANIFEST_BYTES:
        raise invalid("too_large", "The snapshot manifest is too large")
    if payload_info.file_size > max_payload_bytes:
        raise invalid("too_large", "The snapshot payload is too large", limit=max_payload_bytes)
    try:
        with archive.open(manifest_info) as handle:
            raw = handle.read(MAX_MANIFEST_BYTES + 1)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise invalid("truncated", "The snapshot manifest cannot be read") from exc
    return parse_manifest(raw), payload_info


def inspect(fileobj: IO[bytes], *, max_payload_bytes: int) -> Manifest:
    """Validate the outer structure (import, listing): members, manifest; no password needed."""
    with _opened(fileobj) as archive:
        manifest, _ = _validated(archive, max_payload_bytes=max_payload_bytes)
        return manifest


def decrypt(
    fileobj: IO[bytes], sink: ByteSink, *, password: str, max_payload_bytes: int
) -> Manifest:
    """Check the password and stream the authenticated plaintext payload into `sink`."""
    with _opened(fileobj) as archive:
        manifest, payload = _validated(archive, max_payload_bytes=max_payload_bytes)
        key = derive_key(manifest, password)
        try:
            with archive.open(payload) as source:
                decrypt_payload(source, sink, size=payload.file_size, key=key, manifest=manifest)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise invalid("truncated", "The snapshot payload cannot be read") from exc
        return manifest


def _zip_time(moment: datetime) -> tuple[int, int, int, int, int, int]:
    utc = moment.astimezone(UTC)
    return (max(utc.year, 1980), utc.month, utc.day, utc.hour, utc.minute, utc.second)


class ArchiveWriter:
    """Writes a version 2 archive into `dest`: the manifest, then the payload as a stream.

    Write the plaintext into `payload`, then `close()`; on failure, `abort()` (the caller throws
    the half-written file away)."""

    def __init__(self, dest: IO[bytes], sealing: Sealing, *, created_at: datetime) -> None:
        self._zip = zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED)
        stamp = _zip_time(created_at)
        manifest = zipfile.ZipInfo(MANIFEST_NAME, date_time=stamp)
        manifest.compress_type = zipfile.ZIP_DEFLATED
        self._zip.writestr(manifest, manifest_bytes(sealing.document))
        payload = zipfile.ZipInfo(PAYLOAD_NAME, date_time=stamp)
        payload.compress_type = zipfile.ZIP_STORED  # ciphertext does not compress
        self._member = self._zip.open(payload, "w", force_zip64=True)
        self.payload = PayloadEncryptor(
            self._member, key=sealing.key, nonce=sealing.nonce, aad=sealing.aad
        )

    def close(self) -> None:
        self.payload.finish()
        self._member.close()
        self._zip.close()

    def abort(self) -> None:
        try:
            self._member.close()
            self._zip.close()
        except (OSError, ValueError, zipfile.BadZipFile):
            pass


def rewrite_manifest(
    source: IO[bytes], dest: IO[bytes], *, note: str, max_payload_bytes: int
) -> Manifest:
    """Copy an archive with a new note in its manifest (the payload is copied unchanged; the
    note is not associated data, so the archive still authenticates)."""
    with _opened(source) as archive:
        manifest, payload = _validated(archive, max_payload_bytes=max_payload_bytes)
        document = {**manifest.document, "note": note}
        with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as out:
            info = zipfile.ZipInfo(
                MANIFEST_NAME, date_time=archive.getinfo(MANIFEST_NAME).date_time
            )
            info.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(info, manifest_bytes(document))
            copy = zipfile.ZipInfo(PAYLOAD_NAME, date_time=payload.date_time)
            copy.compress_type = zipfile.ZIP_STORED
            try:
                with archive.open(payload) as reader, out.open(copy, "w", force_zip64=True) as w:
                    while chunk := reader.read(CHUNK_BYTES):
                        w.write(chunk)
            except (zipfile.BadZipFile, EOFError, ValueError) as exc:
                raise invalid("truncated", "The snapshot payload cannot be read") from exc
    return parse_manifest(manifest_bytes(document))

"""Snapshot content (the decrypted payload): every application table as JSON lines in a zip.

Version 2 layout: `tables/<table>.jsonl`, one JSON array per row with the values in the order
the index names, then `snapshot.json` = {format, version, schema_revision, created_at, tables:
[{name, columns, rows}]}. Secrets are in clear here: the payload is encrypted with the snapshot
password, so a snapshot restores under another `WFM_SECRET_KEY` (the target seals them with its
own key on insert). Staged configs travel as `node_config_state` rows (design.md: they live in the
database, not in files).

Version 1 (the original product): `database.json` = {"format": "application", "tables": {name:
[row objects]}} plus its `data/wireguard/…` files, which are skipped (the same texts are in
`node_config_state`). Its encodings (0/1 booleans, JSON as text, naive UTC timestamps), its
`backups` index (rebuilt from disk here) and its plaintext `mcp_tokens.token` (stored as a hash
here) are mapped; any other unknown table or column is refused.

Pure: streams in, streams out, the schema (SQLAlchemy tables) passed in. Every value is decoded
against the column it goes to — type, NULL, length, 32/64-bit range, text PostgreSQL can store —
so a restore fails before it touches the database, not halfway through.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, Integer, SmallInteger, String, Table

from wfm_core.db.types import EncryptedText, UtcDateTime
from wfm_core.ids import storable_id
from wfm_core.snapshots.archive import invalid, is_safe_member_name

CONTENT_FORMAT = "wfm-application-snapshot"
CONTENT_VERSION = 2
INDEX_NAME = "snapshot.json"
TABLES_DIR = "tables/"
LEGACY_DATABASE = "database.json"
LEGACY_FORMAT = "application"
# The original's snapshot index: here the index is rebuilt from the archives on disk.
LEGACY_IGNORED_TABLES = frozenset({"backups"})

MAX_INDEX_BYTES = 16 * 1024 * 1024
MAX_ROW_BYTES = 16 * 1024 * 1024
MAX_LEGACY_DATABASE_BYTES = 256 * 1024 * 1024
MAX_MEMBERS = 200_000
_ALLOWED_COMPRESSION = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_READ_ERRORS = (zipfile.BadZipFile, EOFError, zlib.error, OSError, ValueError)

Decode = Callable[[Any], Any]


# --- column codecs -------------------------------------------------------------------------------


def _storable(value: str) -> str:
    if not storable_id(value):
        raise ValueError("text holds a NUL character or an unpaired surrogate")
    return value


def _text(length: int | None) -> Decode:
    def decode(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("expected text")
        if length is not None and len(value) > length:
            raise ValueError(f"longer than {length} characters")
        return _storable(value)

    return decode


def _integer(bits: int) -> Decode:
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def decode(value: Any) -> int:
        if type(value) is not int:
            raise ValueError("expected an integer")
        if not low <= value <= high:
            raise ValueError(f"outside the {bits}-bit integer range")
        return value

    return decode


def _boolean(value: Any) -> bool:
    if type(value) is not bool:
        raise ValueError("expected true or false")
    return value


def _legacy_boolean(value: Any) -> bool:
    if type(value) is int and value in (0, 1):
        return bool(value)
    return _boolean(value)


def _timestamp(value: Any, *, naive_is_utc: bool = False) -> datetime:
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("expected an ISO-8601 timestamp")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError("expected an ISO-8601 timestamp") from exc
    if parsed.tzinfo is None:
        if not naive_is_utc:
            raise ValueError("timestamp has no UTC offset")
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _legacy_timestamp(value: Any) -> datetime:
    return _timestamp(value, naive_is_utc=True)


def _json_value(value: Any, depth: int = 0) -> Any:
    if depth > 64:
        raise ValueError("JSON nested too deeply")
    if isinstance(value, str):
        return _storable(value)
    if isinstance(value, list):
        return [_json_value(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {_storable(k): _json_value(v, depth + 1) for k, v in value.items()}
    return value


def _legacy_json(value: Any) -> Any:
    if isinstance(value, str):  # the original stored JSON columns as text
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ValueError("expected JSON text") from exc
    return _json_value(value)


@dataclass(frozen=True, slots=True)
class ColumnCodec:
    """How one column's values are written to and read from snapshot content."""

    name: str
    # A snapshot must carry it: NOT NULL and no default the insert could fill in.
    required: bool
    decode: Decode
    decode_legacy: Decode


def _nullable(decode: Decode, nullable: bool) -> Decode:
    def checked(value: Any) -> Any:
        if value is None:
            if nullable:
                return None
            raise ValueError("must not be null")
        return decode(value)

    return checked


def column_codec(column: Column[Any]) -> ColumnCodec:
    """The codec of a column type we store (TypeError for a type snapshots do not know yet)."""
    kind = column.type
    if isinstance(kind, UtcDateTime):  # written as ISO-8601 (_json_default)
        decode: Decode = _timestamp
        legacy: Decode = _legacy_timestamp
    elif isinstance(kind, EncryptedText):
        decode = legacy = _text(None)  # sealed with WFM_SECRET_KEY in the db, clear here
    elif isinstance(kind, JSON):
        decode, legacy = _json_value, _legacy_json
    elif isinstance(kind, Boolean):
        decode, legacy = _boolean, _legacy_boolean
    elif isinstance(kind, BigInteger):
        decode = legacy = _integer(64)
    elif isinstance(kind, SmallInteger):
        decode = legacy = _integer(16)
    elif isinstance(kind, Integer):
        decode = legacy = _integer(32)  # PostgreSQL's range, even when written by SQLite
    elif isinstance(kind, String):
        decode = legacy = _text(kind.length)
    else:
        raise TypeError(f"snapshots cannot carry {column.table.name}.{column.name} ({kind!r})")
    nullable = bool(column.nullable)
    required = (
        not nullable
        and column.default is None
        and column.server_default is None
        and not (column.primary_key and column.autoincrement is True)
    )
    return ColumnCodec(
        name=column.name,
        required=required,
        decode=_nullable(decode, nullable),
        decode_legacy=_nullable(legacy, nullable),
    )


class TableDecoder:
    """Turns rows of one table, with the columns a snapshot names, into insertable dicts."""

    def __init__(self, table: Table, columns: Sequence[str], *, legacy: bool) -> None:
        codecs = {column.name: column_codec(column) for column in table.columns}
        unknown = [name for name in columns if name not in codecs]
        if unknown:
            raise invalid(
                "unknown_column",
                f"The snapshot has columns this version does not know: {table.name}.{unknown[0]}",
                table=table.name,
                columns=unknown[:20],
            )
        if len(set(columns)) != len(columns):
            raise invalid("content_invalid", f"Duplicate column in {table.name}", table=table.name)
        missing = [c.name for c in codecs.values() if c.required and c.name not in columns]
        if missing:
            raise invalid(
                "missing_column",
                f"The snapshot lacks a required column: {table.name}.{missing[0]}",
                table=table.name,
                columns=missing,
            )
        self.table = table
        self.columns = list(columns)
        self._decoders = [
            codecs[name].decode_legacy if legacy else codecs[name].decode for name in columns
        ]

    def decode(self, values: Sequence[Any], *, row: int) -> dict[str, Any]:
        if len(values) != len(self.columns):
            raise invalid(
                "row_invalid",
                f"{self.table.name} row {row} has {len(values)} values, expected "
                f"{len(self.columns)}",
                table=self.table.name,
                row=row,
            )
        decoded: dict[str, Any] = {}
        for name, decode, value in zip(self.columns, self._decoders, values, strict=True):
            try:
                decoded[name] = decode(value)
            except ValueError as exc:
                raise invalid(
                    "row_invalid",
                    f"{self.table.name}.{name} in row {row}: {exc}",
                    table=self.table.name,
                    column=name,
                    row=row,
                ) from exc
        return decoded


# --- writing -------------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    # The only non-JSON values our columns hold (column_codec: UtcDateTime → ISO-8601).
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to a snapshot")


# One C-accelerated encoder for every row: datetimes go through `default`, the rest is JSON.
_LINE_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), default=_json_default, check_circular=False
)


class ContentWriter:
    """Writes version 2 content into a (possibly unseekable) byte stream, table by table:
    `begin(table)`, `write(rows)` any number of times, `end()`; then `close()`."""

    def __init__(
        self,
        sink: Any,
        *,
        schema_revision: str | None,
        created_at: datetime,
        compresslevel: int = 1,
    ) -> None:
        self._zip = zipfile.ZipFile(
            sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel
        )
        self._schema_revision = schema_revision
        self._created_at = created_at
        self._tables: list[dict[str, Any]] = []
        self._member: IO[bytes] | None = None
        self._width = 0
        self._current: dict[str, Any] = {}

    def begin(self, table: Table) -> None:
        if self._member is not None:
            raise RuntimeError("a table is still open")
        codecs = [column_codec(column) for column in table.columns]  # refuses unknown types
        self._width = len(codecs)
        self._current = {"name": table.name, "columns": [c.name for c in codecs], "rows": 0}
        self._member = self._zip.open(f"{TABLES_DIR}{table.name}.jsonl", "w", force_zip64=True)

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        """Rows with the values in column order (SQLAlchemy rows of `select(table)`)."""
        if self._member is None:
            raise RuntimeError("no table is open")
        if not rows:
            return
        width = self._width
        encode = _LINE_ENCODER.encode
        lines = []
        for row in rows:
            values = tuple(row)
            if len(values) != width:
                raise ValueError(f"expected {width} values, got {len(values)}")
            lines.append(encode(values))
        self._member.write(("\n".join(lines) + "\n").encode("utf-8"))
        self._current["rows"] += len(rows)

    def end(self) -> None:
        if self._member is None:
            raise RuntimeError("no table is open")
        self._member.close()
        self._member = None
        self._tables.append(self._current)

    def close(self) -> dict[str, Any]:
        """Write the index last and finish the zip; returns the index."""
        index = {
            "format": CONTENT_FORMAT,
            "version": CONTENT_VERSION,
            "schema_revision": self._schema_revision,
            "created_at": self._created_at.astimezone(UTC).isoformat(),
            "tables": self._tables,
        }
        self._zip.writestr(INDEX_NAME, json.dumps(index, indent=1).encode("utf-8"))
        self._zip.close()
        return index


# --- reading -------------------------------------------------------------------------------------


@dataclass
class TablePlan:
    decoder: TableDecoder
    rows: int
    member: str | None = None
    legacy_rows: list[Any] = field(default_factory=list)


def _legacy_row(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """The original's columns mapped to ours (only where the two differ)."""
    if table == "mcp_tokens" and "token" in row:
        # Stored as SHA-256 with a display prefix here (mcp_access.service.token_hash /
        # display_prefix: "wfm_mcp_" + 6 characters).
        token = row.pop("token")
        if isinstance(token, str):
            row.setdefault("token_hash", hashlib.sha256(token.encode("utf-8")).hexdigest())
            row.setdefault("token_prefix", token[:14])
    return row


class ContentReader:
    """Reads and checks decrypted content against the schema's tables (`tables`). Nothing is
    trusted until `validate()` has decoded every row; `batches()` then streams them."""

    def __init__(
        self,
        fileobj: IO[bytes],
        *,
        tables: Sequence[Table],
        max_content_bytes: int,
        known_revisions: Collection[str] | None = None,
    ) -> None:
        try:
            self._zip = zipfile.ZipFile(fileobj)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
            raise invalid("content_invalid", "The decrypted snapshot content is not a zip") from exc
        try:
            self._tables = {table.name: table for table in tables}
            self._known_revisions = known_revisions
            names = self._check_members(max_content_bytes)
            self.plans: dict[str, TablePlan] = {}
            self.schema_revision: str | None = None
            if INDEX_NAME in names:
                self.legacy = False
                self._load_index(names)
            elif LEGACY_DATABASE in names:
                self.legacy = True
                self._load_legacy(names)
            else:
                raise invalid("content_invalid", "The snapshot content has no table index")
        except BaseException:
            self._zip.close()
            raise

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> ContentReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _check_members(self, max_content_bytes: int) -> set[str]:
        infos = self._zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise invalid("content_invalid", "The snapshot content has too many members")
        total = 0
        names: set[str] = set()
        for info in infos:
            if not is_safe_member_name(info.filename):
                raise invalid(
                    "unsafe_path",
                    "The snapshot content holds an unsafe path",
                    member=info.filename[:200],
                )
            if info.filename in names:
                raise invalid("duplicate_member", "The snapshot content holds a member twice")
            if info.flag_bits & 0x1 or info.compress_type not in _ALLOWED_COMPRESSION:
                raise invalid("content_invalid", "Unsupported zip member in the snapshot content")
            names.add(info.filename)
            total += info.file_size
        if total > max_content_bytes:
            raise invalid(
                "too_large",
                "The snapshot content is larger than this deployment accepts",
                limit=max_content_bytes,
            )
        return names

    def _read_json(self, name: str, limit: int) -> Any:
        info = self._zip.getinfo(name)
        if info.file_size > limit:
            raise invalid("too_large", f"{name} is too large", limit=limit)
        try:
            with self._zip.open(info) as handle:
                return json.loads(handle.read(limit + 1))
        except _READ_ERRORS as exc:
            raise invalid("content_invalid", f"{name} is not valid JSON") from exc

    def _check_revision(self, revision: Any) -> None:
        if revision is not None and not isinstance(revision, str):
            raise invalid("content_invalid", "The snapshot's schema revision is invalid")
        self.schema_revision = revision
        known = self._known_revisions
        if known is not None and revision is not None and revision not in known:
            raise invalid(
                "schema_newer",
                "The snapshot was made by a newer version of WFM; upgrade before restoring it",
                schema_revision=revision,
            )

    def _table(self, name: Any) -> Table:
        table = self._tables.get(name) if isinstance(name, str) else None
        if table is None:
            raise invalid(
                "unknown_table",
                f"The snapshot has a table this version does not know: {str(name)[:64]}",
                table=str(name)[:64],
            )
        if table.name in self.plans:
            raise invalid("content_invalid", f"Table {table.name} appears twice")
        return table

    def _load_index(self, names: set[str]) -> None:
        index = self._read_json(INDEX_NAME, MAX_INDEX_BYTES)
        if (
            not isinstance(index, dict)
            or index.get("format") != CONTENT_FORMAT
            or index.get("version") != CONTENT_VERSION
            or not isinstance(index.get("tables"), list)
        ):
            raise invalid("content_invalid", "The snapshot content index is not supported")
        self._check_revision(index.get("schema_revision"))
        expected = {INDEX_NAME}
        for entry in index["tables"]:
            if not isinstance(entry, dict):
                raise invalid("content_invalid", "The snapshot content index is malformed")
            table = self._table(entry.get("name"))
            columns, rows = entry.get("columns"), entry.get("rows")
            if (
                not isinstance(columns, list)
                or not all(isinstance(c, str) for c in columns)
                or type(rows) is not int
                or rows < 0
            ):
                raise invalid("content_invalid", f"Index entry of {table.name} is malformed")
            member = f"{TABLES_DIR}{table.name}.jsonl"
            if member not in names:
                raise invalid("content_invalid", f"The rows of {table.name} are missing")
            expected.add(member)
            decoder = TableDecoder(table, columns, legacy=False)
            self.plans[table.name] = TablePlan(decoder=decoder, rows=rows, member=member)
        extra = sorted(names - expected)
        if extra:
            raise invalid(
                "unexpected_members",
                "The snapshot content holds unexpected files",
                members=[name[:200] for name in extra[:20]],
            )

    def _load_legacy(self, names: set[str]) -> None:
        extra = sorted(
            name
            for name in names
            if name != LEGACY_DATABASE
            and not name.endswith((".conf", "/"))
            and not name.endswith("wg_free_mesh.db")
        )
        if extra:
            raise invalid(
                "unexpected_members",
                "The snapshot content holds unexpected files",
                members=[name[:200] for name in extra[:20]],
            )
        database = self._read_json(LEGACY_DATABASE, MAX_LEGACY_DATABASE_BYTES)
        if (
            not isinstance(database, dict)
            or database.get("format", LEGACY_FORMAT) != LEGACY_FORMAT
            or not isinstance(database.get("tables"), dict)
        ):
            raise invalid("content_invalid", f"{LEGACY_DATABASE} is not an application dump")
        for name, rows in database["tables"].items():
            if name in LEGACY_IGNORED_TABLES:
                continue
            table = self._table(name)
            if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
                raise invalid("content_invalid", f"Rows of {table.name} are malformed")
            mapped = [_legacy_row(table.name, dict(row)) for row in rows]
            columns = list(mapped[0]) if mapped else [c.name for c in table.columns]
            for number, row in enumerate(mapped, start=1):
                if set(row) != set(columns):
                    raise invalid(
                        "row_invalid",
                        f"{table.name} row {number} has different columns than the first row",
                        table=table.name,
                        row=number,
                    )
            decoder = TableDecoder(table, columns, legacy=True)
            self.plans[table.name] = TablePlan(
                decoder=decoder,
                rows=len(mapped),
                legacy_rows=[[row[c] for c in columns] for row in mapped],
            )

    def _rows(self, plan: TablePlan) -> Iterator[list[Any]]:
        if plan.member is None:
            yield from plan.legacy_rows
            return
        name = plan.decoder.table.name
        try:
            with self._zip.open(plan.member) as handle:
                while line := handle.readline(MAX_ROW_BYTES + 1):
                    if len(line) > MAX_ROW_BYTES:
                        raise invalid("too_large", f"A row of {name} is too large", table=name)
                    values = json.loads(line)
                    if not isinstance(values, list):
                        raise invalid("row_invalid", f"A row of {name} is not a JSON array")
                    yield values
        except _READ_ERRORS as exc:
            raise invalid("content_invalid", f"The rows of {name} cannot be read") from exc

    def batches(self, table_name: str, size: int = 1000) -> Iterator[list[dict[str, Any]]]:
        """The decoded rows of a table in batches (none when the snapshot lacks the table)."""
        plan = self.plans.get(table_name)
        if plan is None:
            return
        decoder = plan.decoder
        batch: list[dict[str, Any]] = []
        count = 0
        for values in self._rows(plan):
            count += 1
            if count > plan.rows:
                break
            batch.append(decoder.decode(values, row=count))
            if len(batch) >= size:
                yield batch
                batch = []
        if count != plan.rows:
            raise invalid(
                "row_count",
                f"{table_name} holds {count} rows, its index says {plan.rows}",
                table=table_name,
            )
        if batch:
            yield batch

    def validate(self) -> dict[str, int]:
        """Decode every row once (nothing is written); {table: rows}."""
        counts: dict[str, int] = {}
        for name in self.plans:
            counts[name] = sum(len(batch) for batch in self.batches(name, 2000))
        return counts

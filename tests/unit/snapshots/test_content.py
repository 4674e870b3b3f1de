"""Snapshot content: column codecs against the real schema, writer → reader, and every kind of
content a reader refuses before anything is written."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wfm_core.db.registry import metadata
from wfm_core.errors import WfmError
from wfm_core.snapshots.content import ContentReader, ContentWriter, column_codec
from wfm_core.snapshots.service import EXCLUDED_TABLES, snapshot_tables

from .crafting import content, unzip, zip_bytes

TABLES = snapshot_tables()
CONFIGS = metadata.tables["configs"]
SETTINGS = metadata.tables["system_settings"]
NOW = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def _reader(data: bytes, **kwargs: Any) -> ContentReader:
    kwargs.setdefault("max_content_bytes", 1 << 30)
    return ContentReader(io.BytesIO(data), tables=TABLES, **kwargs)


def _refused(data: bytes, reason: str, **kwargs: Any) -> WfmError:
    with pytest.raises(WfmError) as exc, _reader(data, **kwargs) as reader:
        reader.validate()
    assert exc.value.code == "SNAPSHOT_INVALID_ARCHIVE", exc.value
    assert exc.value.detail["reason"] == reason, exc.value.detail
    return exc.value


def test_every_snapshot_column_has_a_codec() -> None:
    names = {table.name for table in TABLES}
    assert names == set(metadata.tables) - EXCLUDED_TABLES
    assert {"node_client_state", "mcp_tokens", "node_config_state", "port_forward_rules"} <= names
    for table in TABLES:
        for column in table.columns:
            column_codec(column)  # raises TypeError for a type snapshots cannot carry


def test_tables_come_parents_first() -> None:
    order = [table.name for table in TABLES]
    assert order.index("configs") < order.index("nodes") < order.index("node_client_state")
    assert order.index("mcp_tokens") < order.index("mcp_audit_logs")


def _settings_rows() -> list[tuple[Any, ...]]:
    return [("ui_locale", "zh-CN", NOW), ("mqtt_client", '{"host":"x"}', NOW)]


def test_writer_and_reader_round_trip() -> None:
    sink = io.BytesIO()
    writer = ContentWriter(sink, schema_revision="0003", created_at=NOW)
    writer.begin(SETTINGS)
    writer.write(_settings_rows())
    writer.write([])
    writer.end()
    writer.begin(CONFIGS)
    writer.end()
    index = writer.close()
    assert index["tables"] == [
        {"name": "system_settings", "columns": ["key", "value", "updated_at"], "rows": 2},
        {"name": "configs", "columns": [c.name for c in CONFIGS.columns], "rows": 0},
    ]
    members = unzip(sink.getvalue())
    assert members["tables/system_settings.jsonl"].decode().splitlines()[0] == (
        '["ui_locale","zh-CN","2026-05-06T07:08:09.123456+00:00"]'
    )
    with _reader(sink.getvalue(), known_revisions={"0003"}) as reader:
        assert reader.validate() == {"system_settings": 2, "configs": 0}
        rows = [row for batch in reader.batches("system_settings", 1) for row in batch]
        assert reader.schema_revision == "0003" and not reader.legacy
    assert rows == [
        {"key": "ui_locale", "value": "zh-CN", "updated_at": NOW},
        {"key": "mqtt_client", "value": '{"host":"x"}', "updated_at": NOW},
    ]
    assert list(_reader(sink.getvalue()).batches("nodes")) == []  # absent table: no rows


def test_writer_streams_into_an_unseekable_sink() -> None:
    class Unseekable:
        def __init__(self) -> None:
            self.data = bytearray()

        def write(self, chunk: bytes) -> int:
            self.data += chunk
            return len(chunk)

        def flush(self) -> None:
            pass

    sink = Unseekable()
    writer = ContentWriter(sink, schema_revision=None, created_at=NOW)
    writer.begin(SETTINGS)
    writer.write(_settings_rows() * 1000)
    writer.end()
    writer.close()
    with _reader(bytes(sink.data)) as reader:
        assert reader.validate() == {"system_settings": 2000}


SETTING_COLUMNS = ["key", "value", "updated_at"]
STAMP = "2026-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (["k", "v", "2026-01-01T00:00:00"], "no UTC offset"),
        (["k", "v", "yesterday"], "ISO-8601"),
        (["k" * 65, "v", STAMP], "longer than 64"),
        (["k", None, STAMP], "must not be null"),
        (["k", 5, STAMP], "expected text"),
        (["k\x00", "v", STAMP], "NUL"),
        (["k", "v"], "2 values"),
    ],
)
def test_rows_are_decoded_against_their_columns(value: list[Any], problem: str) -> None:
    data = content({"system_settings": (SETTING_COLUMNS, [value])})
    error = _refused(data, "row_invalid")
    assert problem in error.message


def test_integers_keep_to_the_postgresql_range() -> None:
    columns = [c.name for c in CONFIGS.columns]
    row = _config_row()
    row[columns.index("default_listen_port")] = 2**31
    error = _refused(content({"configs": (columns, [row])}), "row_invalid")
    assert "32-bit" in error.message
    row[columns.index("default_listen_port")] = True
    _refused(content({"configs": (columns, [row])}), "row_invalid")


def _config_row() -> list[Any]:
    values = {
        "id": "cfg_000000000001",
        "name": "lab",
        "description": "",
        "enabled": True,
        "virtual_subnet": "10.0.0.0/24",
        "default_listen_port": 51820,
        "default_mtu": None,
        "default_dns": None,
        "auto_sync": True,
        "tunnel_protocol": "wireguard",
        "awg_version": None,
        "awg_options_json": {},
        "topology_error_count": 0,
        "peer_link_count": 0,
        "revision": 3,
        "created_at": STAMP,
        "updated_at": STAMP,
    }
    return [values.get(c.name) for c in CONFIGS.columns]


def test_a_valid_config_row_decodes() -> None:
    columns = [c.name for c in CONFIGS.columns]
    with _reader(content({"configs": (columns, [_config_row()])})) as reader:
        (row,) = next(reader.batches("configs"))
    assert row["enabled"] is True and row["awg_options_json"] == {}
    assert row["created_at"] == datetime(2026, 1, 1, tzinfo=UTC)


def test_offsets_are_normalised_to_utc() -> None:
    data = content(
        {"system_settings": (SETTING_COLUMNS, [["k", "v", "2026-01-01T02:00:00+02:00"]])}
    )
    with _reader(data) as reader:
        (row,) = next(reader.batches("system_settings"))
    assert row["updated_at"] == datetime(2026, 1, 1, tzinfo=UTC)
    assert row["updated_at"].utcoffset() == timedelta(0)


def test_unknown_tables_and_columns_are_refused() -> None:
    _refused(content({"users": (["id"], [])}), "unknown_table")
    _refused(content({"outbox": (["id"], [])}), "unknown_table")  # never carried
    _refused(
        content({"system_settings": ([*SETTING_COLUMNS, "owner"], [["k", "v", STAMP, "x"]])}),
        "unknown_column",
    )
    _refused(content({"system_settings": (["value"], [["v"]])}), "missing_column")


def test_columns_with_defaults_may_be_missing() -> None:
    """A snapshot of an older schema lacks columns added since; their defaults fill them in."""
    data = content({"system_settings": (["key", "value"], [["k", "v"]])})
    with _reader(data) as reader:
        assert next(reader.batches("system_settings")) == [{"key": "k", "value": "v"}]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (zip_bytes({"x": b""}), "content_invalid"),
        (b"not a zip", "content_invalid"),
        (content({}, index_overrides={"format": "other"}), "content_invalid"),
        (content({}, index_overrides={"version": 3}), "content_invalid"),
        (content({}, index_overrides={"tables": [{"name": "configs"}]}), "content_invalid"),
        (content({}, extra={"tables/../../../etc/passwd": b"x"}), "unsafe_path"),
        (content({}, extra={"/etc/passwd": b"x"}), "unsafe_path"),
        (content({}, extra={"notes.txt": b"x"}), "unexpected_members"),
        (
            zip_bytes(
                {
                    "snapshot.json": json.dumps(
                        {
                            "format": "wfm-application-snapshot",
                            "version": 2,
                            "tables": [{"name": "configs", "columns": [], "rows": 0}],
                        }
                    ).encode()
                }
            ),
            "content_invalid",  # rows file missing
        ),
    ],
)
def test_malformed_content(data: bytes, reason: str) -> None:
    _refused(data, reason)


def test_newer_schema_is_refused() -> None:
    data = content({}, schema_revision="9999")
    _refused(data, "schema_newer", known_revisions={"0001", "0002", "0003"})


def test_row_count_must_match_the_index() -> None:
    data = content(
        {"system_settings": (SETTING_COLUMNS, [["a", "v", STAMP]])},
        index_overrides={
            "tables": [{"name": "system_settings", "columns": SETTING_COLUMNS, "rows": 2}]
        },
    )
    _refused(data, "row_count")


def test_zip_bombs_stop_at_the_content_limit() -> None:
    bomb = b"[" + b" " * 5_000_000 + b"]\n"  # deflates to a few KB
    data = content(
        {"system_settings": (SETTING_COLUMNS, [])},
        extra={"tables/system_settings.jsonl": bomb},
    )
    assert len(data) < 100_000
    _refused(data, "too_large", max_content_bytes=1_000_000)


def test_legacy_database_json_is_mapped() -> None:
    database = {
        "format": "application",
        "tables": {
            "system_settings": [
                {"key": "ui_theme_mode", "value": "dark", "updated_at": "2025-01-01T00:00:00"}
            ],
            "mcp_tokens": [
                {
                    "id": "mcp_000000000001",
                    "name": "ci",
                    "token": "wfm_mcp_abcdefghijklmnop",
                    "permission": "read",
                    "expires_at": "2030-01-01T00:00:00+00:00",
                    "revoked_at": None,
                    "created_at": "2025-01-01T00:00:00+00:00",
                    "updated_at": "2025-01-01T00:00:00+00:00",
                }
            ],
            "backups": [{"id": "snap_1", "name": "x.zip"}],
        },
    }
    data = zip_bytes(
        {"database.json": json.dumps(database).encode(), "data/wireguard/c/n.conf": b"[Interface]"}
    )
    with _reader(data) as reader:
        assert reader.legacy
        assert reader.validate() == {"system_settings": 1, "mcp_tokens": 1}
        (setting,) = next(reader.batches("system_settings"))
        (token,) = next(reader.batches("mcp_tokens"))
    assert setting["updated_at"] == datetime(2025, 1, 1, tzinfo=UTC)
    assert token["token_prefix"] == "wfm_mcp_abcdef" and len(token["token_hash"]) == 64
    assert "token" not in token


def test_legacy_encodings() -> None:
    database = {
        "tables": {
            "configs": [
                {
                    **dict(zip([c.name for c in CONFIGS.columns], _config_row(), strict=True)),
                    "enabled": 1,
                    "auto_sync": 0,
                    "awg_options_json": '{"a": 1}',
                    "created_at": "2025-01-01T00:00:00",
                }
            ]
        }
    }
    with _reader(zip_bytes({"database.json": json.dumps(database).encode()})) as reader:
        (row,) = next(reader.batches("configs"))
    assert (row["enabled"], row["auto_sync"], row["awg_options_json"]) == (True, False, {"a": 1})
    assert row["created_at"] == datetime(2025, 1, 1, tzinfo=UTC)

"""Typed settings: every `WFM_*` variable (reference.md §13.3) read in one place."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Values shipped in examples; refused outside debug/dev mode (the template's `changethis` lesson).
PLACEHOLDER_SECRETS = frozenset({"", "changethis", "change-me", "wfm-internal-emqx-authz"})
DEV_SECRET_KEY = "wfm-dev-secret-key-not-for-production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WFM_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    debug: bool = False
    enable_dev_test_api: bool = False
    timezone: str = "Asia/Shanghai"
    auth_token_expire_minutes: int = Field(default=1440, ge=1, le=525600)
    auth_download_token_expire_minutes: int = Field(default=5, ge=1, le=1440)
    public_origin: str | None = None
    extra_allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    app_port: int = Field(default=8000, ge=1, le=65535)
    gateway_client_max_body_size: str = "512m"

    data_dir: Path = Path("./data")
    database: str = "sqlite:///./data/wg_free_mesh.db"
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_connect_timeout_seconds: float = Field(default=60.0, ge=0)
    migrate_on_start: bool = True
    redis_url: str = "redis://127.0.0.1:6379/0"
    secret_key: str = DEV_SECRET_KEY

    enable_mqtt_services: bool = True
    mqtt_broker: str = Field(default="emqx", pattern="^(emqx|mosquitto)$")
    mqtt_url: str = "mqtt://emqx:1883"
    mqtt_public_host: str | None = None
    mqtt_public_port: int = Field(default=1883, ge=1, le=65535)
    mqtt_public_tls_port: int = Field(default=8883, ge=1, le=65535)
    mqtt_tls_enabled: bool = False
    # The node agent zipapp the API serves (default <data_dir>/artifacts/wfm-agent.pyz).
    agent_artifact: Path | None = None
    # CA certificate given to clients at bind when client TLS is on (<data_dir>/certs/ca.crt).
    mqtt_ca_file: Path | None = None
    emqx_api_base_url: str = "http://emqx:18083"
    emqx_username: str = "admin"
    emqx_password: str = "public"
    emqx_node_cookie: str = "wfm-emqx-cookie"
    emqx_authz_shared_key: str = "wfm-internal-emqx-authz"
    emqx_authz_url: str = "http://emqx-sync:8002/api/internal/emqx/authz"
    # The services' own MQTT account (mqtt-ingest). Unset: the EMQX superuser of §6.1.
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    mqtt_share_group: str = Field(default="wfm-ingest", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # mqtt-ingest's own HTTP port (/healthz, /metrics).
    ingest_port: int = Field(default=8003, ge=1, le=65535)
    # Mosquitto dynamic security admin (`mosquitto_ctrl dynsec init`), used by emqx-sync only.
    mosquitto_admin_username: str = "wfm-admin"
    mosquitto_admin_password: str = ""
    # emqx-sync: full reconcile period, and how long an authz answer's node lookup is reused.
    broker_sync_interval_seconds: float = Field(default=60.0, gt=0, le=86400)
    emqx_authz_cache_seconds: float = Field(default=5.0, ge=0, le=60)
    # Control channel timers (reference.md §6.6).
    control_ack_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    detect_interval_seconds: float = Field(default=120.0, gt=0, le=86400)
    detect_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    client_online_ttl_seconds: float = Field(default=5400.0, gt=0)
    autopush_debounce_seconds: float = Field(default=0.3, ge=0, le=0.5)
    # Snapshots (<data_dir>/backups): the largest archive accepted for import, and the most
    # bytes a payload may decompress to (zip bombs stop there).
    snapshot_max_archive_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    snapshot_max_content_bytes: int = Field(default=4 * 1024 * 1024 * 1024, ge=1024)

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"WFM_TIMEZONE is not an IANA time zone: {value!r}") from exc
        return value

    @field_validator("extra_allowed_origins", "cors_origins", mode="before")
    @classmethod
    def _json_or_comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return []
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        production = not (self.debug or self.enable_dev_test_api) and self.public_origin
        if production and self.secret_key in PLACEHOLDER_SECRETS | {DEV_SECRET_KEY}:
            raise ValueError("WFM_SECRET_KEY must be set to a real secret in production")
        return self

    @property
    def async_database_url(self) -> str:
        """`WFM_DATABASE` with the async driver we use (aiosqlite / asyncpg)."""
        return async_database_url(self.database)

    @property
    def is_sqlite(self) -> bool:
        return self.async_database_url.startswith("sqlite")

    @property
    def agent_artifact_path(self) -> Path:
        return self.agent_artifact or self.data_dir / "artifacts" / "wfm-agent.pyz"

    @property
    def backups_dir(self) -> Path:
        """Where snapshot archives live (a volume in compose); the index is rebuilt from it."""
        return self.data_dir / "backups"

    @property
    def mqtt_ca_path(self) -> Path:
        return self.mqtt_ca_file or self.data_dir / "certs" / "ca.crt"

    @property
    def backend_mqtt_username(self) -> str:
        return self.mqtt_username or self.emqx_username

    @property
    def backend_mqtt_password(self) -> str:
        return self.mqtt_password if self.mqtt_password is not None else self.emqx_password

    @property
    def public_host(self) -> str | None:
        if not self.public_origin:
            return None
        return urlsplit(self.public_origin).hostname


def async_database_url(url: str) -> str:
    """Map the sync URLs users write (`sqlite:///…`, `postgresql://…`, psycopg) to async drivers."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"WFM_DATABASE is not a URL: {url!r}")
    base = scheme.split("+", 1)[0]
    if base == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    if base in ("postgresql", "postgres"):
        return f"postgresql+asyncpg://{rest}"
    raise ValueError(f"WFM_DATABASE must be sqlite or postgresql, got {scheme!r}")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process settings (cached; tests call `get_settings.cache_clear()`)."""
    return Settings()

"""Request and response models of the auth domain (reference.md §2.3 "Auth")."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from wfm_core.auth.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from wfm_core.schemas import RequestModel, ResponseModel

Locale = Literal["zh-CN", "en-US"]


class AuthState(ResponseModel):
    setup_required: bool
    authenticated: bool
    username: str | None = None
    display_name: str | None = None
    expires_at: datetime | None = None


class TokenSession(AuthState):
    access_token: str
    token_type: Literal["bearer"] = "bearer"


class _PasswordModel(RequestModel):
    """Passwords are taken byte for byte: no whitespace stripping."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class SetupRequest(_PasswordModel):
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)
    locale: Locale = "en-US"


class LoginRequest(_PasswordModel):
    username: str = Field(default="admin", max_length=64)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class PasswordChangeRequest(_PasswordModel):
    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    new_password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)


class MessageRead(ResponseModel):
    message: str


class DownloadTokenRead(ResponseModel):
    access_token: str
    token_type: Literal["download"] = "download"
    expires_at: datetime
    download_path: str
    filename: str


class StreamTicketRead(ResponseModel):
    ticket: str
    expires_at: datetime
    stream_path: str

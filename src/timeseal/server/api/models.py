"""Request and response bodies of the accounts API (they make /openapi.json)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SmsCodeRequest(_Body):
    phone: str = Field(max_length=64, examples=["138 1234 5678"])
    device_token: str | None = Field(
        default=None,
        max_length=200,
        description="The device_token an earlier login with this number returned (kind=token; "
        "browsers send the ts_device cookie instead): exempts this client from the number's "
        "overall daily cap on codes, which strangers may have spent.",
    )


class SmsCodeSent(BaseModel):
    phone: str = Field(description="The number in E.164, e.g. +8613812345678.")
    expires_in: int = Field(description="Seconds the code stays valid.")
    resend_after: int = Field(description="Seconds before another code may be requested.")


class LoginRequest(_Body):
    phone: str = Field(max_length=64)
    code: str = Field(max_length=16, examples=["123456"])
    kind: Literal["session", "token"] = Field(
        default="session",
        description="session: a browser cookie (HttpOnly, SameSite=Lax); "
        "token: an API token for the command-line client, returned once.",
    )
    token_name: str | None = Field(default=None, min_length=1, max_length=100)
    token_expires_in_days: int = Field(
        default=90, ge=1, le=365, description="kind=token: days until the token expires."
    )
    token_scope: Literal["full", "read"] = Field(
        default="full", description="kind=token: full, or read (cannot upload or change)."
    )


class AccountOut(BaseModel):
    id: int
    phone: str
    created_at: dt.datetime
    last_login_at: dt.datetime


class SessionOut(BaseModel):
    id: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime = Field(description="Absolute expiry; idle sessions end sooner.")
    ip: str
    user_agent: str
    current: bool = Field(description="The session this request was made with.")


class TokenOut(BaseModel):
    id: str
    name: str
    hint: str = Field(description="The token's last characters, to recognise it.")
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime = Field(description="The token stops working at this time.")
    scope: Literal["full", "read"] = Field(
        description="full: everything the account may do (but create tokens); read: only "
        "GET and HEAD requests."
    )
    current: bool = Field(description="The token this request was made with.")


class NewToken(TokenOut):
    token: str = Field(description="The secret (ts_…). Shown only in this answer.")


class LoginResult(BaseModel):
    account: AccountOut
    kind: Literal["session", "token"]
    session: SessionOut | None = None
    csrf_token: str | None = Field(
        default=None,
        description="For a session: send it back in the X-CSRF-Token header (or a csrf_token "
        "form field) with every POST, PUT, PATCH and DELETE. Also in the ts_csrf cookie.",
    )
    token: NewToken | None = None
    device_token: str | None = Field(
        default=None,
        description="kind=token only (a session gets the ts_device cookie): keep it and send it "
        "with later code requests for this number (POST /auth/sms-code), so that strangers "
        "asking for codes for it cannot keep this client out. Valid for 90 days.",
    )


class CreateTokenRequest(_Body):
    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int = Field(default=90, ge=1, le=365, description="Days until it expires.")
    scope: Literal["full", "read"] = Field(
        default="full", description="full, or read: GET and HEAD only (no uploads, no changes)."
    )


class Revoked(BaseModel):
    revoked: int


# --- public verification (no login) --------------------------------------------------------


class PublicTimestamp(BaseModel):
    """What the record's RFC 3161 token says (TSTInfo), as the TSA signed it."""

    gen_time: dt.datetime = Field(description="TSTInfo genTime (UTC).")
    serial_number: str = Field(description="TSTInfo serialNumber, hexadecimal.")
    policy: str = Field(description="TSTInfo policy OID.")
    hash_algorithm: str = Field(examples=["sha256"])
    token_sha256: str = Field(description="SHA-256 of the TimeStampToken DER (in the log).")


class PublicLog(BaseModel):
    sequenced: bool = Field(description="Whether the public log has given the record a leaf.")
    leaf_index: int | None = Field(description="The record's leaf in the log, once sequenced.")


class PublicEvidence(BaseModel):
    """The public facts of a sealed record: never its title, file name, content or owner."""

    number: str = Field(examples=["TS-20261129-7Q4K-M2XD"])
    kind: str
    size: int = Field(description="Bytes.")
    sha256: str = Field(description="SHA-256 of the content, lowercase hex.")
    sealed_at: dt.datetime = Field(description="When the record was sealed (UTC).")
    timestamp: PublicTimestamp
    log: PublicLog
    status: Literal["sealed", "superseded"] = Field(
        description="superseded: a later record corrects this one (records never change)."
    )
    superseded_by: list[str] = Field(description="Numbers of the records that correct this one.")
    supersedes: str | None = Field(description="The record this one corrects, if any.")


class PublicEvidenceMatches(BaseModel):
    sha256: str
    items: list[PublicEvidence] = Field(description="Records sealing exactly this content.")

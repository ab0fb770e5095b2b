"""The tables of accounts, sessions, API tokens and the login-code limits.

Tables (times are milliseconds since 1970, UTC):

- ``accounts``       one per phone number (E.164), created on the first successful login.
- ``auth_phones``    one per phone number that asked for a code or tried one: the number's
                     lock row (:mod:`timeseal.store.login_codes`), nothing else.
- ``login_codes``    the one-time codes sent, one per (number, client): the code (an HMAC,
                     never the digits), when it was sent and expires, its wrong guesses, when
                     it was used. A client's new code replaces its own previous one only.
- ``auth_clients``   one per client IP: the IP's lock row; and the SMS budget's lock row.
- ``auth_events``    when each counted action happened (a code sent to a number, for an IP, to
                     one IP for one number, or at all; a failed login from an IP, or from one
                     IP for one number), for the sliding-window limits and the back-off.
- ``auth_sessions``  browser sessions: SHA-256 of the cookie secret, last activity, absolute
                     expiry, revocation.
- ``api_tokens``     command-line tokens: SHA-256 of the token, its name, scope (``full`` or
                     ``read``), expiry, last use, revocation.

Secrets (session cookies, API tokens) carry 256 random bits, so an unsalted SHA-256 is enough to
make a stolen database useless for logging in; login codes carry only 20 bits and are therefore
keyed with the server secret (see ``timeseal.server.accounts.service``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
)

from timeseal.store.db import ID_TYPE, metadata

accounts = Table(
    "accounts",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("phone", String(16), nullable=False, unique=True),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("last_login_at_ms", BigInteger, nullable=False),
)

auth_phones = Table(
    "auth_phones",
    metadata,
    Column("phone", String(16), primary_key=True),
    Column("updated_at_ms", BigInteger, nullable=False),
)

login_codes = Table(
    "login_codes",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("phone", String(16), nullable=False),
    # who asked: login_codes.client_subject(phone, IP or known device), as in auth_events
    Column("client_key", String(80), nullable=False),
    Column("code_hash", LargeBinary(32), nullable=False),
    Column("sent_at_ms", BigInteger, nullable=False),
    Column("expires_at_ms", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),  # wrong guesses while it was live
    Column("used_at_ms", BigInteger, nullable=True),
    UniqueConstraint("phone", "client_key"),
)

auth_clients = Table(
    "auth_clients",
    metadata,
    Column("ip", String(64), primary_key=True),
    Column("updated_at_ms", BigInteger, nullable=False),
)

auth_events = Table(
    "auth_events",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    # "phone:+86…", "ip:…", "sms" (the SMS budget) or "client:<hash of number and IP>"
    Column("subject", String(80), nullable=False),
    Column("kind", String(16), nullable=False),  # "code_sent" or "login_failed"
    Column("at_ms", BigInteger, nullable=False),
    Index("ix_auth_events_subject_kind_at", "subject", "kind", "at_ms"),
)

auth_sessions = Table(
    "auth_sessions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", ID_TYPE, ForeignKey("accounts.id"), nullable=False),
    Column("secret_hash", LargeBinary(32), nullable=False, unique=True),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("last_seen_at_ms", BigInteger, nullable=False),
    Column("expires_at_ms", BigInteger, nullable=False),
    Column("revoked_at_ms", BigInteger, nullable=True),
    Column("ip", String(64), nullable=False),
    Column("user_agent", String(255), nullable=False),
    Index("ix_auth_sessions_account_id", "account_id"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", ID_TYPE, ForeignKey("accounts.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("secret_hash", LargeBinary(32), nullable=False, unique=True),
    Column("hint", String(8), nullable=False),  # the token's last characters, to tell them apart
    Column("created_at_ms", BigInteger, nullable=False),
    Column("last_used_at_ms", BigInteger, nullable=True),
    Column("revoked_at_ms", BigInteger, nullable=True),
    Column("expires_at_ms", BigInteger, nullable=False),
    Column("scope", String(8), nullable=False),  # one of TOKEN_SCOPES
    Index("ix_api_tokens_account_id", "account_id"),
)

#: What a token may do: ``full`` everything its account may (but create tokens), ``read`` only
#: safe methods (GET, HEAD, OPTIONS).
TOKEN_SCOPES = ("full", "read")

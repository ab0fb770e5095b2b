"""The vault's tables: uploads, sealed records, and each record's chain of custody.

Tables::

    evidence_uploads    one tus upload: owner, declared length and SHA-256, metadata; ``number``
                        once its record is sealed (how a retry finds the record again)
    evidence_records    one sealed item: immutable once inserted, except ``leaf_index``, which
                        the log's sequencer assigns later (NULL until then, set once)
    evidence_custody    append-only trail per record: uploaded, sealed, viewed, downloaded,
                        shared, share_opened; actor account, time, client IP. Share views
                        (``share_opened``) are aggregated: one row per link, client and UTC
                        day (``share_id``, ``view_day``), first time in ``at_ms``, last in
                        ``last_at_ms``, how many in ``views`` (1 for every other row)
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from timeseal.store.db import ID_TYPE, metadata

CustodyAction = Literal["uploaded", "sealed", "viewed", "downloaded", "shared", "share_opened"]
CUSTODY_ACTIONS: tuple[str, ...] = (
    "uploaded",
    "sealed",
    "viewed",
    "downloaded",
    "shared",
    "share_opened",
)

evidence_uploads = Table(
    "evidence_uploads",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("owner_id", ID_TYPE, ForeignKey("accounts.id"), nullable=False),
    Column("length", BigInteger, nullable=False),
    Column("sha256", LargeBinary(32), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("media_type", String(127), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("title", String(255), nullable=False),
    Column("capture", Text, nullable=False),  # JSON object
    Column("supersedes", String(24), nullable=True),
    Column("client_ip", String(64), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("number", String(24), nullable=True),
    # When this upload's own bytes were hashed, matched its declared SHA-256 and were handed
    # to the blob store: only then may it be sealed without its staging (issue 12).
    Column("received_at_ms", BigInteger, nullable=True),
    Index("ix_evidence_uploads_owner", "owner_id", "number"),
)

evidence_records = Table(
    "evidence_records",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("number", String(24), nullable=False, unique=True),
    Column("owner_id", ID_TYPE, ForeignKey("accounts.id"), nullable=False),
    Column("upload_id", String(64), nullable=True, unique=True),
    Column("kind", String(32), nullable=False),
    Column("title", String(255), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("media_type", String(127), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content_sha256", LargeBinary(32), nullable=False),
    Column("capture", Text, nullable=False),  # JSON object
    Column("tsr_der", LargeBinary, nullable=False),  # the RFC 3161 TimeStampResp
    Column("token_sha256", LargeBinary(32), nullable=False),
    Column("log_entry_id", BigInteger, nullable=False),
    Column("leaf_index", BigInteger, nullable=True),
    Column("supersedes", String(24), nullable=True),
    Column("created_at_ms", BigInteger, nullable=False),
    Index("ix_evidence_records_owner_created", "owner_id", "created_at_ms"),
    # The public lookups: by content (the verify page's file check), by token, by correction.
    Index("ix_evidence_records_content", "content_sha256"),
    Index("ix_evidence_records_token", "token_sha256"),
    Index("ix_evidence_records_supersedes", "supersedes"),
)

evidence_custody = Table(
    "evidence_custody",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("record_id", ID_TYPE, ForeignKey("evidence_records.id"), nullable=False),
    Column("action", String(16), nullable=False),
    Column("actor_id", ID_TYPE, ForeignKey("accounts.id"), nullable=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("client_ip", String(64), nullable=False),
    Column("share_id", ID_TYPE, ForeignKey("evidence_shares.id"), nullable=True),
    Column("view_day", Integer, nullable=True),  # share views: days since 1970-01-01 (UTC)
    Column("last_at_ms", BigInteger, nullable=True),  # share views: the latest one
    Column("views", Integer, nullable=False),  # share views: how many; 1 for other rows
    Index("ix_evidence_custody_record", "record_id", "id"),
    Index(
        "ix_evidence_custody_share_view",
        "record_id",
        "share_id",
        "view_day",
        "client_ip",
        unique=True,
    ),
)

#: The ``client_ip`` of the row that counts a day's share views from clients past
#: ``note_share_view``'s ``max_clients`` (which keeps one link's rows a day bounded).
OTHER_CLIENTS = "(others)"

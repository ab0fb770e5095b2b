"""The tables of live browser recordings (docs/segment-chain.md), and a recording's states.

Tables::

    recordings          one recording: owner, kind, media type, what the browser declared,
                        its state, the chain's head and how far it is sealed; once closed, the
                        end link and its token (normal stop) and the evidence number it became
    recording_chunks    one received chunk: index, size, SHA-256 (its bytes are a blob, like
                        any content), its link, and the token over that link once it has one

States: ``recording`` → ``finishing`` → ``finished`` (a normal stop), or ``recording`` →
``cutting_off`` → ``cut_off`` (the housekeeper, after no chunk for a while). The middle states
are claimed by one conditional update, so a chunk never lands in a recording that is being
closed, and a closer that crashed can be finished by a retry. A chunk row is appended only
where the recording still expects that index (``chunks == index``): two requests racing with
the same index chain it once.
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
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from timeseal.store.db import ID_TYPE, metadata

RecordingState = Literal["recording", "finishing", "finished", "cutting_off", "cut_off"]
#: States in which the recording takes no more chunks.
CLOSED_STATES = ("finishing", "finished", "cutting_off", "cut_off")

recordings = Table(
    "recordings",
    metadata,
    Column("id", String(32), primary_key=True),  # the recording id, 32 lowercase hex
    Column("owner_id", ID_TYPE, ForeignKey("accounts.id"), nullable=False),
    Column("kind", String(32), nullable=False),  # camera_recording | screen_recording
    Column("mime_type", String(127), nullable=False),
    Column("title", String(255), nullable=True),
    Column("case_id", ID_TYPE, ForeignKey("evidence_cases.id"), nullable=True),
    Column("declared", Text, nullable=False),  # JSON: location, browser_environment
    Column("client_ip", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("chunks", Integer, nullable=False),  # received and chained: the next index
    Column("bytes", BigInteger, nullable=False),  # their total size
    Column("head", LargeBinary(32), nullable=False),  # the newest link
    Column("sealed_through", Integer, nullable=True),  # newest chunk index with a token
    Column("first_token_ms", BigInteger, nullable=True),
    Column("last_token_ms", BigInteger, nullable=True),
    Column("started_at_ms", BigInteger, nullable=False),
    Column("last_chunk_at_ms", BigInteger, nullable=False),  # activity, for the cut-off
    Column("ended_at_ms", BigInteger, nullable=True),
    Column("joined_sha256", LargeBinary(32), nullable=True),  # the concatenated file
    Column("joined_size", BigInteger, nullable=True),
    Column("end_link", LargeBinary(32), nullable=True),
    Column("end_tsr", LargeBinary, nullable=True),
    Column("end_token_ms", BigInteger, nullable=True),
    Column("evidence_number", String(24), nullable=True),
    Index("ix_recordings_owner", "owner_id", "evidence_number"),
    Index("ix_recordings_activity", "state", "last_chunk_at_ms"),  # the cut-off sweep
)

recording_chunks = Table(
    "recording_chunks",
    metadata,
    Column("recording_id", String(32), ForeignKey("recordings.id"), nullable=False),
    Column("chunk_index", Integer, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", LargeBinary(32), nullable=False),
    Column("link", LargeBinary(32), nullable=False),
    Column("tsr", LargeBinary, nullable=True),  # RFC 3161 TimeStampResp over ``link``
    Column("token_ms", BigInteger, nullable=True),  # its genTime
    Column("received_at_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("recording_id", "chunk_index"),
)

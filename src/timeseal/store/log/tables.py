"""The Merkle log's tables: entries, tiles and the signed tree state.

Tables:

- ``log_entries``  every appended entry (canonical bytes, its RFC 6962 leaf hash) and, once
                   sequenced, its ``leaf_index``. Appending is an INSERT; it is durable when
                   its transaction commits (the TSA inserts in the same transaction as the
                   issuance journal, before the token is sent).
- ``log_tiles``    C2SP tlog-tiles hash tiles and entry bundles, by path. Rows are only ever
                   inserted: a full tile never changes, and a partial tile has its own path.
- ``log_state``    one row: tree size, root hash, the right-edge hashes (``TreeState``) and
                   the signed checkpoint for that size (and the witness-cosigned one).
- ``log_witnesses`` each configured witness's last cosigned size and last attempt (its
                   error, if it failed), which ``/healthz`` shows and the sequencer's
                   catching up reads.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, String, Table

from timeseal.store.db import metadata

log_entries = Table(
    "log_entries",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("data", LargeBinary, nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("leaf_index", BigInteger, nullable=True, unique=True),
    Index("ix_log_entries_leaf_hash", "leaf_hash"),
)

log_tiles = Table(
    "log_tiles",
    metadata,
    Column("path", String(96), primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

log_state = Table(
    "log_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("edge", LargeBinary, nullable=False),  # TreeState.hashes, concatenated
    Column("checkpoint", LargeBinary, nullable=False),  # signed note
    Column("cosigned_checkpoint", LargeBinary, nullable=True),  # same size, with cosignatures
    Column("updated_at_ms", BigInteger, nullable=False),
)

log_witnesses = Table(
    "log_witnesses",
    metadata,
    Column("url", String(512), primary_key=True),
    Column("key_label", String(255), nullable=False),
    Column("cosigned_size", BigInteger, nullable=True),  # None: never cosigned
    Column("cosigned_at_ms", BigInteger, nullable=True),
    Column("tried_at_ms", BigInteger, nullable=False),
    Column("error", String(500), nullable=True),  # the last attempt's; None: it cosigned
)

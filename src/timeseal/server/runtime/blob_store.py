"""Opening the data directory's blob store, and refusing any other.

The database says which files exist; the blob store holds their bytes. A data directory whose
files are in S3, started without ``TIMESEAL_BLOB_URL`` (or with another bucket, prefix or
endpoint), used to run on an empty ``<data-dir>/blobs``: every download answered 404 and new
uploads went where the operator's backups do not look. Now the store carries a label
(:data:`~timeseal.store.blobs.LABEL_NAME`) naming the database its records are in, and
:func:`check_blob_store` compares it with the data directory's database before anything is
written to the store:

1. A label naming another database: refused.
2. No label, and the data directory was bound to a store before (``config.json``
   ``blobs.bound``): refused (a wrong or emptied store).
3. No label, first start with this check: if the database holds sealed records and the store
   has none of the newest few files, refused (the files are elsewhere); otherwise the store is
   labelled and ``config.json`` records where it was, for messages.

Every process that serves files goes through here after the database check
(:mod:`.runtime.database`): ``timeseal serve`` before any worker starts, and each worker's
lifespan.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from sqlalchemy import Engine, select

from timeseal.server.runtime import datadir
from timeseal.server.runtime.configuration import BlobsConfig, DataDirError
from timeseal.store.blobs import BLOB_URL_ENV, LABEL_NAME, BlobStore
from timeseal.store.evidence.tables import evidence_records

log = logging.getLogger("timeseal.server")

#: How many of the newest sealed files an unlabelled store must hold one of to be adopted.
SAMPLE = 5


class BlobStoreMismatch(DataDirError):
    """The blob store is not the one this data directory's files are in."""


def blob_location(url: str | None) -> str:
    """``TIMESEAL_BLOB_URL`` as recorded and shown: empty for the default (``<data-dir>/blobs``);
    an ``s3://`` or ``file://`` URL carries no credentials (they come from the environment)."""
    return (url or "").strip()


def check_blob_store(data_dir: Path, store: BlobStore, url: str | None, engine: Engine) -> None:
    """Refuse a blob store that is not the data directory's (see the module docstring); label
    a new one. Call after the database check, which fixes the database id. Raises
    :class:`BlobStoreMismatch` (nothing written)."""
    config = datadir.load_config(data_dir)
    database_id = config.database.id
    if not database_id:
        raise AssertionError("the database is checked (and its id recorded) before the blobs")
    here = _describe(blob_location(url))
    label = _read_label(store, here)
    if label is not None:
        if label.get("database_id") != database_id:
            raise BlobStoreMismatch(
                f"the blob store {here} holds the files of database {label.get('database_id')}, "
                f"not of this data directory's database {database_id}; " + _fix(config.blobs)
            )
        if not config.blobs.bound:
            datadir.bind_blobs(data_dir, BlobsConfig(location=blob_location(url), bound=True))
        return
    if config.blobs.bound:
        raise BlobStoreMismatch(
            f"the blob store {here} has no {LABEL_NAME}: it is not where this data directory's "
            f"files are; " + _fix(config.blobs)
        )
    if not _holds_recent_files(store, engine):
        raise BlobStoreMismatch(
            f"the blob store {here} holds none of the newest files this data directory's "
            f"database refers to; set {BLOB_URL_ENV} to where they are (or restore them) "
            "rather than start with an empty store"
        )
    label_bytes = json.dumps({"database_id": database_id}, sort_keys=True).encode() + b"\n"
    store.write_label(label_bytes)
    datadir.bind_blobs(data_dir, BlobsConfig(location=blob_location(url), bound=True))
    log.warning(
        "blob store %s now belongs to database %s; from now on this data directory uses no other",
        here,
        database_id,
    )


def _describe(location: str) -> str:
    return f"at {location}" if location else "in the data directory (blobs/)"


def _fix(recorded: BlobsConfig) -> str:
    if recorded.location:
        return f"set {BLOB_URL_ENV}={recorded.location} as when its files were stored"
    return f"unset {BLOB_URL_ENV}: its files are in the data directory's blobs/"


def _read_label(store: BlobStore, here: str) -> dict[str, object] | None:
    data = store.read_label()
    if data is None:
        return None
    try:
        label = json.loads(data)
    except ValueError:
        label = None
    if not isinstance(label, dict):
        raise BlobStoreMismatch(f"the blob store {here} has an unreadable {LABEL_NAME}")
    return label


def _holds_recent_files(store: BlobStore, engine: Engine) -> bool:
    """True when the database has no sealed records, or the store has one of the newest."""
    with engine.connect() as conn:
        newest = (
            conn.execute(
                select(evidence_records.c.content_sha256)
                .order_by(evidence_records.c.id.desc())
                .limit(SAMPLE)
            )
            .scalars()
            .all()
        )
    return not newest or any(store.exists(bytes(sha256)) for sha256 in newest)


__all__ = ["BlobStoreMismatch", "blob_location", "check_blob_store"]

"""The vault through the real application (``create_app``): tus uploads, sealing, records,
downloads and isolation, on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import email.utils
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from tests.support.accounts import bearer
from tests.support.tus import PATCH, TUS, create_upload, patch_upload, tus_metadata
from tests.unit.server.conftest import running_app
from timeseal.cli.log_receipts import check_receipt
from timeseal.core.tlog import parse_verifier_key
from timeseal.core.tlog.proof import format_tlog_proof, parse_tlog_proof, verify_tlog_proof
from timeseal.core.tsp.response import parse_response
from timeseal.core.tsp.verify import TimestampVerifierBuilder
from timeseal.core.verification import Check, Status, VerificationResult
from timeseal.server.runtime import datadir, platform_keys
from timeseal.server.runtime.housekeeping import Housekeeper
from timeseal.store.blobs import BlobRef, LocalBlobStore
from timeseal.store.db import make_engine
from timeseal.store.evidence.records import EvidenceStore
from timeseal.store.evidence.rows import RecordSealed
from timeseal.store.evidence.tables import evidence_records
from timeseal.store.uploads import STAGING_DIR, PartialUpload

OTHER_PHONE = "+8613900001111"
DATA = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4 bytes
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def vault(data_dir: Path, db_url: str) -> Iterator[TestClient]:
    with running_app(data_dir) as client:
        yield client


def record_count(db_url: str) -> int:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(select(func.count()).select_from(evidence_records)).scalar_one()
            )
    finally:
        engine.dispose()


def test_interrupted_upload_resumes_seals_once_and_verifies(
    vault: TestClient, data_dir: Path, db_url: str
) -> None:
    auth = bearer(vault, data_dir)
    url = create_upload(vault, auth, DATA)
    half = len(DATA) // 2

    # The connection dropped after half the file: the server kept what arrived.
    assert patch_upload(vault, auth, url, 0, DATA[:half])[0] == 204
    head = vault.head(url, headers={**auth, **TUS})
    assert head.status_code == 200
    offset = int(head.headers["upload-offset"])
    assert offset == half
    status, headers = patch_upload(vault, auth, url, offset, DATA[offset:])
    assert status == 204
    number = headers["timeseal-evidence-number"]
    assert headers["upload-offset"] == str(len(DATA))

    # A retry after completion answers with the same record, and makes no second one.
    status, again = patch_upload(vault, auth, url, len(DATA), b"")
    assert status == 204 and again["timeseal-evidence-number"] == number
    assert vault.head(url, headers={**auth, **TUS}).headers["timeseal-evidence-number"] == number
    assert record_count(db_url) == 1

    detail = vault.get(f"/api/v1/evidence/{number}", headers=auth).json()
    assert detail["sha256"] == SHA and detail["size"] == len(DATA) and detail["kind"] == "video"
    assert [e["action"] for e in detail["custody"]][:3] == ["uploaded", "sealed", "viewed"]
    response = parse_response(base64.b64decode(detail["timestamp_response"]))
    assert response.token is not None
    assert response.token.tst_info.message_imprint == hashlib.sha256(DATA).digest()
    root = platform_keys.load_chain(data_dir, datadir.load_config(data_dir).tsa.signer)[-1]
    verifier = TimestampVerifierBuilder().add_root(root).build()
    assert verifier.verify(response, hashlib.sha256(DATA).digest()).ok
    assert LocalBlobStore(data_dir / "blobs").exists(bytes.fromhex(SHA))

    # Once sequenced, the receipt proves the EvidenceEntry leaf.
    deadline = time.monotonic() + 15
    while detail["receipt"] is None and time.monotonic() < deadline:
        time.sleep(0.1)
        detail = vault.get(f"/api/v1/evidence/{number}", headers=auth).json()
    assert detail["receipt"] is not None and detail["leaf_index"] is not None
    vkey = parse_verifier_key(vault.get("/log/vkey").text.strip())
    proof = parse_tlog_proof(detail["receipt"].encode())
    assert verify_tlog_proof(proof, leaf=base64.b64decode(detail["log_entry"]), log_key=vkey).ok
    # The receipt carries its entry, so `timeseal verify FILE` checks it against the token.
    assert proof.extra == base64.b64decode(detail["log_entry"])
    receipt_path = data_dir.parent / "item.tlog-proof"
    checked = check_receipt(receipt_path, detail["receipt"].encode(), response, vkey)
    assert not checked.malformed
    assert checked.checks
    assert all(c.status is Status.PASS for c in checked.checks)
    # A receipt whose entry was altered no longer proves anything.
    forged = dataclasses.replace(proof, extra=proof.extra.replace(b"kind video", b"kind photo"))
    forged_check = check_receipt(receipt_path, format_tlog_proof(forged), response, vkey)
    assert Check.INCLUSION_PROOF in VerificationResult(forged_check.checks).failed
    elsewhere = dataclasses.replace(proof, extra=proof.extra.replace(SHA.encode(), b"0" * 64))
    assert check_receipt(receipt_path, format_tlog_proof(elsewhere), response, vkey).malformed

    listing = vault.get("/api/v1/evidence", headers=auth).json()["items"]
    assert [i["number"] for i in listing] == [number]
    assert vault.get("/api/v1/evidence?kind=photo", headers=auth).json()["items"] == []

    # Whole and ranged downloads.
    whole = vault.get(f"/api/v1/evidence/{number}/content", headers=auth)
    assert whole.status_code == 200 and whole.content == DATA
    assert whole.headers["content-length"] == str(len(DATA))
    assert whole.headers["content-type"].startswith("video/mp4")
    assert whole.headers["x-content-type-options"] == "nosniff"
    assert whole.headers["content-disposition"].startswith("attachment")
    part = vault.get(
        f"/api/v1/evidence/{number}/content", headers={**auth, "Range": "bytes=100-1099"}
    )
    assert part.status_code == 206 and part.content == DATA[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(DATA)}"
    tail = vault.get(f"/api/v1/evidence/{number}/content", headers={**auth, "Range": "bytes=-4"})
    assert tail.content == b"tail"
    bad = vault.get(
        f"/api/v1/evidence/{number}/content", headers={**auth, "Range": "bytes=9999999-"}
    )
    assert bad.status_code == 416
    trail = vault.get(f"/api/v1/evidence/{number}", headers=auth).json()["custody"]
    assert [e["action"] for e in trail].count("downloaded") == 3


class _CrashDuringHandover:
    """A blob store whose process dies as it takes the staged file: before it moved the file
    (``moved=False``) or right after."""

    def __init__(self, store: LocalBlobStore, *, moved: bool) -> None:
        self.store = store
        self.moved = moved

    def adopt(self, path: Path, sha256: bytes) -> BlobRef:
        if self.moved:
            self.store.adopt(path, sha256)
        raise SystemExit("power cut")

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)


@pytest.mark.parametrize("moved", [False, True], ids=["before-move", "after-move"])
def test_a_crash_while_finishing_is_sealed_by_the_clients_retry(
    vault: TestClient, data_dir: Path, db_url: str, moved: bool
) -> None:
    auth = bearer(vault, data_dir)
    url = create_upload(vault, auth, DATA)
    # Every byte arrived and the handover to the blob store began; then the server died
    # before the record was sealed, so the client never saw the last reply.
    staged = PartialUpload.open(data_dir / STAGING_DIR, url.rsplit("/", 1)[1])
    staged.append(0, [DATA])
    with pytest.raises(SystemExit):
        staged.finish(_CrashDuringHandover(LocalBlobStore(data_dir / "blobs"), moved=moved))  # type: ignore[arg-type]

    head = vault.head(url, headers={**auth, **TUS})
    assert head.headers["upload-offset"] == str(len(DATA))
    assert "timeseal-evidence-number" not in head.headers
    # The client resumes where the server says: an empty PATCH at the end seals the file.
    assert patch_upload(vault, auth, url, 0, DATA[:10])[0] == 409
    status, headers = patch_upload(vault, auth, url, len(DATA), b"")
    assert status == 204, headers
    number = headers["timeseal-evidence-number"]
    assert patch_upload(vault, auth, url, len(DATA), b"")[1]["timeseal-evidence-number"] == number
    assert record_count(db_url) == 1
    content = vault.get(f"/api/v1/evidence/{number}/content", headers=auth)
    assert content.status_code == 200 and content.content == DATA


def test_declared_hash_mismatch_keeps_nothing(
    vault: TestClient, data_dir: Path, db_url: str
) -> None:
    auth = bearer(vault, data_dir)
    url = create_upload(vault, auth, DATA, sha="00" * 32)
    status, _ = patch_upload(vault, auth, url, 0, DATA)
    assert status == 460
    assert vault.head(url, headers={**auth, **TUS}).status_code == 404
    assert record_count(db_url) == 0
    assert not LocalBlobStore(data_dir / "blobs").exists(bytes.fromhex(SHA))
    assert not [p for p in (data_dir / "uploads").iterdir() if not p.name.startswith(".")]


def test_tus_protocol_details(vault: TestClient, data_dir: Path) -> None:
    auth = bearer(vault, data_dir)
    options = vault.options("/api/v1/uploads")
    assert options.status_code == 204
    assert options.headers["tus-version"] == "1.0.0"
    assert set(options.headers["tus-extension"].split(",")) == {
        "creation",
        "checksum",
        "termination",
        "expiration",
    }
    assert int(options.headers["tus-max-size"]) > 0
    assert options.headers["tus-checksum-algorithm"] == "sha256"

    no_version = vault.post("/api/v1/uploads", headers={**auth, "Upload-Length": "1"})
    assert no_version.status_code == 412
    url = create_upload(vault, auth, DATA)
    assert patch_upload(vault, auth, url, 5, DATA[5:10])[0] == 409
    good = base64.b64encode(hashlib.sha256(DATA[:10]).digest()).decode()
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    status, headers = patch_upload(
        vault, auth, url, 0, DATA[:10], **{"Upload-Checksum": f"sha256 {wrong}"}
    )
    assert status == 460
    assert vault.head(url, headers={**auth, **TUS}).headers["upload-offset"] == "0"
    status, headers = patch_upload(
        vault, auth, url, 0, DATA[:10], **{"Upload-Checksum": f"sha256 {good}"}
    )
    assert status == 204 and headers["upload-offset"] == "10"
    plain = vault.patch(url, content=b"x", headers={**auth, **TUS, "Upload-Offset": "10"})
    assert plain.status_code == 415
    assert vault.delete(url, headers={**auth, **TUS}).status_code == 204
    assert vault.head(url, headers={**auth, **TUS}).status_code == 404
    bad_kind = vault.post(
        "/api/v1/uploads",
        headers={
            **auth,
            **TUS,
            "Upload-Length": "1",
            "Upload-Metadata": tus_metadata(filename="a", kind="nope", sha256=SHA),
        },
    )
    assert bad_kind.status_code == 400
    assert vault.post("/api/v1/uploads", headers={**TUS, "Upload-Length": "1"}).status_code == 401


def test_quota_exceeded(data_dir: Path, db_url: str) -> None:
    path = data_dir / "config.json"
    config = json.loads(path.read_text())
    config["vault"] = {"quota_bytes": len(DATA) + 10}
    path.write_text(json.dumps(config))
    with running_app(data_dir) as client:
        auth = bearer(client, data_dir)
        url = create_upload(client, auth, DATA)
        assert patch_upload(client, auth, url, 0, DATA)[0] == 204
        reply = client.post(
            "/api/v1/uploads",
            headers={
                **auth,
                **TUS,
                "Upload-Length": "11",
                "Upload-Metadata": tus_metadata(filename="b", sha256=SHA),
                "Accept-Language": "en",
            },
        )
        assert reply.status_code == 413
        assert reply.json()["error"]["code"] == "quota_exceeded"
        assert "quota" in reply.json()["error"]["message"]


def test_other_accounts_get_404(vault: TestClient, data_dir: Path) -> None:
    alice = bearer(vault, data_dir)
    bob = bearer(vault, data_dir, OTHER_PHONE)
    pending = create_upload(vault, alice, DATA)
    done = create_upload(vault, alice, b"sealed")
    number = patch_upload(vault, alice, done, 0, b"sealed")[1]["timeseal-evidence-number"]
    assert vault.head(pending, headers={**bob, **TUS}).status_code == 404
    assert patch_upload(vault, bob, pending, 0, DATA)[0] == 404
    assert vault.delete(pending, headers={**bob, **TUS}).status_code == 404
    assert patch_upload(vault, bob, done, 6, b"")[0] == 404
    for path in (f"/api/v1/evidence/{number}", f"/api/v1/evidence/{number}/content"):
        reply = vault.get(path, headers=bob)
        assert reply.status_code == 404 and reply.json()["error"]["code"] == "not_found"
    assert vault.get("/api/v1/evidence", headers=bob).json()["items"] == []
    assert vault.head(pending, headers={**alice, **TUS}).headers["upload-offset"] == "0"


def test_sealed_records_are_immutable(vault: TestClient, data_dir: Path, db_url: str) -> None:
    auth = bearer(vault, data_dir)
    url = create_upload(vault, auth, b"x")
    number = patch_upload(vault, auth, url, 0, b"x")[1]["timeseal-evidence-number"]
    engine = make_engine(db_url)
    try:
        store = EvidenceStore(engine)
        for field, value in (("title", "changed"), ("content_sha256", b"\0" * 32), ("size", 2)):
            with pytest.raises(RecordSealed):
                store.update(number, **{field: value})
        record = store.get(number)
        assert record is not None and record.title == "证据" and record.size == 1
        store.note_leaf_index(number, 10**9)
        with pytest.raises(RecordSealed):
            store.note_leaf_index(number, 10**9 + 1)
    finally:
        engine.dispose()


def test_uploads_expire_without_progress_and_housekeeping_removes_them(
    vault: TestClient, data_dir: Path, db_url: str
) -> None:
    auth = bearer(vault, data_dir)
    url = create_upload(vault, auth, DATA)
    upload_id = url.rsplit("/", 1)[1]
    assert patch_upload(vault, auth, url, 0, DATA[:1000])[0] == 204
    head = vault.head(url, headers={**auth, **TUS})
    expires = email.utils.parsedate_to_datetime(head.headers["upload-expires"])
    hours = (expires - dt.datetime.now(dt.UTC)).total_seconds() / 3600
    assert 71.9 < hours <= 72  # VaultConfig.upload_expiry_hours after the last bytes
    app = vault.app.app  # type: ignore[attr-defined]
    store: EvidenceStore = app.state.timeseal_vault.store
    owner = store.upload(upload_id).owner_id  # type: ignore[union-attr]
    assert store.used_bytes(owner) == len(DATA)  # a pending upload counts against the quota
    kept = create_upload(vault, auth, DATA)  # another upload, still making progress
    assert patch_upload(vault, auth, kept, 0, DATA[:10])[0] == 204

    # Three days without progress: the upload answers 410 until housekeeping removes it.
    state = data_dir / STAGING_DIR / upload_id / "state.json"
    old = time.time() - 72 * 3600 - 5
    os.utime(state, (old, old))
    gone = vault.head(url, headers={**auth, **TUS})
    assert gone.status_code == 410
    reply = vault.patch(url, content=b"x", headers={**auth, **PATCH, "Upload-Offset": "1000"})
    assert (reply.status_code, reply.json()["error"]["code"]) == (410, "upload_expired")

    keeper = Housekeeper(
        app.state.timeseal_vault, app.state.timeseal_auth, upload_expiry=dt.timedelta(hours=72)
    )
    swept = keeper.run_once()
    assert swept.uploads == 1
    assert store.upload(upload_id) is None
    assert not (data_dir / STAGING_DIR / upload_id).exists()
    assert store.used_bytes(owner) == len(DATA)  # only the live upload is counted now
    assert vault.head(url, headers={**auth, **TUS}).status_code == 404
    assert vault.head(kept, headers={**auth, **TUS}).status_code == 200
    assert keeper.run_once().uploads == 0  # nothing else is due
    assert record_count(db_url) == 0

"""The log auditor and the receipt fetcher (timeseal.capture.clients.log), against real logs
built with the core's integrate/sign_checkpoint and served by httpx.MockTransport."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Sequence

import pytest

from tests.support.fake_log import ORIGIN, FakeLog, FakePlatform, entries
from tests.support.pki import PKIFixture
from timeseal.capture.clients.log import (
    AuditReport,
    AuditState,
    LogClient,
    LogClientError,
    ReceiptFetcher,
    ReceiptInvalid,
    ReceiptTimeout,
    audit_log,
    format_state,
    parse_state,
    token_leaf,
)
from timeseal.capture.clients.tsa import TSAClient
from timeseal.core.errors import MalformedError
from timeseal.core.tlog import (
    SignatureType,
    TlogProof,
    VerifierKey,
    cosign_checkpoint,
    format_entry_bundle,
    format_note,
    format_signed_checkpoint,
    format_tlog_proof,
    generate_signer_key,
    parse_entry_bundle,
    parse_note,
    parse_signed_checkpoint,
    parse_tlog_proof,
    sign_checkpoint,
    verify_tlog_proof,
)
from timeseal.core.tsp.response import TimeStampResponse
from timeseal.core.verification import Check, Status

URL = "http://log.test"
AT = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def flip(data: bytes, at: int = 0) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def audit(
    log: FakeLog,
    previous: AuditState | None = None,
    *,
    cosigners: Sequence[VerifierKey] = (),
    quorum: int | None = None,
) -> tuple[AuditReport, FakePlatform]:
    platform = FakePlatform(log)
    with LogClient(URL, transport=platform.transport()) as client:
        key = log.key.verifier_key
        report = audit_log(client, key, previous=previous, cosigners=cosigners, quorum=quorum)
    return report, platform


def statuses(report: AuditReport) -> dict[Check, Status]:
    return {c.check: c.status for c in report.result.checks}


def detail(report: AuditReport, check: Check) -> str:
    result = report.result.get(check)
    assert result is not None
    return result.detail


def state_of(log: FakeLog) -> AuditState:
    report, _ = audit(log)
    assert report.state is not None, report.result
    return report.state


# --- the audit passes -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 255, 256, 257, 1000])
def test_audit_passes(size: int) -> None:
    log = FakeLog(entries(size))
    report, _ = audit(log)
    assert report.result.ok, report.result
    assert [c.check for c in report.result.checks] == [
        Check.CHECKPOINT_ORIGIN,
        Check.CHECKPOINT_SIGNATURE,
        Check.LOG_TILES,
        Check.LOG_ENTRIES,
    ]
    assert report.state is not None
    assert (report.state.size, report.state.root_hash) == (size, log.state.root_hash)
    assert report.state.checkpoint == log.files["checkpoint"]
    assert report.bundles == -(-size // 256)


def test_audit_of_a_log_built_in_small_batches() -> None:
    report, _ = audit(FakeLog(entries(1000), batch=77))
    assert report.result.ok, report.result


def test_fetches_exactly_the_tiles_of_the_spec_example_once_each() -> None:
    # C2SP tlog-tiles: "a tree of size 70,000 will be represented by 273 full level 0 tiles,
    # one partial level 0 tile of width 112, one full level 1 tile, one partial level 1 tile
    # of width 17, and one partial level 2 tile of width 1."
    log = FakeLog(entries(70_000))
    report, platform = audit(log)
    assert report.result.ok, report.result
    fetched = [r.removeprefix("GET /log/") for r in platform.requests]
    assert len(fetched) == len(set(fetched)), "a resource was fetched twice"
    level0 = [f"tile/0/{i:03d}" for i in range(273)] + ["tile/0/273.p/112"]
    bundles = [f"tile/entries/{i:03d}" for i in range(273)] + ["tile/entries/273.p/112"]
    higher = ["tile/1/000", "tile/1/001.p/17", "tile/2/000.p/1"]
    assert set(fetched) == {"checkpoint", *level0, *bundles, *higher}
    assert (report.tiles, report.bundles) == (274 + 3, 274)


@pytest.mark.parametrize(("old", "new"), [(0, 5), (1, 2), (100, 150), (256, 512), (257, 1000)])
def test_growth_is_consistent(old: int, new: int) -> None:
    log = FakeLog(entries(old))
    previous = state_of(log)
    log.append(entries(new - old, old))
    report, _ = audit(log, previous)
    assert report.result.ok, report.result
    assert statuses(report)[Check.CONSISTENCY_PROOF] is Status.PASS
    assert report.state is not None and report.state.size == new


def test_unchanged_log_is_consistent() -> None:
    log = FakeLog(entries(300))
    report, _ = audit(log, state_of(log))
    assert report.result.ok
    assert detail(report, Check.CONSISTENCY_PROOF) == "unchanged at 300 leaves"


def test_partial_tiles_that_are_gone_fall_back_to_full_tiles() -> None:
    log = FakeLog(entries(257))
    old_checkpoint = log.files["checkpoint"]
    log.append(entries(400, 257))
    # The log served checkpoint 257 but has since deleted the partial tiles it needed.
    del log.files["tile/0/001.p/1"], log.files["tile/entries/001.p/1"]
    log.files["checkpoint"] = old_checkpoint
    report, platform = audit(log)
    assert report.result.ok, report.result
    assert "GET /log/tile/0/001" in platform.requests


def test_witness_cosignatures_and_quorum() -> None:
    log = FakeLog(entries(10))
    w1 = generate_signer_key("w1.test", SignatureType.COSIGNATURE_V1)
    w2 = generate_signer_key("w2.test", SignatureType.COSIGNATURE_V1)
    log.files["checkpoint"] = format_signed_checkpoint(cosign_checkpoint(log.checkpoint, w1, at=AT))
    keys = [w1.verifier_key, w2.verifier_key]
    report, _ = audit(log, cosigners=keys, quorum=1)
    assert report.result.ok, report.result
    report, _ = audit(log, cosigners=keys)  # default quorum: all
    assert report.result.failed == (Check.COSIGNATURE,)
    assert statuses(report)[Check.LOG_ENTRIES] is Status.PASS  # still audited
    assert report.state is None
    assert report.missing_cosigners == (w2.verifier_key.label,)  # a witness down


def test_a_bad_cosignature_is_not_reported_as_missing() -> None:
    log = FakeLog(entries(10))
    w1 = generate_signer_key("w1.test", SignatureType.COSIGNATURE_V1)
    w2 = generate_signer_key("w2.test", SignatureType.COSIGNATURE_V1)
    note = format_signed_checkpoint(cosign_checkpoint(log.checkpoint, w1, at=AT))
    lines = note.decode().split("\n")
    w1_line = next(i for i, line in enumerate(lines) if line.startswith("— w1.test "))
    prefix, signature = lines[w1_line].rsplit(" ", 1)
    raw = bytearray(base64.b64decode(signature))
    raw[-1] ^= 1  # the same key ID, a signature that does not verify
    lines[w1_line] = f"{prefix} {base64.b64encode(bytes(raw)).decode()}"
    log.files["checkpoint"] = "\n".join(lines).encode()
    report, _ = audit(log, cosigners=[w1.verifier_key, w2.verifier_key], quorum=1)
    assert report.result.failed == (Check.COSIGNATURE,)
    assert report.missing_cosigners == ()


# --- the audit fails, with the right check ----------------------------------------------------


def test_tampered_level0_tile() -> None:
    log = FakeLog(entries(1000))
    log.files["tile/0/001"] = flip(log.files["tile/0/001"], 32 * 5)
    report, _ = audit(log)
    assert report.result.failed == (Check.LOG_TILES,)
    assert detail(report, Check.LOG_TILES).startswith("tile/0/001 hash 5 (leaf 261) is ")
    assert report.state is None


def test_tampered_partial_level0_tile() -> None:
    log = FakeLog(entries(1000))
    log.files["tile/0/003.p/232"] = flip(log.files["tile/0/003.p/232"], 32 * 231)
    report, _ = audit(log)
    assert report.result.failed == (Check.LOG_TILES,)
    assert "root mismatch" in detail(report, Check.LOG_TILES)


def test_tampered_level1_tile() -> None:
    log = FakeLog(entries(1000))
    log.files["tile/1/000.p/3"] = flip(log.files["tile/1/000.p/3"], 32 * 1 + 7)
    report, _ = audit(log)
    assert report.result.failed == (Check.LOG_TILES,)
    assert detail(report, Check.LOG_TILES).startswith("tile/1/000.p/3 hash 1 is ")


def test_tampered_full_level1_tile() -> None:
    log = FakeLog(entries(70_000))
    log.files["tile/1/000"] = flip(log.files["tile/1/000"], 32 * 200)
    report, _ = audit(log)
    assert report.result.failed == (Check.LOG_TILES,)
    assert "tile/1/000 hash 200" in detail(report, Check.LOG_TILES)


def test_tampered_entry_bundle() -> None:
    log = FakeLog(entries(1000))
    bundle = list(parse_entry_bundle(log.files["tile/entries/001"]))
    bundle[5] = flip(bundle[5])
    log.files["tile/entries/001"] = format_entry_bundle(bundle)
    report, _ = audit(log)
    assert report.result.failed == (Check.LOG_ENTRIES,)
    assert "entry 5 of tile/entries/001 (leaf 261) hashes to" in detail(report, Check.LOG_ENTRIES)


def test_truncated_entry_bundle() -> None:
    log = FakeLog(entries(300))
    log.files["tile/entries/000"] = log.files["tile/entries/000"][:-3]
    report, _ = audit(log)
    assert report.result.failed == (Check.LOG_ENTRIES,)
    assert "tile/entries/000: entry 255 is truncated" in detail(report, Check.LOG_ENTRIES)


def test_missing_tile_and_missing_bundle() -> None:
    log = FakeLog(entries(600))
    del log.files["tile/0/001"], log.files["tile/entries/002.p/88"]
    report, _ = audit(log)
    assert report.result.failed == (Check.LOG_TILES, Check.LOG_ENTRIES)
    assert "tile/0/001: not found (HTTP 404)" in detail(report, Check.LOG_TILES)
    assert "tile/entries/002.p/88" in detail(report, Check.LOG_ENTRIES)


def test_oversized_tile_is_refused() -> None:
    log = FakeLog(entries(10))
    log.files["tile/0/000.p/10"] = bytes(8192 + 1)
    report, _ = audit(log)
    assert report.result.failed == (Check.LOG_TILES,)
    assert "more than 8192 bytes" in detail(report, Check.LOG_TILES)


def test_bad_checkpoint_signature_fetches_no_tile() -> None:
    log = FakeLog(entries(300))
    impostor = generate_signer_key(ORIGIN)
    signed = sign_checkpoint(log.checkpoint.checkpoint, impostor)
    log.files["checkpoint"] = format_signed_checkpoint(signed)
    previous = state_of(FakeLog(entries(10), key=log.key))
    report, platform = audit(log, previous)
    assert report.result.failed == (Check.CHECKPOINT_SIGNATURE,)
    assert statuses(report) == {
        Check.CHECKPOINT_ORIGIN: Status.PASS,
        Check.CHECKPOINT_SIGNATURE: Status.FAIL,
        Check.CONSISTENCY_PROOF: Status.SKIPPED,
        Check.LOG_TILES: Status.SKIPPED,
        Check.LOG_ENTRIES: Status.SKIPPED,
    }
    assert platform.requests == ["GET /log/checkpoint"]


def test_corrupted_checkpoint_signature() -> None:
    log = FakeLog(entries(3))
    # Flip a bit of the signature itself (not of its base64 text, which could merely make the
    # base64 non-canonical and the note malformed).
    note = parse_note(log.files["checkpoint"])
    first = note.signatures[0]
    bad = dataclasses.replace(first, signature=flip(first.signature, 5))
    log.files["checkpoint"] = format_note(dataclasses.replace(note, signatures=(bad,)))
    report, _ = audit(log)
    assert report.result.failed == (Check.CHECKPOINT_SIGNATURE,)
    assert "does not verify" in detail(report, Check.CHECKPOINT_SIGNATURE)


def test_malformed_checkpoint() -> None:
    log = FakeLog(entries(3))
    log.files["checkpoint"] = b"not a checkpoint\n"
    report, _ = audit(log)
    assert report.result.failed == (Check.CHECKPOINT_SIGNATURE,)
    assert report.checkpoint is None and not report.result.ok


def test_rolled_back_tree() -> None:
    log = FakeLog(entries(200))
    served_at_200 = dict(log.files)
    log.append(entries(100, 200))
    previous = state_of(log)  # the auditor saw 300
    log.files = served_at_200  # the server now serves 200
    report, _ = audit(log, previous)
    assert report.result.failed == (Check.CONSISTENCY_PROOF,)
    assert "shrank from 300 to 200" in detail(report, Check.CONSISTENCY_PROOF)
    assert report.state is None


def test_rewritten_history() -> None:
    key = generate_signer_key(ORIGIN)
    previous = state_of(FakeLog(entries(100), key=key))  # log A at 100
    log_b = FakeLog(entries(150, tag="other"), key=key)  # log B: another first 100 leaves
    report, _ = audit(log_b, previous)
    assert report.result.failed == (Check.CONSISTENCY_PROOF,)
    assert "the first 100 leaves now hash to" in detail(report, Check.CONSISTENCY_PROOF)


def test_rewrite_of_the_last_old_leaf_only() -> None:
    key = generate_signer_key(ORIGIN)
    previous = state_of(FakeLog(entries(257), key=key))
    log_b = FakeLog([*entries(256), b"rewritten", *entries(300, 257)], key=key)
    report, _ = audit(log_b, previous)
    assert report.result.failed == (Check.CONSISTENCY_PROOF,)


def test_split_view_at_the_same_size() -> None:
    key = generate_signer_key(ORIGIN)
    previous = state_of(FakeLog(entries(100), key=key))
    report, _ = audit(FakeLog(entries(100, tag="other"), key=key), previous)
    assert report.result.failed == (Check.CONSISTENCY_PROOF,)
    assert "same size 100, different root" in detail(report, Check.CONSISTENCY_PROOF)


def test_previous_state_pins_the_key() -> None:
    previous = state_of(FakeLog(entries(1)))
    with pytest.raises(ValueError, match="not the key pinned"):
        audit(FakeLog(entries(2)), previous)


@pytest.mark.parametrize("status", [404, 500, 503])
def test_unreachable_checkpoint_raises(status: int) -> None:
    import httpx

    transport = httpx.MockTransport(lambda _request: httpx.Response(status))
    with LogClient(URL, transport=transport) as client, pytest.raises(LogClientError):
        audit_log(client, generate_signer_key(ORIGIN).verifier_key)


# --- the state file ---------------------------------------------------------------------------


def test_state_round_trip() -> None:
    log = FakeLog(entries(42))
    state = state_of(log)
    text = format_state(state)
    body = json.loads(text)
    assert body["format"] == "timeseal/log-audit-state/v1"
    assert (body["origin"], body["vkey"], body["size"]) == (ORIGIN, log.vkey, 42)
    assert body["root_hash"] == log.state.root_hash.hex()
    assert body["checkpoint"] == log.files["checkpoint"].decode()
    assert parse_state(text) == state


def test_state_edits_are_refused() -> None:
    log = FakeLog(entries(42))
    body = json.loads(format_state(state_of(log)))
    for field, value in [
        ("size", 41),
        ("root_hash", "00" * 32),
        ("format", "v0"),
        ("vkey", FakeLog().vkey),
        ("checkpoint", FakeLog(entries(42)).files["checkpoint"].decode()),
    ]:
        with pytest.raises(MalformedError):
            parse_state(json.dumps({**body, field: value}))
    with pytest.raises(MalformedError):
        parse_state("{not json")


# --- receipts ---------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def stamp(platform: FakePlatform, data: bytes = b"evidence") -> TimeStampResponse:
    with TSAClient(URL, transport=platform.transport()) as tsa:
        return tsa.stamp_digest(hashlib.sha256(data).digest()).response


def client(platform: FakePlatform, clock: FakeClock | None = None) -> LogClient:
    clock = clock or FakeClock()
    return LogClient(URL, transport=platform.transport(), sleep=clock.sleep, clock=clock)


def fetch_receipt(platform: FakePlatform, response: TimeStampResponse) -> TlogProof:
    with client(platform) as c:
        return ReceiptFetcher(c).receipt(response, platform.log.key.verifier_key)


def test_receipt_verifies_offline(test_pki: PKIFixture) -> None:
    platform = FakePlatform(FakeLog(entries(1000)), test_pki)
    response = stamp(platform)
    proof = fetch_receipt(platform, response)
    assert proof.leaf_index == 1000 and proof.checkpoint.checkpoint.size == 1001
    # Offline: only the receipt's bytes, the token and the log key.
    offline = parse_tlog_proof(format_tlog_proof(proof))
    key = platform.log.key.verifier_key
    result = verify_tlog_proof(offline, leaf=token_leaf(response), log_key=key)
    assert result.ok, result
    assert [c.check for c in result.checks] == [
        Check.CHECKPOINT_ORIGIN,
        Check.CHECKPOINT_SIGNATURE,
        Check.INCLUSION_PROOF,
    ]


def test_receipt_fails_for_a_flipped_hash_another_token_another_key(
    test_pki: PKIFixture,
) -> None:
    platform = FakePlatform(FakeLog(entries(300)), test_pki)
    response, other = stamp(platform, b"one"), stamp(platform, b"two")
    proof = fetch_receipt(platform, response)
    key = platform.log.key.verifier_key
    leaf = token_leaf(response)

    path = list(proof.inclusion_path)
    path[2] = flip(path[2])
    flipped = dataclasses.replace(proof, inclusion_path=tuple(path))
    result = verify_tlog_proof(flipped, leaf=leaf, log_key=key)
    assert result.failed == (Check.INCLUSION_PROOF,)

    result = verify_tlog_proof(proof, leaf=token_leaf(other), log_key=key)
    assert result.failed == (Check.INCLUSION_PROOF,)

    another = generate_signer_key(ORIGIN).verifier_key
    result = verify_tlog_proof(proof, leaf=leaf, log_key=another)
    assert result.failed == (Check.CHECKPOINT_SIGNATURE,)


def test_receipt_waits_for_the_sequencer(test_pki: PKIFixture) -> None:
    platform = FakePlatform(FakeLog(entries(5)), test_pki)
    platform.sequence_after = 3
    response = stamp(platform)
    clock = FakeClock()
    with client(platform, clock) as c:
        proof = ReceiptFetcher(c).receipt(response, platform.log.key.verifier_key, wait=5)
    assert proof.leaf_index == 5
    assert len(clock.sleeps) == 3


def test_receipt_times_out(test_pki: PKIFixture) -> None:
    platform = FakePlatform(FakeLog(entries(5)), test_pki)
    platform.sequence_after = None
    response = stamp(platform)
    clock = FakeClock()
    with client(platform, clock) as c, pytest.raises(ReceiptTimeout):
        ReceiptFetcher(c).receipt(response, platform.log.key.verifier_key, wait=5)
    assert 5 <= clock.now < 5.5


def test_receipt_times_out_when_no_checkpoint_covers_the_leaf(test_pki: PKIFixture) -> None:
    platform = FakePlatform(FakeLog(entries(5)), test_pki)
    response = stamp(platform)
    stale = platform.log.files["checkpoint"]
    with client(platform) as c:
        ReceiptFetcher(c).leaf_index(token_leaf_hash(response))  # integrates
        platform.log.files["checkpoint"] = stale  # but the checkpoint lags behind
        with pytest.raises(ReceiptTimeout, match="not yet in a signed checkpoint"):
            ReceiptFetcher(c).receipt(response, platform.log.key.verifier_key, wait=1)


def token_leaf_hash(response: TimeStampResponse) -> bytes:
    return hashlib.sha256(b"\x00" + token_leaf(response)).digest()


def test_receipt_refuses_a_tampered_tile(test_pki: PKIFixture) -> None:
    platform = FakePlatform(FakeLog(entries(600)), test_pki)
    response = stamp(platform)
    with client(platform) as c:
        assert ReceiptFetcher(c).leaf_index(token_leaf_hash(response)) == 600
        # The proof of leaf 600 of 601 reads tile/0/002.p/89 and tile/1/000.p/2.
        platform.log.files["tile/1/000.p/2"] = flip(platform.log.files["tile/1/000.p/2"])
        with pytest.raises(ReceiptInvalid) as info:
            ReceiptFetcher(c).receipt(response, platform.log.key.verifier_key)
    assert info.value.result.failed == (Check.INCLUSION_PROOF,)


def test_receipt_refuses_a_checkpoint_by_another_key(test_pki: PKIFixture) -> None:
    platform = FakePlatform(FakeLog(entries(6)), test_pki)
    response = stamp(platform)
    with client(platform) as c, pytest.raises(ReceiptInvalid) as info:
        ReceiptFetcher(c).receipt(response, generate_signer_key(ORIGIN).verifier_key)
    assert info.value.result.failed == (Check.CHECKPOINT_SIGNATURE,)


def test_receipts_in_a_batch_share_checkpoint_and_tiles(test_pki: PKIFixture) -> None:
    platform = FakePlatform(FakeLog(entries(700)), test_pki)
    responses = [stamp(platform, bytes([i])) for i in range(3)]
    key = platform.log.key.verifier_key
    with client(platform) as c:
        fetcher = ReceiptFetcher(c)
        proofs = [fetcher.receipt(responses[0], key)]
        before = len(platform.requests)
        proofs += [fetcher.receipt(r, key) for r in responses[1:]]
    assert [p.leaf_index for p in proofs] == [700, 701, 702]
    assert platform.requests[before:] == [
        f"GET /api/v1/log/leaf-index/{token_leaf_hash(r).hex()}" for r in responses[1:]
    ]
    for proof, response in zip(proofs, responses, strict=True):
        assert verify_tlog_proof(proof, leaf=token_leaf(response), log_key=key).ok


def test_fetch_verifier_key() -> None:
    platform = FakePlatform(FakeLog())
    with client(platform) as c:
        key = c.fetch_verifier_key()
    assert key == platform.log.key.verifier_key
    with client(FakePlatform(has_log=False)) as c:
        assert c.fetch_verifier_key() is None


def test_token_leaf_needs_a_token() -> None:
    from timeseal.core.tsp.authority import format_rejection
    from timeseal.core.tsp.response import FailureInfo, parse_response

    rejection = parse_response(format_rejection(FailureInfo.BAD_ALG, "no"))
    with pytest.raises(ValueError, match="no token"):
        token_leaf(rejection)


def test_checkpoint_served_is_the_one_in_the_receipt(test_pki: PKIFixture) -> None:
    platform = FakePlatform(FakeLog(entries(2)), test_pki)
    proof = fetch_receipt(platform, stamp(platform))
    assert format_signed_checkpoint(proof.checkpoint) == platform.log.files["checkpoint"]
    assert parse_signed_checkpoint(platform.log.files["checkpoint"]) == proof.checkpoint


def test_missing_level1_tile() -> None:
    log = FakeLog(entries(1000))
    del log.files["tile/1/000.p/3"]
    report, _ = audit(log)
    assert report.result.failed == (Check.LOG_TILES,)
    assert detail(report, Check.LOG_TILES) == "tile/1/000.p/3: not found (HTTP 404)"


@pytest.mark.parametrize(
    "body", [b"nonsense", b"[]", b'{"leaf_index": -1}', b'{"leaf_index": true}']
)
def test_leaf_index_answer_must_be_a_leaf_index(body: bytes) -> None:
    import httpx

    transport = httpx.MockTransport(lambda _request: httpx.Response(200, content=body))
    with LogClient(URL, transport=transport) as c, pytest.raises(LogClientError, match="leaf"):
        ReceiptFetcher(c).leaf_index(bytes(32))

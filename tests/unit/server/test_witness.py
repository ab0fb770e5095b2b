"""``timeseal witness``: the C2SP tlog-witness server, its client, and its CLI.

In-process tests drive the ASGI app through Starlette's TestClient (raw bodies) or
``submit_checkpoint`` over ``httpx.ASGITransport``; the concurrency and restart tests run a real
``timeseal witness serve`` subprocess and talk HTTP to it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import httpx2
import pytest
import typer
from starlette.applications import Starlette
from starlette.testclient import TestClient
from typer.testing import CliRunner

from tests.support.server import free_port, wait_ready
from tests.unit.core.tlog.helpers import MemoryHashes, entries
from timeseal.core.errors import MalformedError
from timeseal.core.tlog import (
    AddCheckpointRequest,
    Checkpoint,
    Cosignature,
    NoteSignature,
    SignatureType,
    SignerKey,
    VerifierKey,
    add_signature,
    consistency_proof,
    format_add_checkpoint,
    format_cosignature_response,
    format_signed_checkpoint,
    format_verifier_key,
    generate_signer_key,
    leaf_hash,
    make_cosignature,
    parse_add_checkpoint,
    parse_signed_checkpoint,
    parse_verifier_key,
    sign_checkpoint,
    tree_hash,
    verify_checkpoint,
)
from timeseal.core.verification import Check
from timeseal.server.log.witness_client import (
    BadWitnessResponse,
    Conflict,
    WitnessRefused,
    WitnessUnavailable,
    attach_cosignatures,
    submit_checkpoint,
)
from timeseal.witness.server import (
    DB_FILE,
    KEY_FILE,
    VKEY_FILE,
    Witness,
    create_witness_app,
    initialise,
    load_key,
)
from timeseal.witness.store import WitnessError, WitnessStore

ORIGIN = "log.example/timeseal"
LOG = generate_signer_key(ORIGIN)
WITNESS_NAME = "witness.test/w1"
NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
ORIGIN_HASH = hashlib.sha256(ORIGIN.encode()).hexdigest()


class Tree:
    """A log's entries, with every stored hash, to sign checkpoints and make proofs from."""

    def __init__(self, data: Sequence[bytes]) -> None:
        self.data = list(data)
        self.hashes = MemoryHashes([leaf_hash(e) for e in self.data])

    def extended(self, more: Sequence[bytes]) -> Tree:
        return Tree([*self.data, *more])

    def checkpoint(self, size: int, key: SignerKey = LOG) -> bytes:
        root = tree_hash(self.hashes.leaf_hashes[:size])
        return format_signed_checkpoint(sign_checkpoint(Checkpoint(ORIGIN, size, root), key))

    def proof(self, old: int, size: int) -> tuple[bytes, ...]:
        return consistency_proof(self.hashes, first=old, second=size) if 0 < old <= size else ()

    def body(self, old: int, size: int, key: SignerKey = LOG) -> bytes:
        note = parse_signed_checkpoint(self.checkpoint(size, key))
        return format_add_checkpoint(AddCheckpointRequest(old, self.proof(old, size), note))


TREE = Tree(entries(64))
FORK = Tree(entries(5) + entries(59, offset=1000))  # agrees with TREE on the first 5 entries


def make_witness_dir(path: Path) -> VerifierKey:
    key = initialise(path, name=WITNESS_NAME)
    WitnessStore(path / DB_FILE).add_log(LOG.verifier_key, ORIGIN, now=NOW)
    return key.verifier_key


@pytest.fixture
def witness_dir(tmp_path: Path) -> Path:
    path = tmp_path / "witness"
    make_witness_dir(path)
    return path


@pytest.fixture
def wkey(witness_dir: Path) -> VerifierKey:
    return parse_verifier_key((witness_dir / VKEY_FILE).read_text().strip())


@pytest.fixture
def app(witness_dir: Path) -> Starlette:
    return create_witness_app(witness_dir)


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=True) as c:
        yield c


def post(client: TestClient, body: bytes) -> httpx2.Response:
    return client.post("/add-checkpoint", content=body)


def submit(
    app: Starlette, wkey: VerifierKey, old: int, size: int, tree: Tree = TREE
) -> Cosignature | Conflict:
    """``submit_checkpoint`` through the app in process (httpx.ASGITransport)."""
    return asyncio.run(
        submit_checkpoint(
            "http://witness.test/",
            wkey,
            tree.checkpoint(size),
            old,
            tree.proof(old, size),
            transport=httpx.ASGITransport(app=app),
        )
    )


def cosigned(note: bytes, cosignature: Cosignature, wkey: VerifierKey) -> None:
    """The note with the cosignature attached verifies with the log key and the witness key."""
    signed = parse_signed_checkpoint(attach_cosignatures(note, [cosignature]))
    result = verify_checkpoint(signed, LOG.verifier_key, cosigners=[wkey])
    assert result.ok, result.checks


# --- the protocol -------------------------------------------------------------------------------


def test_a_fresh_log_grows_and_is_cosigned_each_time(app: Starlette, wkey: VerifierKey) -> None:
    for old, size in [(0, 5), (5, 12), (12, 12), (12, 64)]:
        result = submit(app, wkey, old, size)
        assert isinstance(result, Cosignature), result
        assert result.name == WITNESS_NAME and result.timestamp > 0
        cosigned(TREE.checkpoint(size), result, wkey)


def test_the_answers_on_the_wire(client: TestClient, wkey: VerifierKey) -> None:
    reply = post(client, TREE.body(0, 5))
    assert reply.status_code == 200
    assert reply.content.startswith(f"— {WITNESS_NAME} ".encode())
    assert reply.content.endswith(b"\n") and reply.content.count(b"\n") == 1
    # "the client MAY concatenate it to the checkpoint"
    signed = parse_signed_checkpoint(TREE.checkpoint(5) + reply.content)
    assert verify_checkpoint(signed, LOG.verifier_key, cosigners=[wkey]).ok

    stale = post(client, TREE.body(0, 12))
    assert stale.status_code == 409
    assert stale.headers["content-type"] == "text/x.tlog.size"  # exactly, no charset
    assert stale.content == b"5\n"


def test_409_tells_a_stale_caller_the_size(app: Starlette, wkey: VerifierKey) -> None:
    assert isinstance(submit(app, wkey, 0, 12), Cosignature)
    assert submit(app, wkey, 0, 20) == Conflict(12)  # a log that knows nothing starts at 0
    assert submit(app, wkey, 5, 20) == Conflict(12)
    assert submit(app, wkey, 13, 20) == Conflict(12)
    assert isinstance(submit(app, wkey, 12, 20), Cosignature)


def test_a_fork_is_refused_and_kept_as_evidence(
    client: TestClient, app: Starlette, wkey: VerifierKey, witness_dir: Path
) -> None:
    assert isinstance(submit(app, wkey, 0, 12), Cosignature)
    same_size = post(client, FORK.body(12, 12))
    assert same_size.status_code == 422
    assert b"fork at size 12" in same_size.content
    # A bigger tree that does not extend 12, with a proof that is valid for that tree.
    bigger = post(client, FORK.body(12, 20))
    assert bigger.status_code == 422
    assert b"consistency 12 -> 20" in bigger.content
    # The right tree with the fork's proof.
    note = parse_signed_checkpoint(TREE.checkpoint(20))
    mixed = format_add_checkpoint(AddCheckpointRequest(12, FORK.proof(12, 20), note))
    assert post(client, mixed).status_code == 422
    with pytest.raises(WitnessRefused) as refused:
        submit(app, wkey, 12, 30, FORK)
    assert refused.value.status == 422
    # Nothing moved, and each refusal is on disk with the request that caused it.
    assert submit(app, wkey, 0, 1) == Conflict(12)
    db = sqlite3.connect(witness_dir / DB_FILE)
    try:
        rows = db.execute("SELECT origin, body FROM refused ORDER BY id").fetchall()
    finally:
        db.close()
    assert rows == [
        (ORIGIN, FORK.body(12, 12)),
        (ORIGIN, FORK.body(12, 20)),
        (ORIGIN, mixed),
        (ORIGIN, FORK.body(12, 30)),
    ]
    assert client.get("/healthz").json()["refused"] == 4


def test_a_rollback_is_refused(client: TestClient, app: Starlette, wkey: VerifierKey) -> None:
    assert isinstance(submit(app, wkey, 0, 12), Cosignature)
    # old = the witness's size, checkpoint smaller: "old size MUST be <= checkpoint size".
    assert post(client, TREE.body(12, 5)).status_code == 400
    # old = the smaller size: the witness is at 12.
    assert post(client, TREE.body(5, 5)).content == b"12\n"
    assert post(client, TREE.body(3, 5)).status_code == 409


def test_signatures(client: TestClient, app: Starlette, wkey: VerifierKey) -> None:
    impostor = generate_signer_key(ORIGIN)  # the log's name, another key
    assert post(client, TREE.body(0, 5, impostor)).status_code == 403
    other = generate_signer_key("other.example/log")
    assert post(client, TREE.body(0, 5, other)).status_code == 403
    # The log key's name and key ID, a broken signature.
    good = parse_signed_checkpoint(TREE.checkpoint(5))
    sig = good.note.signatures[0]
    broken = type(sig)(sig.name, sig.key_id, bytes(64))
    note = add_signature(good.note, broken)
    forged = AddCheckpointRequest(0, (), type(good)(good.checkpoint, note))
    assert post(client, format_add_checkpoint(forged)).status_code == 403
    # Unknown signatures are ignored, and not kept in the monitoring checkpoint.
    extra = sign_checkpoint(good.checkpoint, other).note.signatures[0]
    both = type(good)(good.checkpoint, add_signature(good.note, extra))
    assert post(client, format_add_checkpoint(AddCheckpointRequest(0, (), both))).is_success
    kept = parse_signed_checkpoint(client.get(f"/{ORIGIN_HASH}/checkpoint").content)
    assert [s.name for s in kept.note.signatures] == [ORIGIN, WITNESS_NAME]


def test_unknown_origin_malformed_and_oversized(client: TestClient) -> None:
    stranger = generate_signer_key("stranger.example/log")
    cp = Checkpoint("stranger.example/log", 1, tree_hash([leaf_hash(b"x")]))
    body = format_add_checkpoint(AddCheckpointRequest(0, (), sign_checkpoint(cp, stranger)))
    reply = post(client, body)
    assert reply.status_code == 404
    assert b"unknown origin" in reply.content
    assert post(client, b"old 0\n\nnot a checkpoint\n").status_code == 400
    assert post(client, b"old 05\n\n" + TREE.checkpoint(3)).status_code == 400
    assert post(client, b"x" * 1_100_000).status_code == 413
    assert client.get("/add-checkpoint").status_code == 405


def test_size_zero_and_proofs_from_zero(client: TestClient) -> None:
    bad_empty = sign_checkpoint(Checkpoint(ORIGIN, 0, bytes(32)), LOG)
    bad_body = format_add_checkpoint(AddCheckpointRequest(0, (), bad_empty))
    assert post(client, bad_body).status_code == 422
    assert post(client, TREE.body(0, 0)).status_code == 200  # the empty tree is fine
    with_proof = AddCheckpointRequest(
        0, TREE.proof(3, 12), parse_signed_checkpoint(TREE.checkpoint(12))
    )
    assert post(client, format_add_checkpoint(with_proof)).status_code == 422


def test_cosignature_times_never_go_backwards(witness_dir: Path, wkey: VerifierKey) -> None:
    times = iter([NOW, NOW - dt.timedelta(hours=1), NOW + dt.timedelta(seconds=5)])
    store = WitnessStore(witness_dir / DB_FILE)
    witness = Witness(load_key(witness_dir), store, clock=lambda: next(times))
    stamps = []
    for old, size in [(0, 5), (5, 6), (6, 7)]:
        answer = witness.add_checkpoint(TREE.body(old, size))
        assert answer.status == 200
        signed = parse_signed_checkpoint(TREE.checkpoint(size) + answer.body)
        stamps.append(signed.note.signatures[-1].signature[:8])
    seconds = [int.from_bytes(s, "big") for s in stamps]
    assert seconds == [int(NOW.timestamp()), int(NOW.timestamp()), int(NOW.timestamp()) + 5]


def test_monitoring_and_status(client: TestClient, app: Starlette, wkey: VerifierKey) -> None:
    assert client.get(f"/{ORIGIN_HASH}/checkpoint").status_code == 404  # nothing cosigned yet
    assert client.get("/" + "0" * 64 + "/checkpoint").status_code == 404
    assert client.get("/NOTHEX/checkpoint").status_code == 404
    assert isinstance(submit(app, wkey, 0, 12), Cosignature)
    reply = client.get(f"/{ORIGIN_HASH}/checkpoint")
    assert reply.status_code == 200
    signed = parse_signed_checkpoint(reply.content)
    assert signed.checkpoint.size == 12
    assert verify_checkpoint(signed, LOG.verifier_key, cosigners=[wkey]).ok
    health = client.get("/healthz").json()
    assert health == {
        "status": "ok",
        "version": health["version"],
        "vkey": format_verifier_key(wkey),
        "logs": 1,
        "refused": 0,
    }
    text = client.get("/").text
    assert f"vkey {format_verifier_key(wkey)}" in text and f"log {ORIGIN} 12" in text


# --- atomic check-and-update ---------------------------------------------------------------------


def test_the_update_is_conditional(witness_dir: Path) -> None:
    """A request decided against a row that has since changed writes nothing."""
    store = WitnessStore(witness_dir / DB_FILE)
    witness = Witness(load_key(witness_dir), store, clock=lambda: NOW)
    assert witness.add_checkpoint(TREE.body(0, 5)).status == 200
    stale = store.get(ORIGIN)
    assert stale is not None
    assert witness.add_checkpoint(TREE.body(5, 12)).status == 200
    # Decided against the stale row (size 5), FORK's 5 -> 9 would pass; the update must not.
    late = parse_add_checkpoint(FORK.body(5, 9))
    assert witness._try(late, FORK.body(5, 9), stale) is None
    record = store.get(ORIGIN)
    assert record is not None and record.size == 12 and record.version == stale.version + 1
    # Through the public path it is decided again, against size 12: a conflict.
    answer = witness.add_checkpoint(FORK.body(5, 9))
    assert (answer.status, answer.body) == (409, b"12\n")


def test_threads_racing_from_one_size(witness_dir: Path) -> None:
    witness = Witness(load_key(witness_dir), WitnessStore(witness_dir / DB_FILE))
    assert witness.add_checkpoint(TREE.body(0, 5)).status == 200
    bodies = [TREE.body(5, 9), FORK.body(5, 11)] * 10
    barrier = threading.Barrier(len(bodies))
    statuses: list[int] = []

    def run(body: bytes) -> None:
        barrier.wait()
        statuses.append(witness.add_checkpoint(body).status)

    threads = [threading.Thread(target=run, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [409] * 19


# --- the data directory --------------------------------------------------------------------------


def test_key_file_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "w"
    key = initialise(path, name=WITNESS_NAME)
    assert (path / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert path.stat().st_mode & 0o777 == 0o700
    assert key.signature_type is SignatureType.COSIGNATURE_V1
    assert initialise(path) == key == initialise(path, name=WITNESS_NAME)
    assert (path / VKEY_FILE).read_text() == format_verifier_key(key.verifier_key) + "\n"
    assert not [p for p in path.iterdir() if p.name.endswith(".tmp")]
    with pytest.raises(WitnessError, match="named"):
        initialise(path, name="another.name")
    db = sqlite3.connect(path / DB_FILE)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        db.close()
    os.chmod(path / KEY_FILE, 0o644)
    with pytest.raises(WitnessError, match="readable by others"):
        load_key(path)


def test_default_name(tmp_path: Path) -> None:
    key = initialise(tmp_path / "w")
    assert key.name.endswith("timeseal-witness")


def test_bad_key_files(tmp_path: Path) -> None:
    with pytest.raises(WitnessError, match="cannot read"):
        load_key(tmp_path)
    path = tmp_path / KEY_FILE
    path.write_text("not a key\n")
    path.chmod(0o600)
    with pytest.raises(WitnessError, match="PRIVATE"):
        load_key(tmp_path)
    from timeseal.core.tlog import format_signer_key

    path.write_text(format_signer_key(LOG) + "\n")
    with pytest.raises(WitnessError, match="cosignature/v1"):
        load_key(tmp_path)


def test_add_log(witness_dir: Path) -> None:
    store = WitnessStore(witness_dir / DB_FILE)
    assert store.add_log(LOG.verifier_key, ORIGIN, now=NOW) is False  # already there
    with pytest.raises(WitnessError, match="already followed"):
        store.add_log(generate_signer_key(ORIGIN).verifier_key, ORIGIN, now=NOW)
    cosigner = generate_signer_key("w2", SignatureType.COSIGNATURE_V1)
    with pytest.raises(WitnessError, match="not a log key"):
        store.add_log(cosigner.verifier_key, "w2", now=NOW)
    with pytest.raises(WitnessError, match="invalid origin"):
        store.add_log(LOG.verifier_key, "two\nlines", now=NOW)
    other = generate_signer_key("other")
    assert store.add_log(other.verifier_key, "other.example/log", now=NOW) is True
    assert store.logs() == [(ORIGIN, 0), ("other.example/log", 0)]


# --- the CLI -------------------------------------------------------------------------------------


def cli() -> typer.Typer:
    from timeseal.cli.witness_cmd import register

    app = typer.Typer()
    register(app)
    return app


def test_cli_vkey_and_add_log(tmp_path: Path) -> None:
    runner = CliRunner()
    data = str(tmp_path / "w")
    result = runner.invoke(cli(), ["witness", "vkey", "--data-dir", data, "--name", "w.test/1"])
    assert result.exit_code == 0, result.output
    vkey = parse_verifier_key(result.output.strip())
    assert vkey.name == "w.test/1" and vkey.signature_type is SignatureType.COSIGNATURE_V1
    log_vkey = format_verifier_key(LOG.verifier_key)
    args = ["witness", "add-log", "--vkey", log_vkey, "--data-dir", data]
    result = runner.invoke(cli(), args)
    assert result.exit_code == 0 and f"following {ORIGIN}" in result.output
    assert "already following" in runner.invoke(cli(), args).output
    other = ["witness", "add-log", "--vkey", log_vkey, "--origin", "o.example", "--data-dir", data]
    assert runner.invoke(cli(), other).exit_code == 0
    for bad in [
        ["--vkey", "nonsense"],
        ["--vkey", format_verifier_key(vkey)],  # a witness key is not a log key
        ["--vkey", format_verifier_key(generate_signer_key(ORIGIN).verifier_key)],
    ]:
        result = runner.invoke(cli(), ["witness", "add-log", *bad, "--data-dir", data])
        assert result.exit_code == 2, result.output
    result = runner.invoke(cli(), ["witness", "vkey", "--data-dir", data, "--name", "x"])
    assert result.exit_code == 2


# --- the client, against bad witnesses -----------------------------------------------------------

WKEY = generate_signer_key("w.example/bad", SignatureType.COSIGNATURE_V1)
NOTE5 = TREE.checkpoint(5)
TEXT5 = parse_signed_checkpoint(NOTE5).note.text


def fake(
    status: int, body: bytes | Callable[[httpx.Request], bytes], ctype: str = "text/plain"
) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/prefix/add-checkpoint"
        content = body(request) if callable(body) else body
        return httpx.Response(status, content=content, headers={"content-type": ctype})

    return httpx.MockTransport(handle)


def call(transport: httpx.AsyncBaseTransport, key: VerifierKey = WKEY.verifier_key) -> object:
    return asyncio.run(
        submit_checkpoint("http://w.example/prefix", key, NOTE5, 0, (), transport=transport)
    )


def line(cosignature: Cosignature) -> bytes:
    return format_cosignature_response([cosignature.note_signature])


def test_client_accepts_only_a_valid_cosignature_for_this_checkpoint() -> None:
    good = make_cosignature(WKEY, TEXT5, NOW)
    assert call(fake(200, line(good))) == good

    def echo(request: httpx.Request) -> bytes:
        assert parse_add_checkpoint(request.content).checkpoint.note.text == TEXT5
        other = make_cosignature(generate_signer_key("x", SignatureType.COSIGNATURE_V1), TEXT5, NOW)
        return line(other) + line(good)  # lines by other keys are ignored

    assert call(fake(200, echo)) == good
    wrong_text = make_cosignature(WKEY, parse_signed_checkpoint(TREE.checkpoint(6)).note.text, NOW)
    impostor = make_cosignature(
        generate_signer_key(WKEY.name, SignatureType.COSIGNATURE_V1), TEXT5, NOW
    )
    epoch = make_cosignature(WKEY, TEXT5, dt.datetime(1970, 1, 1, tzinfo=dt.UTC))
    short = NoteSignature(WKEY.name, WKEY.key_id, bytes(10)).line.encode()  # not 8 + 64 bytes
    tampered = Cosignature(good.name, good.key_id, good.timestamp + 1, good.signature)
    for body in [
        line(wrong_text),
        line(impostor),
        line(epoch),
        line(tampered),
        short,
        b"",
        b"garbage\n",
    ]:
        with pytest.raises(BadWitnessResponse):
            call(fake(200, body))


def test_client_conflicts_and_errors() -> None:
    assert call(fake(409, b"12\n", "text/x.tlog.size")) == Conflict(12)
    assert call(fake(409, b"12\n", "Text/X.Tlog.Size; charset=utf-8")) == Conflict(12)
    for transport in [
        fake(409, b"12\n", "text/plain"),
        fake(409, b"012\n", "text/x.tlog.size"),
        fake(409, b"0\n", "text/x.tlog.size"),  # "conflict" at our own old size
        fake(200, b"x" * 1_000_001),
    ]:
        with pytest.raises(BadWitnessResponse):
            call(transport)
    for status in [400, 403, 404, 422, 418]:
        with pytest.raises(WitnessRefused) as refused:
            call(fake(status, b"no thanks\n"))
        assert refused.value.status == status and refused.value.detail == "no thanks"
        assert refused.value.url == "http://w.example/prefix/add-checkpoint"
    for status in [429, 500, 503]:
        with pytest.raises(WitnessUnavailable):
            call(fake(status, b""))

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(WitnessUnavailable, match="ConnectError"):
        call(httpx.MockTransport(down))


def test_client_argument_checks() -> None:
    with pytest.raises(ValueError, match="cosignature/v1"):
        call(fake(200, b""), key=LOG.verifier_key)
    with pytest.raises(TypeError):
        call(fake(200, b""), key=format_verifier_key(WKEY.verifier_key))  # type: ignore[arg-type]
    with pytest.raises(MalformedError):
        asyncio.run(submit_checkpoint("http://w", WKEY.verifier_key, b"nope", 0, ()))
    with pytest.raises(ValueError, match="63"):
        asyncio.run(submit_checkpoint("http://w", WKEY.verifier_key, NOTE5, 1, (bytes(32),) * 64))


def test_client_reuses_a_given_client() -> None:
    good = make_cosignature(WKEY, TEXT5, NOW)

    async def run() -> object:
        async with httpx.AsyncClient(transport=fake(200, line(good))) as client:
            return await submit_checkpoint(
                "http://w.example/prefix/", WKEY.verifier_key, NOTE5, 0, (), client=client
            )

    assert asyncio.run(run()) == good


def test_attach_cosignatures() -> None:
    second = generate_signer_key("w.example/two", SignatureType.COSIGNATURE_V1)
    first = make_cosignature(WKEY, TEXT5, NOW)
    later = make_cosignature(WKEY, TEXT5, NOW + dt.timedelta(minutes=1))
    note = attach_cosignatures(NOTE5, [first, make_cosignature(second, TEXT5, NOW)])
    note = attach_cosignatures(note, [later])  # replaces the older line by the same key
    signed = parse_signed_checkpoint(note)
    assert [s.name for s in signed.note.signatures] == [ORIGIN, second.name, WKEY.name]
    keys = [WKEY.verifier_key, second.verifier_key]
    assert verify_checkpoint(signed, LOG.verifier_key, cosigners=keys).ok
    assert attach_cosignatures(NOTE5, []) == NOTE5
    with pytest.raises(TypeError):
        attach_cosignatures(NOTE5, [first.note_signature])  # type: ignore[list-item]
    # Unverified by design: a cosignature for another checkpoint makes a note that fails.
    wrong = make_cosignature(WKEY, parse_signed_checkpoint(TREE.checkpoint(6)).note.text, NOW)
    bad = parse_signed_checkpoint(attach_cosignatures(NOTE5, [wrong]))
    result = verify_checkpoint(bad, LOG.verifier_key, cosigners=[WKEY.verifier_key])
    assert result.failed == (Check.COSIGNATURE,)


# --- a real `timeseal witness serve` -------------------------------------------------------------

# `timeseal witness …`, whether or not cli/main.py registers the group yet.
SHIM = (
    "from timeseal.cli.main import app\n"
    "from timeseal.cli.witness_cmd import register\n"
    "if not any(g.name == 'witness' for g in app.registered_groups):\n"
    "    register(app)\n"
    "app()\n"
)
WITNESS_CLI = [sys.executable, "-c", SHIM, "witness"]


@contextmanager
def live_witness(data_dir: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [*WITNESS_CLI, "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def race(
    url: str, wkey: VerifierKey, old: int, candidates: Sequence[Tree], sizes: Sequence[int]
) -> list[Cosignature | Conflict]:
    """Ten concurrent submissions of each candidate (tree, size), all from ``old``."""
    jobs = [(tree, size) for tree, size in zip(candidates, sizes, strict=True)] * 10
    limits = httpx.Limits(max_connections=len(jobs), max_keepalive_connections=len(jobs))
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        return await asyncio.gather(
            *(
                submit_checkpoint(
                    url, wkey, tree.checkpoint(size), old, tree.proof(old, size), client=client
                )
                for tree, size in jobs
            )
        )


def test_live_witness_races_and_restarts(tmp_path: Path) -> None:
    data_dir = tmp_path / "witness"
    vkey_out = subprocess.run(
        [*WITNESS_CLI, "vkey", "--data-dir", str(data_dir), "--name", WITNESS_NAME],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    wkey = parse_verifier_key(vkey_out.strip())
    assert (data_dir / KEY_FILE).stat().st_mode & 0o777 == 0o600

    with live_witness(data_dir) as url:
        # A log added while the witness runs is followed at once.
        unknown = httpx.post(f"{url}/add-checkpoint", content=TREE.body(0, 5))
        assert unknown.status_code == 404
        subprocess.run(
            [*WITNESS_CLI, "add-log", "--vkey", format_verifier_key(LOG.verifier_key),
             "--data-dir", str(data_dir)],
            check=True, capture_output=True,
        )  # fmt: skip
        first = asyncio.run(submit_checkpoint(url, wkey, TREE.checkpoint(5), 0, ()))
        assert isinstance(first, Cosignature)

        # Rounds of 20 concurrent requests: two different checkpoints, both extending the
        # size the witness holds. Exactly one request wins; all the others get 409.
        current, size = Tree(TREE.data[:5]), 5
        for round_ in range(3):
            a = current.extended(entries(4, offset=10_000 * round_ + 1))
            b = current.extended(entries(6, offset=10_000 * round_ + 5_000))
            results = asyncio.run(race(url, wkey, size, [a, b], [size + 4, size + 6]))
            won = [r for r in results if isinstance(r, Cosignature)]
            assert len(won) == 1, results
            winner_size = next(r.size for r in results if isinstance(r, Conflict))
            assert all(r == Conflict(winner_size) for r in results if isinstance(r, Conflict))
            current, size = (a if winner_size == size + 4 else b), winner_size
            cosigned(current.checkpoint(size), won[0], wkey)

        held = httpx.get(f"{url}/{ORIGIN_HASH}/checkpoint").content
        assert parse_signed_checkpoint(held).checkpoint.size == size

    # A restart keeps the key and the state.
    with live_witness(data_dir) as url:
        assert httpx.get(f"{url}/healthz").json()["vkey"] == format_verifier_key(wkey)
        assert httpx.get(f"{url}/{ORIGIN_HASH}/checkpoint").content == held
        assert asyncio.run(
            submit_checkpoint(url, wkey, current.checkpoint(size), 0, ())
        ) == Conflict(size)
        grown = current.extended(entries(3, offset=99_000))
        result = asyncio.run(
            submit_checkpoint(
                url, wkey, grown.checkpoint(size + 3), size, grown.proof(size, size + 3)
            )
        )
        assert isinstance(result, Cosignature)
        cosigned(grown.checkpoint(size + 3), result, wkey)
    assert (data_dir / KEY_FILE).stat().st_mode & 0o777 == 0o600

"""C2SP tlog-witness add-checkpoint bodies and decisions (timeseal.core.tlog.witness)."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.core.tlog.helpers import MemoryHashes, entries, flip
from timeseal.core.errors import MalformedError
from timeseal.core.tlog import (
    EMPTY_ROOT,
    MAX_WITNESS_PROOF,
    SIZE_CONTENT_TYPE,
    AddCheckpointRequest,
    Checkpoint,
    NoteSignature,
    SignatureType,
    SignedCheckpoint,
    WitnessStatus,
    add_signature,
    consistency_proof,
    decide_add_checkpoint,
    format_add_checkpoint,
    format_cosignature_response,
    format_signed_checkpoint,
    format_size_response,
    generate_signer_key,
    leaf_hash,
    make_cosignature,
    parse_add_checkpoint,
    parse_cosignature_response,
    parse_signed_checkpoint,
    parse_size_response,
    sign_checkpoint,
    tree_hash,
)
from timeseal.core.tlog.witness import MAX_ADD_CHECKPOINT_SIZE

# C2SP tlog-witness "add-checkpoint": the example request and response bodies, verbatim.
SPEC_REQUEST = (
    "old 20852014\n"
    "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
    "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
    "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
    "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
    "\n"
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q"
    "1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V626"
    "7UEjw6QUXTS5Rovnzv++qbSzm9Q=\n"
).encode()
SPEC_RESPONSE = (
    "— witness.example/w1 CMp+6LWBU0anHGH5aNDTJkH/gj79sG+T6+iP2ThYN5krrDJbR1HDnucjL39QsZTSvVjyQLrdk"
    "3DXDqI5G2HgLatVs0pWh6Up69HVOw==\n"
    "— witness.example/w1 I7rEps0pvK2UqkS2gSpVUDhrhVtQV9lgF6pRrWAvjJHjyWpW7VcE3SiOlVlbQNt64vWhO+Dlk"
    "L0+UfzuOBMh9ChdMkP1vi/lCAsmlw==\n"
    "— witness.example/w2 AWui8Sk55XjYLOijihBjhqEH6nS1ndDymE0a+6idX7pLcnoB+dhnz0854aLZgrrKbYKA7nC3H"
    "NJhm/kWl7oJlqU3rXXvpysAdyP3wQ==\n"
).encode()

ORIGIN = "log.example/witness-test"
LOG = generate_signer_key(ORIGIN)
OTHER = generate_signer_key("someone.example/else")
WITNESS = generate_signer_key("witness.example/w1", SignatureType.COSIGNATURE_V1)
DATA = entries(40)
TREE = MemoryHashes([leaf_hash(e) for e in DATA])
FORK = MemoryHashes([leaf_hash(e) for e in DATA[:5] + entries(35, offset=1000)])


def root(store: MemoryHashes, size: int) -> bytes:
    return tree_hash(store.leaf_hashes[:size])


def signed(size: int, store: MemoryHashes = TREE, *, origin: str = ORIGIN) -> SignedCheckpoint:
    return sign_checkpoint(Checkpoint(origin, size, root(store, size)), LOG)


def request(old: int, size: int, store: MemoryHashes = TREE) -> AddCheckpointRequest:
    """An add-checkpoint request from ``old`` to ``size`` with a proof from ``store``."""
    proof = consistency_proof(store, first=old, second=size) if 0 < old <= size else ()
    return AddCheckpointRequest(old, proof, signed(size, store))


def latest(size: int, store: MemoryHashes = TREE) -> Checkpoint:
    return Checkpoint(ORIGIN, size, root(store, size))


# --- the request body -----------------------------------------------------------------------


def test_spec_example_request_round_trips() -> None:
    parsed = parse_add_checkpoint(SPEC_REQUEST)
    assert parsed.old_size == 20852014
    assert len(parsed.consistency_proof) == 4
    assert parsed.consistency_proof[0] == base64.b64decode(
        "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw="
    )
    assert parsed.checkpoint.checkpoint.size == 20852163
    assert len(parsed.checkpoint.note.signatures) == 2  # may include several signatures
    assert format_add_checkpoint(parsed) == SPEC_REQUEST


def test_layout_follows_the_spec() -> None:
    req = request(5, 12)
    body = format_add_checkpoint(req)
    lines = body.split(b"\n")
    assert lines[0] == b"old 5"
    assert lines[1 : 1 + len(req.consistency_proof)] == [
        base64.b64encode(h) for h in req.consistency_proof
    ]
    assert lines[1 + len(req.consistency_proof)] == b""
    assert body.endswith(b"\n\n" + format_signed_checkpoint(req.checkpoint))
    empty = format_add_checkpoint(AddCheckpointRequest(0, (), signed(3)))
    assert empty.startswith(b"old 0\n\n" + ORIGIN.encode() + b"\n3\n")
    assert parse_add_checkpoint(empty).consistency_proof == ()


NOTE = format_signed_checkpoint(signed(12))
H = base64.b64encode(bytes(32))


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 5\n",
        b"old 5\n" + NOTE,  # no empty line
        b"old 05\n\n" + NOTE,
        b"old +5\n\n" + NOTE,
        b"old -1\n\n" + NOTE,
        b"old 5 \n\n" + NOTE,
        b"old  5\n\n" + NOTE,
        b"Old 5\n\n" + NOTE,
        b"old\n\n" + NOTE,
        b"old 9223372036854775808\n\n" + NOTE,  # 2**63
        b"\nold 5\n\n" + NOTE,
        b"old 5\r\n\r\n" + NOTE,
        b"old 5\n" + H + b"\n\n\n" + NOTE,  # two empty lines
        b"old 5\n" + base64.b64encode(bytes(31)) + b"\n\n" + NOTE,
        b"old 5\n" + base64.b64encode(bytes(33)) + b"\n\n" + NOTE,
        b"old 5\n" + H[:-1] + b"\n\n" + NOTE,  # not base64
        b"old 5\n" + H[:-2] + b"B=\n\n" + NOTE,  # non-canonical trailing bits
        b"old 5\n" + H + b" \n\n" + NOTE,
        b"old 5\n" + b"\n".join([H] * (MAX_WITNESS_PROOF + 1)) + b"\n\n" + NOTE,
        "old ５\n\n".encode() + NOTE,  # fullwidth digit
        b"old 5\n\n" + NOTE[:-1],  # note without its final newline
        b"old 5\n\n" + NOTE.replace(b"\n\n", b"\n"),  # note without signatures
        b"old 5\n\n" + NOTE + b"\n",
        b"old 5\n\n\xff" + NOTE,
        b"old 5\n\n" + b"x" * MAX_ADD_CHECKPOINT_SIZE,
    ],
)
def test_malformed_requests(body: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_add_checkpoint(body)


def test_sixty_three_proof_lines_parse() -> None:
    body = b"old 5\n" + b"\n".join([H] * MAX_WITNESS_PROOF) + b"\n\n" + NOTE
    assert len(parse_add_checkpoint(body).consistency_proof) == 63


def test_request_value_checks() -> None:
    cp = signed(3)
    with pytest.raises(ValueError, match="negative"):
        AddCheckpointRequest(-1, (), cp)
    with pytest.raises(TypeError):
        AddCheckpointRequest(True, (), cp)
    with pytest.raises(TypeError):
        AddCheckpointRequest(1, [bytes(32)], cp)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="63"):
        AddCheckpointRequest(1, (bytes(32),) * 64, cp)
    with pytest.raises(ValueError, match="32 bytes"):
        AddCheckpointRequest(1, (bytes(31),), cp)
    with pytest.raises(TypeError):
        AddCheckpointRequest(1, (), NOTE)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        format_add_checkpoint(NOTE)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        parse_add_checkpoint("old 0\n\n")  # type: ignore[arg-type]


requests = st.builds(
    AddCheckpointRequest,
    st.integers(0, 2**63 - 1),
    st.lists(st.binary(min_size=32, max_size=32), max_size=MAX_WITNESS_PROOF).map(tuple),
    st.integers(0, 40).map(signed),
)


@settings(max_examples=200)
@given(req=requests)
def test_request_round_trip(req: AddCheckpointRequest) -> None:
    assert parse_add_checkpoint(format_add_checkpoint(req)) == req


def _mutations(body: bytes) -> st.SearchStrategy[bytes]:
    return st.tuples(st.integers(0, len(body)), st.binary(max_size=3), st.integers(0, 3)).map(
        lambda t: body[: t[0]] + t[1] + body[t[0] + t[2] :]
    )


@settings(max_examples=500)
@given(
    body=st.binary(max_size=300)
    | requests.map(format_add_checkpoint).flatmap(_mutations)
    | _mutations(SPEC_REQUEST)
    | st.builds(lambda b: b"old " + b, st.binary(max_size=100))
)
def test_parse_add_checkpoint_fuzz(body: bytes) -> None:
    """Anything is either malformed or a request that formats back to the same bytes."""
    try:
        req = parse_add_checkpoint(body)
    except MalformedError:
        return
    assert format_add_checkpoint(req) == body


# --- the responses --------------------------------------------------------------------------


def test_spec_example_response() -> None:
    lines = parse_cosignature_response(SPEC_RESPONSE)
    assert [s.name for s in lines] == ["witness.example/w1"] * 2 + ["witness.example/w2"]
    assert format_cosignature_response(lines) == SPEC_RESPONSE


def test_cosignature_response_of_a_real_cosignature() -> None:
    cp = signed(12)
    cosignature = make_cosignature(WITNESS, cp.note.text, dt.datetime(2026, 5, 1, tzinfo=dt.UTC))
    body = format_cosignature_response([cosignature.note_signature])
    assert body.startswith("— witness.example/w1 ".encode()) and body.endswith(b"\n")
    assert body.count(b"\n") == 1
    assert parse_cosignature_response(body) == (cosignature.note_signature,)
    # "the client MAY concatenate it to the checkpoint": the result is the cosigned note.
    cosigned = parse_signed_checkpoint(format_signed_checkpoint(cp) + body)
    assert cosigned.note == add_signature(cp.note, cosignature.note_signature)


LINE = SPEC_RESPONSE.split(b"\n")[0] + b"\n"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\n",
        LINE[:-1],  # no final newline
        LINE + b"\n",
        b"\n" + LINE,
        LINE + b"\n" + LINE.replace(b"w1", b"w3"),  # an empty line between
        LINE + LINE,  # twice by one key
        LINE.replace("—".encode(), b"-"),
        LINE.replace(b"w1 ", b"w1  "),
        LINE.replace(b"==\n", b"=\n"),
        b"- witness.example/w1 AAAAAAA=\n",
        "— witness.example/w1 AAAA\n".encode(),  # too short for a key ID and a signature
        "— a+b AAAAAAAA\n".encode(),
        LINE.replace(b"\n", b"\r\n"),
        LINE * 101,
        b"\xff\n",
    ],
)
def test_malformed_cosignature_responses(body: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_cosignature_response(body)


def test_format_cosignature_response_checks_its_argument() -> None:
    line = parse_cosignature_response(LINE)[0]
    with pytest.raises(TypeError):
        format_cosignature_response(line)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        format_cosignature_response(["x"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"1\.\.100"):
        format_cosignature_response([])
    with pytest.raises(TypeError):
        parse_cosignature_response("x")  # type: ignore[arg-type]


signature_lines = st.lists(
    st.builds(
        NoteSignature,
        st.sampled_from(["w1", "witness.example/w2", "见证人"]),
        st.binary(min_size=4, max_size=4),
        st.binary(min_size=1, max_size=80),
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda s: (s.name, s.key_id),
)


@settings(max_examples=400)
@given(
    body=st.binary(max_size=200)
    | signature_lines.map(format_cosignature_response).flatmap(_mutations)
)
def test_parse_cosignature_response_fuzz(body: bytes) -> None:
    try:
        lines = parse_cosignature_response(body)
    except MalformedError:
        return
    assert format_cosignature_response(lines) == body


def test_size_response() -> None:
    assert SIZE_CONTENT_TYPE == "text/x.tlog.size"
    assert format_size_response(0) == b"0\n"
    assert format_size_response(20852163) == b"20852163\n"
    assert parse_size_response(b"20852163\n") == 20852163
    assert parse_size_response(b"9223372036854775807\n") == 2**63 - 1
    with pytest.raises(ValueError, match="2\\*\\*63"):
        format_size_response(2**63)
    with pytest.raises(TypeError):
        parse_size_response("5\n")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "body",
    [b"", b"\n", b"5", b"05\n", b"+5\n", b"-5\n", b" 5\n", b"5 \n", b"5\n\n", b"5\r\n",
     b"9223372036854775808\n", b"99999999999999999999\n", "５\n".encode(), b"\xff\n"],
)  # fmt: skip
def test_malformed_size_responses(body: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_size_response(body)


@settings(max_examples=300)
@given(body=st.binary(max_size=25) | st.integers(0, 2**64).map(lambda n: f"{n}\n".encode()))
def test_parse_size_response_fuzz(body: bytes) -> None:
    try:
        size = parse_size_response(body)
    except MalformedError:
        return
    assert format_size_response(size) == body


# --- the decision ---------------------------------------------------------------------------


def decide(req: AddCheckpointRequest, held: Checkpoint) -> WitnessStatus:
    decision = decide_add_checkpoint(req, log_keys=[LOG.verifier_key], latest=held)
    assert decision.accepted is (decision.status is WitnessStatus.OK)
    assert decision.detail
    return decision.status


NOTHING = Checkpoint(ORIGIN, 0, EMPTY_ROOT)


def test_a_log_grows_from_nothing() -> None:
    assert decide(request(0, 5), NOTHING) is WitnessStatus.OK
    assert decide(request(5, 12), latest(5)) is WitnessStatus.OK
    assert decide(request(12, 40), latest(12)) is WitnessStatus.OK
    assert decide(request(12, 12), latest(12)) is WitnessStatus.OK  # the same again
    assert decide(request(0, 0), NOTHING) is WitnessStatus.OK  # the empty tree


def test_one_and_power_of_two_sizes() -> None:
    assert decide(request(1, 2), latest(1)) is WitnessStatus.OK
    assert decide(request(4, 8), latest(4)) is WitnessStatus.OK
    assert decide(request(8, 9), latest(8)) is WitnessStatus.OK


def test_step_1_signatures() -> None:
    cp = Checkpoint(ORIGIN, 5, root(TREE, 5))
    by_other = sign_checkpoint(cp, OTHER)
    assert decide(AddCheckpointRequest(0, (), by_other), NOTHING) is WitnessStatus.FORBIDDEN
    # Same name, different key: the key ID does not match, so it is not a trusted signature.
    impostor = sign_checkpoint(cp, generate_signer_key(ORIGIN))
    assert decide(AddCheckpointRequest(0, (), impostor), NOTHING) is WitnessStatus.FORBIDDEN
    # The trusted key's name and ID, a bad signature: 403 even beside a good one by another.
    good = sign_checkpoint(cp, LOG)
    sig = good.note.signatures[0]
    bad = NoteSignature(sig.name, sig.key_id, flip(sig.signature, 7))
    note = add_signature(sign_checkpoint(cp, OTHER).note, bad)
    forged = AddCheckpointRequest(0, (), SignedCheckpoint(cp, note))
    assert decide(forged, NOTHING) is WitnessStatus.FORBIDDEN
    # Signatures by unknown keys are ignored.
    extra = add_signature(good.note, sign_checkpoint(cp, OTHER).note.signatures[0])
    assert decide(AddCheckpointRequest(0, (), SignedCheckpoint(cp, extra)), NOTHING).value == 200
    # A 403 comes before every other answer: unauthenticated callers learn nothing.
    assert decide(AddCheckpointRequest(9, (), by_other), latest(12)) is WitnessStatus.FORBIDDEN


def test_step_1_accepts_any_trusted_key() -> None:
    second = generate_signer_key(ORIGIN)
    cp = sign_checkpoint(Checkpoint(ORIGIN, 5, root(TREE, 5)), second)
    decision = decide_add_checkpoint(
        AddCheckpointRequest(0, (), cp), log_keys=[LOG.verifier_key, second.verifier_key],
        latest=NOTHING,
    )  # fmt: skip
    assert decision.accepted, decision.detail


def test_step_2_old_size_above_the_checkpoint() -> None:
    assert decide(request(12, 5), latest(12)) is WitnessStatus.BAD_REQUEST  # a rollback
    assert decide(request(6, 5), latest(12)) is WitnessStatus.BAD_REQUEST


def test_step_3_conflict() -> None:
    assert decide(request(0, 12), latest(5)) is WitnessStatus.CONFLICT
    assert decide(request(4, 12), latest(5)) is WitnessStatus.CONFLICT
    assert decide(request(5, 12), NOTHING) is WitnessStatus.CONFLICT
    assert decide(request(3, 5), latest(12)) is WitnessStatus.CONFLICT  # a stale rollback


def test_step_4_the_empty_tree_has_the_empty_root() -> None:
    bad = sign_checkpoint(Checkpoint(ORIGIN, 0, bytes(32)), LOG)
    assert decide(AddCheckpointRequest(0, (), bad), NOTHING) is WitnessStatus.UNPROCESSABLE


def test_step_5_no_proof_from_zero() -> None:
    req = AddCheckpointRequest(0, consistency_proof(TREE, first=5, second=12), signed(12))
    assert decide(req, NOTHING) is WitnessStatus.UNPROCESSABLE


def test_step_6_same_size() -> None:
    assert decide(request(12, 12, FORK), latest(12)) is WitnessStatus.UNPROCESSABLE  # a fork
    with_proof = AddCheckpointRequest(12, (bytes(32),), signed(12))
    assert decide(with_proof, latest(12)) is WitnessStatus.UNPROCESSABLE


def test_step_7_consistency() -> None:
    # A bigger tree that does not extend the cosigned one, with its own valid-looking proof.
    assert decide(request(12, 20, FORK), latest(12)) is WitnessStatus.UNPROCESSABLE
    # The right tree with a wrong, short, long or missing proof.
    good = request(12, 20)
    for proof in [
        (),
        good.consistency_proof[:-1],
        (*good.consistency_proof, bytes(32)),
        (bytes(32),) * len(good.consistency_proof),
        consistency_proof(TREE, first=11, second=20),
    ]:
        req = AddCheckpointRequest(12, proof, good.checkpoint)
        assert decide(req, latest(12)) is WitnessStatus.UNPROCESSABLE
    # The fork shares the first five entries, so it does extend size 5.
    assert decide(request(5, 20, FORK), latest(5)) is WitnessStatus.OK


def test_decide_checks_its_arguments() -> None:
    req = request(0, 5)
    with pytest.raises(ValueError, match="404"):
        decide_add_checkpoint(req, log_keys=[], latest=NOTHING)
    with pytest.raises(ValueError, match="Ed25519"):
        decide_add_checkpoint(req, log_keys=[WITNESS.verifier_key], latest=NOTHING)
    with pytest.raises(TypeError):
        decide_add_checkpoint(req, log_keys=["key"], latest=NOTHING)  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"other\.example"):
        decide_add_checkpoint(
            req, log_keys=[LOG.verifier_key], latest=Checkpoint("other.example", 0, EMPTY_ROOT)
        )
    with pytest.raises(TypeError):
        decide_add_checkpoint(NOTE, log_keys=[LOG.verifier_key], latest=NOTHING)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        decide_add_checkpoint(req, log_keys=[LOG.verifier_key], latest=NOTE)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(held=st.integers(0, 40), old=st.integers(0, 40), size=st.integers(0, 40))
def test_only_extensions_of_the_held_tree_are_accepted(held: int, old: int, size: int) -> None:
    """With honest proofs, exactly the requests from the held size to a size at least as large
    pass; the fork (which agrees with the tree up to size 5) only where it is consistent."""
    ok = decide(request(old, size), latest(held)) is WitnessStatus.OK
    assert ok == (old == held and size >= held)
    forked = decide(request(old, size, FORK), latest(held)) is WitnessStatus.OK
    assert forked == (old == held and size >= held and held <= 5)

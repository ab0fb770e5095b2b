"""The public names of the trust library, pinned: adding, removing or renaming one is an API
change that must show up in review as a change to this file (as httpx's
``tests/test_exported_members.py`` pins ``httpx.__all__``)."""

from __future__ import annotations

import types

import pytest

import timeseal.core
import timeseal.core.tlog

CORE = [
    "Accuracy",
    "Check",
    "CheckResult",
    "FailureInfo",
    "HashAlgorithm",
    "IssuedToken",
    "KeySigner",
    "MalformedError",
    "PKIStatus",
    "Rejection",
    "SignatureAlgorithm",
    "Signer",
    "Status",
    "TSTInfo",
    "TimeSealError",
    "TimeStampAuthority",
    "TimeStampRequest",
    "TimeStampResponse",
    "TimeStampToken",
    "TimestampVerifier",
    "TimestampVerifierBuilder",
    "UnsupportedAlgorithm",
    "UnsupportedError",
    "UnsupportedVersion",
    "VerificationFailed",
    "VerificationResult",
    "build_request",
    "digest_stream",
    "parse_request",
    "parse_response",
    "parse_token",
]

TLOG = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_CONSISTENCY_PATH",
    "MAX_INCLUSION_PATH",
    "MAX_TREE_SIZE",
    "MAX_WITNESS_PROOF",
    "SIZE_CONTENT_TYPE",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "AddCheckpointRequest",
    "Checkpoint",
    "Cosignature",
    "Decision",
    "EntriesTile",
    "HashReader",
    "Integration",
    "Node",
    "NodeVisitor",
    "Note",
    "NoteSignature",
    "SignatureType",
    "SignedCheckpoint",
    "SignerKey",
    "Tile",
    "TileFetcher",
    "TileHashReader",
    "TlogProof",
    "TreeState",
    "VerifierKey",
    "WitnessStatus",
    "add_signature",
    "consistency_proof",
    "consistency_proof_nodes",
    "cosign_checkpoint",
    "cosignature_is_valid",
    "cosigned_message",
    "decide_add_checkpoint",
    "edge_tiles",
    "entries_tile_for",
    "find_signature",
    "format_add_checkpoint",
    "format_checkpoint",
    "format_cosignature_response",
    "format_entry_bundle",
    "format_note",
    "format_signed_checkpoint",
    "format_signer_key",
    "format_size_response",
    "format_tile",
    "format_tlog_proof",
    "format_verifier_key",
    "generate_signer_key",
    "inclusion_proof",
    "inclusion_proof_nodes",
    "integrate",
    "key_id",
    "leaf_hash",
    "make_cosignature",
    "new_tiles",
    "node_hash",
    "parse_add_checkpoint",
    "parse_checkpoint",
    "parse_cosignature",
    "parse_cosignature_response",
    "parse_entry_bundle",
    "parse_note",
    "parse_signed_checkpoint",
    "parse_signer_key",
    "parse_size_response",
    "parse_tile",
    "parse_tile_path",
    "parse_tlog_proof",
    "parse_verifier_key",
    "right_edge_nodes",
    "sign_checkpoint",
    "sign_note",
    "signature_is_valid",
    "tile_for_node",
    "tiles_for_consistency",
    "tiles_for_inclusion",
    "tiles_for_nodes",
    "tiles_for_tree_hash",
    "tree_hash",
    "tree_hash_from_reader",
    "unknown_signatures",
    "verify_checkpoint",
    "verify_consistency",
    "verify_inclusion",
    "verify_tlog_proof",
]


@pytest.mark.parametrize(
    ("module", "pinned"), [(timeseal.core, CORE), (timeseal.core.tlog, TLOG)], ids=["core", "tlog"]
)
def test_all_is_pinned(module: types.ModuleType, pinned: list[str]) -> None:
    assert module.__all__ == pinned


@pytest.mark.parametrize("module", [timeseal.core, timeseal.core.tlog], ids=["core", "tlog"])
def test_every_public_name_is_exported_and_resolves(module: types.ModuleType) -> None:
    # A name imported into the package without a leading underscore is public whether or not
    # it is listed: it must be in __all__ (submodules aside), and everything listed must exist.
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(module.__all__)
    assert len(set(module.__all__)) == len(module.__all__)
    for name in module.__all__:
        assert getattr(module, name) is not None, name


def test_star_import_gives_exactly_the_pinned_names() -> None:
    namespace: dict[str, object] = {}
    exec("from timeseal.core import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(CORE)

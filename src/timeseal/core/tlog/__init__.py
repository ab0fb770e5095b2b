"""The append-only Merkle log: RFC 6962/9162 maths and the C2SP formats around it.

Modules, from the maths up:

- ``merkle``       leaf/node hashing, tree hashes, inclusion and consistency proofs
                   generated from stored node hashes (RFC 9162 §2.1.3.1, §2.1.4.1)
- ``verify``       verifying those proofs (RFC 9162 §2.1.3.2, §2.1.4.2)
- ``compact``      ``TreeState``: the right edge of the tree, appended to in O(log n)
- ``tiles``        C2SP tlog-tiles addresses, tile and entry-bundle contents, ``TileHashReader``
- ``integrate``    appending a batch of entries: new state plus every tile to write
- ``note``         C2SP signed-note and Ed25519 note keys
- ``cosignature``  C2SP tlog-cosignature ``cosignature/v1``
- ``checkpoint``   C2SP tlog-checkpoint: parse, format, sign, cosign, verify
- ``proof``        C2SP tlog-proof offline receipts

All pure: no I/O, no clock (times are arguments). See docs/log.md.
"""

from timeseal.core.tlog.checkpoint import (
    Checkpoint,
    SignedCheckpoint,
    cosign_checkpoint,
    format_checkpoint,
    format_signed_checkpoint,
    parse_checkpoint,
    parse_signed_checkpoint,
    sign_checkpoint,
    verify_checkpoint,
)
from timeseal.core.tlog.compact import NodeVisitor, TreeState
from timeseal.core.tlog.cosignature import (
    Cosignature,
    cosignature_is_valid,
    cosigned_message,
    make_cosignature,
    parse_cosignature,
)
from timeseal.core.tlog.integrate import Integration, integrate
from timeseal.core.tlog.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MAX_CONSISTENCY_PATH,
    MAX_INCLUSION_PATH,
    MAX_TREE_SIZE,
    HashReader,
    Node,
    consistency_proof,
    consistency_proof_nodes,
    inclusion_proof,
    inclusion_proof_nodes,
    leaf_hash,
    node_hash,
    right_edge_nodes,
    tree_hash,
    tree_hash_from_reader,
)
from timeseal.core.tlog.note import (
    Note,
    NoteSignature,
    SignatureType,
    SignerKey,
    VerifierKey,
    add_signature,
    find_signature,
    format_note,
    format_signer_key,
    format_verifier_key,
    generate_signer_key,
    key_id,
    parse_note,
    parse_signer_key,
    parse_verifier_key,
    sign_note,
    signature_is_valid,
    unknown_signatures,
)
from timeseal.core.tlog.proof import (
    TlogProof,
    format_tlog_proof,
    parse_tlog_proof,
    verify_tlog_proof,
)
from timeseal.core.tlog.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    EntriesTile,
    Tile,
    TileFetcher,
    TileHashReader,
    edge_tiles,
    entries_tile_for,
    format_entry_bundle,
    format_tile,
    new_tiles,
    parse_entry_bundle,
    parse_tile,
    parse_tile_path,
    tile_for_node,
    tiles_for_consistency,
    tiles_for_inclusion,
    tiles_for_nodes,
    tiles_for_tree_hash,
)
from timeseal.core.tlog.verify import verify_consistency, verify_inclusion

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_CONSISTENCY_PATH",
    "MAX_INCLUSION_PATH",
    "MAX_TREE_SIZE",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "Checkpoint",
    "Cosignature",
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
    "add_signature",
    "consistency_proof",
    "consistency_proof_nodes",
    "cosign_checkpoint",
    "cosignature_is_valid",
    "cosigned_message",
    "edge_tiles",
    "entries_tile_for",
    "find_signature",
    "format_checkpoint",
    "format_entry_bundle",
    "format_note",
    "format_signed_checkpoint",
    "format_signer_key",
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
    "parse_checkpoint",
    "parse_cosignature",
    "parse_entry_bundle",
    "parse_note",
    "parse_signed_checkpoint",
    "parse_signer_key",
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

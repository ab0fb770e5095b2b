"""RFC 6962 / RFC 9162 Merkle tree hashing, and proofs built from stored node hashes.

Terms are the RFC's: ``leaf_index``, ``tree_size``, ``root_hash``, ``inclusion_path`` (RFC 6962
calls it a "Merkle audit path") and ``consistency_path``. A :class:`Node` ``(level, index)`` is
the root of a *perfect* subtree, the hash of ``D[index * 2**level : (index + 1) * 2**level]``
(transparency-dev calls it a ``NodeID``; Go tlog stores it as hash ``N`` at level ``L``). A log
stores only these; every other hash in a proof is computed from them.

Tree sizes are capped at ``MAX_TREE_SIZE = 2**63 - 1`` so that they fit a signed 64-bit integer
(PostgreSQL ``bigint``, SQLite ``INTEGER``, Go's ``strconv.ParseInt(s, 10, 64)`` in checkpoint
parsers). With that cap a tree is at most 63 levels deep, which bounds proof lengths:

* an inclusion path has at most 63 hashes (one per level);
* a consistency path has at most 64: when ``first`` is not a power of two the proof starts with
  the hash of the right-most perfect subtree of ``first`` (the "seed") before up to 63 path
  hashes, e.g. ``first = 3, second = 2**62 + 1``.

``timeseal.core.tlog.verify`` fails longer proofs without hashing them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from timeseal.core.tlog._checks import HASH_SIZE as HASH_SIZE
from timeseal.core.tlog._checks import MAX_TREE_SIZE as MAX_TREE_SIZE
from timeseal.core.tlog._checks import (
    require_bytes,
    require_hash,
    require_int,
    require_size,
)

#: MTH({}) = SHA-256() — RFC 9162 §2.1.1: the hash of an empty list is the hash of an empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()
MAX_INCLUSION_PATH = 63
MAX_CONSISTENCY_PATH = 64

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(entry: bytes) -> bytes:
    """SHA-256(0x00 || entry). RFC 6962 §2.1, RFC 9162 §2.1.1."""
    require_bytes(entry, "entry")
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right). RFC 6962 §2.1, RFC 9162 §2.1.1."""
    require_hash(left, "left")
    require_hash(right, "right")
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def tree_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) from the n leaf hashes; ``EMPTY_ROOT`` for n = 0. RFC 9162 §2.1.1.

    Hashes level by level, carrying an odd last hash up unchanged, which builds exactly the
    RFC's tree (left subtree the largest power of two smaller than n).
    """
    level = list(leaf_hashes)
    for i, h in enumerate(level):
        require_hash(h, f"leaf_hashes[{i}]")
    return tree_hash_unchecked(level)


def tree_hash_unchecked(leaf_hashes: Sequence[bytes]) -> bytes:
    """:func:`tree_hash` for hashes already known to be 32 bytes each (e.g. from a parsed
    tile): the hot path of proofs computed from tiles."""
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    sha256 = hashlib.sha256
    while len(level) > 1:
        odd = level[-1] if len(level) & 1 else None
        level = [
            sha256(_NODE_PREFIX + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        if odd is not None:
            level.append(odd)
    return level[0]


@dataclass(frozen=True, slots=True, order=True)
class Node:
    """The root of the perfect subtree over leaves ``[index << level, (index + 1) << level)``."""

    level: int
    index: int

    def __post_init__(self) -> None:
        if require_int(self.level, "level") > 63 or require_int(self.index, "index") >= 2**64:
            raise ValueError(f"no node at level {self.level}, index {self.index}")

    @property
    def begin(self) -> int:
        """The first leaf index the subtree covers."""
        return self.index << self.level

    @property
    def end(self) -> int:
        """One past the last leaf index the subtree covers."""
        return (self.index + 1) << self.level


class HashReader(Protocol):
    """Reads stored node hashes, like Go tlog's ``HashReader`` but addressed by :class:`Node`.

    ``read_hashes`` returns one 32-byte hash per node, in the order asked. A log reads them
    from its database or, through :class:`~timeseal.core.tlog.tiles.TileHashReader`, from
    C2SP tiles.
    """

    def read_hashes(self, nodes: Sequence[Node], /) -> Sequence[bytes]: ...


def right_edge_nodes(tree_size: int) -> tuple[Node, ...]:
    """The perfect subtrees whose hashes fold into the root of a tree of ``tree_size``.

    One per set bit of ``tree_size``, largest (left-most) first: the compact range [0, size)
    of transparency-dev ``compact.Range``.
    """
    require_size(tree_size, "tree_size")
    nodes = []
    begin = 0
    for level in range(tree_size.bit_length() - 1, -1, -1):
        if tree_size >> level & 1:
            nodes.append(Node(level, begin >> level))
            begin += 1 << level
    return tuple(nodes)


def inclusion_proof_nodes(leaf_index: int, tree_size: int) -> tuple[Node, ...]:
    """Every stored node hash that ``inclusion_proof`` reads for these arguments."""
    _require_index(leaf_index, tree_size)
    return tuple(n for lo, hi in _inclusion_ranges(leaf_index, tree_size) for n in _nodes(lo, hi))


def consistency_proof_nodes(first: int, second: int) -> tuple[Node, ...]:
    """Every stored node hash that ``consistency_proof`` reads for these arguments."""
    _require_sizes(first, second)
    return tuple(n for lo, hi in _consistency_ranges(first, second) for n in _nodes(lo, hi))


def tree_hash_from_reader(reader: HashReader, tree_size: int) -> bytes:
    """The root hash of the tree of ``tree_size``, from its right-edge stored hashes."""
    nodes = right_edge_nodes(tree_size)
    return _fold(_read(reader, nodes))


def inclusion_proof(reader: HashReader, *, leaf_index: int, tree_size: int) -> tuple[bytes, ...]:
    """The inclusion path for ``leaf_index`` in the tree of ``tree_size``. RFC 9162 §2.1.3.1.

    Ordered from the leaf's sibling up to the root's child, as RFC 9162 ``PATH(m, D[n])``
    and C2SP tlog-proof list it. Raises ``ValueError`` unless 0 <= leaf_index < tree_size.
    """
    _require_index(leaf_index, tree_size)
    return _read_ranges(reader, _inclusion_ranges(leaf_index, tree_size))


def consistency_proof(reader: HashReader, *, first: int, second: int) -> tuple[bytes, ...]:
    """The consistency path from tree size ``first`` to ``second``. RFC 9162 §2.1.4.1.

    Empty when ``first == second``. Raises ``ValueError`` for ``first == 0`` (the RFC defines
    proofs for 0 < first; every tree extends the empty tree) and for ``first > second``.
    """
    _require_sizes(first, second)
    return _read_ranges(reader, _consistency_ranges(first, second))


# --- the RFC 9162 recursions, unrolled into lists of leaf ranges -----------------------------


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162 §2.1.1: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _inclusion_ranges(m: int, n: int) -> list[tuple[int, int]]:
    """The leaf ranges [lo, hi) whose MTH make up PATH(m, D[0:n]), leaf sibling first."""
    out = []
    lo, hi = 0, n
    while hi - lo > 1:
        k = _largest_power_of_two_below(hi - lo)
        if m < lo + k:  # PATH(m, D[0:k]) : MTH(D[k:n])
            out.append((lo + k, hi))
            hi = lo + k
        else:  # PATH(m - k, D[k:n]) : MTH(D[0:k])
            out.append((lo, lo + k))
            lo += k
    out.reverse()
    return out


def _consistency_ranges(m: int, n: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTH make up PROOF(m, D[n]) = SUBPROOF(m, D[n], true)."""
    out: list[tuple[int, int]] = []
    if m == n:
        return out
    lo, hi, whole = 0, n, True
    while True:
        if m == hi:  # SUBPROOF(m, D[m], b) = {} if b else {MTH(D[m])}
            if not whole:
                out.append((lo, hi))
            break
        k = _largest_power_of_two_below(hi - lo)
        if m <= lo + k:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            out.append((lo + k, hi))
            hi = lo + k
        else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            out.append((lo, lo + k))
            lo += k
            whole = False
    out.reverse()
    return out


def _nodes(lo: int, hi: int) -> list[Node]:
    """The perfect subtrees covering [lo, hi), largest first.

    Every range the recursions above produce starts on a multiple of a power of two at least
    its length, so it splits along the set bits of its length.
    """
    nodes = []
    size = hi - lo
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            if lo & ((1 << level) - 1):  # pragma: no cover - the tests check every case
                raise AssertionError("bad math in _nodes: unaligned range")
            nodes.append(Node(level, lo >> level))
            lo += 1 << level
    return nodes


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Fold right-edge subtree hashes (largest first) into one root, right to left."""
    if not hashes:
        return EMPTY_ROOT
    h = hashes[-1]
    for left in reversed(hashes[:-1]):
        h = hashlib.sha256(_NODE_PREFIX + left + h).digest()
    return h


def _read(reader: HashReader, nodes: Sequence[Node]) -> list[bytes]:
    hashes = list(reader.read_hashes(nodes))
    if len(hashes) != len(nodes):
        raise ValueError(f"hash reader returned {len(hashes)} hashes for {len(nodes)} nodes")
    for node, h in zip(nodes, hashes, strict=True):
        require_hash(h, f"hash of {node}")
    return hashes


def _read_ranges(reader: HashReader, ranges: Sequence[tuple[int, int]]) -> tuple[bytes, ...]:
    groups = [_nodes(lo, hi) for lo, hi in ranges]
    hashes = _read(reader, [n for g in groups for n in g])
    out = []
    at = 0
    for group in groups:
        out.append(_fold(hashes[at : at + len(group)]))
        at += len(group)
    return tuple(out)


def _require_index(leaf_index: int, tree_size: int) -> None:
    require_int(leaf_index, "leaf_index")
    require_size(tree_size, "tree_size")
    if leaf_index >= tree_size:
        raise ValueError(f"leaf_index {leaf_index} is not below tree_size {tree_size}")


def _require_sizes(first: int, second: int) -> None:
    require_int(first, "first")
    require_size(second, "second")
    if first == 0:
        raise ValueError("no consistency proof starts from the empty tree (RFC 9162: 0 < first)")
    if first > second:
        raise ValueError(f"first {first} is larger than second {second}")

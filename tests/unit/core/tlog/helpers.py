"""Shared test helpers: an in-memory hash store, and RFC 9162 §2.1 transcribed literally.

The reference functions follow the RFC's recursive definitions of MTH, PATH and SUBPROOF
word for word, over leaf ranges with memoised MTH, so that they can judge the
implementation's iterative versions for every (m, n) of small trees.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence

from timeseal.core.tlog.compact import TreeState
from timeseal.core.tlog.merkle import Node, leaf_hash
from timeseal.core.tlog.tiles import EntriesTile, Tile


def entries(n: int, offset: int = 0) -> list[bytes]:
    """n distinct log entries."""
    return [f"entry {i}".encode() for i in range(offset, offset + n)]


class MemoryHashes:
    """A HashReader holding every perfect-subtree hash of a tree, as a log database would."""

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self.nodes: dict[Node, bytes] = {}
        self.leaf_hashes = list(leaf_hashes)
        self.state = TreeState().extend(self.leaf_hashes, self.nodes.__setitem__)
        self.reads = 0

    def read_hashes(self, nodes: Sequence[Node], /) -> list[bytes]:
        self.reads += 1
        return [self.nodes[n] for n in nodes]


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class Reference:
    """RFC 9162 §2.1.1 MTH, §2.1.3.1 PATH and §2.1.4.1 PROOF/SUBPROOF over ``D``."""

    def __init__(self, data: Sequence[bytes]) -> None:
        self.leaves = [leaf_hash(d) for d in data]
        self.mth: Callable[[int, int], bytes] = functools.lru_cache(maxsize=None)(self._mth)

    def _mth(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 0:  # MTH({}) = SHA-256()
            return hashlib.sha256(b"").digest()
        if n == 1:  # MTH({d(0)}) = SHA-256(0x00 || d(0))
            return self.leaves[lo]
        k = _k(n)  # MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
        return _node(self.mth(lo, lo + k), self.mth(lo + k, hi))

    def path(self, m: int, lo: int, hi: int) -> list[bytes]:
        """PATH(m, D[lo:hi]), m relative to lo."""
        n = hi - lo
        if n == 1:
            return []
        k = _k(n)
        if m < k:
            return [*self.path(m, lo, lo + k), self.mth(lo + k, hi)]
        return [*self.path(m - k, lo + k, hi), self.mth(lo, lo + k)]

    def subproof(self, m: int, lo: int, hi: int, b: bool) -> list[bytes]:
        """SUBPROOF(m, D[lo:hi], b), m relative to lo."""
        n = hi - lo
        if m == n:
            return [] if b else [self.mth(lo, hi)]
        k = _k(n)
        if m <= k:
            return [*self.subproof(m, lo, lo + k, b), self.mth(lo + k, hi)]
        return [*self.subproof(m - k, lo + k, hi, False), self.mth(lo, lo + k)]

    def proof(self, m: int, n: int) -> list[bytes]:
        """PROOF(m, D[n]) = SUBPROOF(m, D[n], true), for 0 < m < n."""
        return self.subproof(m, 0, n, True)


def _k(n: int) -> int:
    """The largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def flip(data: bytes, bit: int) -> bytes:
    """``data`` with one bit flipped."""
    i = (bit // 8) % len(data)
    return data[:i] + bytes([data[i] ^ (1 << (bit % 8))]) + data[i + 1 :]


def tile_bytes(store: MemoryHashes, tile: Tile) -> bytes:
    """A tile straight from the C2SP definition: tile (L, N) of width W holds the hashes of
    the level-8L nodes N*256 .. N*256+W-1."""
    first = 256 * tile.index
    return b"".join(store.nodes[Node(8 * tile.level, first + i)] for i in range(tile.width))


def all_tiles(store: MemoryHashes, tree_size: int) -> dict[Tile | EntriesTile, bytes]:
    """Every hash tile of the tree of ``tree_size``, at its width in that tree."""
    tiles: dict[Tile | EntriesTile, bytes] = {}
    level = 0
    while count := tree_size >> (8 * level):
        for index in range((count + 255) // 256):
            tile = Tile(level, index, min(256, count - 256 * index))
            tiles[tile] = tile_bytes(store, tile)
        level += 1
    return tiles

"""Rebuilding a Merkle tree the way C2SP tlog-tiles lays it out, 256 level-0 hashes at a
time, in O(256 x levels) memory (RFC 9162 §2.1.1)."""

from __future__ import annotations

from collections.abc import Sequence

from timeseal.core.tlog import TILE_WIDTH, Tile, TreeState, node_hash
from timeseal.core.tlog.merkle import tree_hash_unchecked


class TileTree:
    """MTH over level-0 hashes fed 256 at a time: each full tile's subtree hash goes into the
    tile above, so the hashes of level-L tiles appear in order, and the root is the fold of the
    right-edge subtrees of the partial tile left at each level (largest first)."""

    __slots__ = ("full", "levels")

    def __init__(self) -> None:
        self.levels: list[list[bytes]] = [[]]  # the unfinished tile at each level
        self.full: list[int] = [0]  # how many full tiles each level has

    def copy(self) -> TileTree:
        other = TileTree()
        other.levels = [list(level) for level in self.levels]
        other.full = list(self.full)
        return other

    def add(self, hashes: Sequence[bytes]) -> list[tuple[Tile, list[bytes]]]:
        """Append one level-0 tile's hashes (a partial one only last); return the full tiles of
        level 1 and up that this completes, with their computed hashes."""
        done: list[tuple[Tile, list[bytes]]] = []
        if len(hashes) < TILE_WIDTH:
            self.levels[0] = list(hashes)
            return done
        h = tree_hash_unchecked(hashes)
        self.full[0] += 1
        level = 1
        while True:
            if level == len(self.levels):
                self.levels.append([])
                self.full.append(0)
            self.levels[level].append(h)
            if len(self.levels[level]) < TILE_WIDTH:
                return done
            done.append((Tile(level, self.full[level]), self.levels[level]))
            h = tree_hash_unchecked(self.levels[level])
            self.levels[level] = []
            self.full[level] += 1
            level += 1

    def partial_tiles(self) -> list[tuple[Tile, list[bytes]]]:
        """The partial tiles of level 1 and up, at the end."""
        return [
            (Tile(level, self.full[level], len(items)), items)
            for level, items in enumerate(self.levels)
            if level and items
        ]

    def root(self, level0: Sequence[bytes] | None = None) -> bytes:
        """The root so far; with ``level0``, as if those hashes were the partial level-0 tile
        (used between tiles for the root of a prefix of the tree)."""
        edges: list[bytes] = []
        for level in range(len(self.levels) - 1, -1, -1):
            items = self.levels[level] if level or level0 is None else level0
            edges.extend(TreeState().extend(items).hashes)
        if not edges:
            return TreeState().root_hash
        h = edges[-1]
        for left in reversed(edges[:-1]):
            h = node_hash(left, h)
        return h

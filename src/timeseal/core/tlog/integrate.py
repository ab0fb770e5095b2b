"""Appending a batch of entries to a tiled log: the new tree state and every tile to write.

The sequencer keeps the :class:`~timeseal.core.tlog.compact.TreeState` and the *edge tiles*
of its current size (:func:`~timeseal.core.tlog.tiles.edge_tiles`: the partial tile at each
level and the partial entry bundle). :func:`integrate` appends a batch and returns the tiles
and bundles the batch creates or extends, exactly those of
:func:`~timeseal.core.tlog.tiles.new_tiles`, plus the new state. The edge tiles of the new size
are among them, ready for the next batch. Nothing here does I/O; the caller stores the result
and only then signs a checkpoint for ``result.state``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from timeseal.core.tlog._checks import MAX_TREE_SIZE, require_bytes
from timeseal.core.tlog.compact import TreeState
from timeseal.core.tlog.merkle import leaf_hash
from timeseal.core.tlog.tiles import (
    MAX_ENTRY_SIZE,
    TILE_HEIGHT,
    TILE_WIDTH,
    EntriesTile,
    Tile,
    TileHashReader,
    edge_tiles,
    format_entry_bundle,
    new_tiles,
    parse_entry_bundle,
    parse_tile,
)

AnyTile = Tile | EntriesTile


@dataclass(frozen=True, slots=True)
class Integration:
    """The outcome of :func:`integrate`."""

    state: TreeState
    #: (address, bytes) of each tile and bundle to write, in ``new_tiles`` order.
    tiles: tuple[tuple[AnyTile, bytes], ...]


class _Level:
    """The hashes (or entries) of the right-most tile of one level while appending."""

    __slots__ = ("index", "items", "touched")

    def __init__(self, index: int, items: list[bytes]) -> None:
        self.index = index
        self.items = items
        self.touched = False


def integrate(
    state: TreeState, entries: Sequence[bytes], edge: Mapping[AnyTile, bytes]
) -> Integration:
    """Append ``entries`` to the tree in ``state``.

    ``edge`` maps each of ``edge_tiles(state.size)`` to its stored bytes, and nothing else.
    Raises ``ValueError`` if it does not, if the edge tiles disagree with ``state`` (a corrupt
    store must not be extended), or for an entry over 65,535 bytes; ``MalformedError`` if an
    edge tile does not parse.
    """
    _require_batch(state, entries)
    old_size = state.size
    levels, bundle = _load_edge(state, edge)

    out: dict[AnyTile, bytes] = {}

    def add(level: int, h: bytes) -> None:
        if level == len(levels):
            levels.append(_Level((old_size >> (TILE_HEIGHT * level)) // TILE_WIDTH, []))
        tile = levels[level]
        tile.items.append(h)
        tile.touched = True
        if len(tile.items) == TILE_WIDTH:
            out[Tile(level, tile.index)] = b"".join(tile.items)
            tile.items.clear()
            tile.index += 1

    stack = list(state.hashes)
    size = old_size
    sha256 = hashlib.sha256
    for entry in entries:
        bundle.items.append(entry)
        bundle.touched = True
        if len(bundle.items) == TILE_WIDTH:
            out[EntriesTile(bundle.index)] = format_entry_bundle(bundle.items)
            bundle.items.clear()
            bundle.index += 1
        h = sha256(b"\x00" + entry).digest()
        add(0, h)
        carry, level = size, 0
        while carry & 1:
            h = sha256(b"\x01" + stack.pop() + h).digest()
            carry >>= 1
            level += 1
            if not level % TILE_HEIGHT:
                add(level // TILE_HEIGHT, h)
        stack.append(h)
        size += 1

    out.update(_partial_tiles(levels, bundle))
    order = new_tiles(old_size, size)
    if set(order) != set(out):  # pragma: no cover - the tests check every case
        raise AssertionError("bad math in integrate: tiles differ from new_tiles")
    return Integration(TreeState(size, tuple(stack)), tuple((t, out[t]) for t in order))


def _require_batch(state: TreeState, entries: Sequence[bytes]) -> None:
    if not isinstance(state, TreeState):
        raise TypeError("state must be a TreeState")
    for i, entry in enumerate(entries):
        require_bytes(entry, f"entries[{i}]")
        if len(entry) > MAX_ENTRY_SIZE:
            raise ValueError(f"entries[{i}] is {len(entry)} bytes, at most {MAX_ENTRY_SIZE}")
    if state.size + len(entries) > MAX_TREE_SIZE:
        raise ValueError("the tree would exceed 2**63 - 1 leaves")


def _partial_tiles(levels: list[_Level], bundle: _Level) -> dict[AnyTile, bytes]:
    """The partial tile of each level, and the partial bundle, that this batch appended to."""
    out: dict[AnyTile, bytes] = {}
    for level, tile in enumerate(levels):
        if tile.touched and tile.items:
            out[Tile(level, tile.index, len(tile.items))] = b"".join(tile.items)
    if bundle.touched and bundle.items:
        out[EntriesTile(bundle.index, len(bundle.items))] = format_entry_bundle(bundle.items)
    return out


def _load_edge(state: TreeState, edge: Mapping[AnyTile, bytes]) -> tuple[list[_Level], _Level]:
    """The right-most tile of each level and the right-most bundle, checked against state."""
    size = state.size
    expected = edge_tiles(size)
    if set(edge) != set(expected):
        needed = ", ".join(t.path for t in expected) or "none"
        given = ", ".join(sorted(t.path for t in edge)) or "none"
        raise ValueError(f"edge tiles for size {size} must be exactly: {needed}; got {given}")
    levels: list[_Level] = []
    level = 0
    while count := size >> (TILE_HEIGHT * level):
        tile = Tile(level, count // TILE_WIDTH, count % TILE_WIDTH or TILE_WIDTH)
        items = list(parse_tile(edge[tile], tile.width)) if tile.is_partial else []
        levels.append(_Level(count // TILE_WIDTH, items))
        level += 1
    bundle = _Level(size // TILE_WIDTH, [])
    if size % TILE_WIDTH:
        bundle_tile = EntriesTile(size // TILE_WIDTH, size % TILE_WIDTH)
        bundle.items = list(parse_entry_bundle(edge[bundle_tile], bundle_tile.width))
        hashes = [leaf_hash(e) for e in bundle.items]
        if hashes != levels[0].items:
            raise ValueError(f"{bundle_tile.path} does not hash to the level-0 partial tile")
    # Every right-edge hash of the state must be the one the edge tiles give. (A right-edge
    # subtree always lies in a partial tile: it ends at an odd multiple of its size, and less
    # than its size of hashes follow it on its tile level, so its tile never fills up.)
    reader = TileHashReader(size, lambda tiles: [edge[t] for t in tiles])
    computed = reader.read_hashes(state.nodes)
    for node, want, got in zip(state.nodes, state.hashes, computed, strict=True):
        if not hmac.compare_digest(want, got):
            raise ValueError(
                f"edge tiles disagree with the tree state at {node}: "
                f"state {want.hex()}, tiles {got.hex()}"
            )
    return levels, bundle

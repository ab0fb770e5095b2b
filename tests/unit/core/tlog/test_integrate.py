"""Appending batches to a tiled log (timeseal.core.tlog.integrate)."""

from __future__ import annotations

import random

import pytest

from tests.unit.core.tlog.helpers import MemoryHashes, all_tiles, entries
from timeseal.core.errors import MalformedError
from timeseal.core.tlog.compact import TreeState
from timeseal.core.tlog.integrate import integrate
from timeseal.core.tlog.merkle import leaf_hash, tree_hash
from timeseal.core.tlog.tiles import (
    EntriesTile,
    Tile,
    edge_tiles,
    format_entry_bundle,
    new_tiles,
    parse_entry_bundle,
)

DATA = entries(66_000)
LEAVES = [leaf_hash(e) for e in DATA]


class Log:
    """A sequencer over an in-memory tile store."""

    def __init__(self) -> None:
        self.state = TreeState()
        self.store: dict[Tile | EntriesTile, bytes] = {}
        self.writes: list[Tile | EntriesTile] = []

    def append(self, batch: list[bytes]) -> None:
        edge = {t: self.store[t] for t in edge_tiles(self.state.size)}
        result = integrate(self.state, batch, edge)
        assert [t for t, _ in result.tiles] == list(new_tiles(self.state.size, result.state.size))
        for tile, data in result.tiles:
            self.store[tile] = data
            self.writes.append(tile)
        self.state = result.state


def test_batches_build_the_tiles_of_the_spec() -> None:
    log = Log()
    rng = random.Random(7)
    sizes = []
    while log.state.size < len(DATA):
        n = min(rng.choice([1, 2, 3, 255, 256, 257, 700, 5_000]), len(DATA) - log.state.size)
        log.append(DATA[log.state.size : log.state.size + n])
        sizes.append(log.state.size)
    assert log.state.root_hash == tree_hash(LEAVES)
    store = MemoryHashes(LEAVES)  # perfect-subtree hashes do not depend on the tree size
    expected = all_tiles(store, len(DATA))
    full_or_final = {t: d for t, d in log.store.items() if isinstance(t, Tile) and t in expected}
    assert full_or_final == expected
    # Every partial tile a checkpoint size needed was written with its exact contents.
    for size in rng.sample(sizes, 25):
        at_size = all_tiles(store, size)
        for tile in edge_tiles(size):
            if isinstance(tile, Tile):
                assert log.store[tile] == at_size[tile]
            else:
                assert parse_entry_bundle(log.store[tile], tile.width) == tuple(
                    DATA[tile.begin : tile.end]
                )
    for tile in (EntriesTile(0), EntriesTile(257, 208)):
        assert parse_entry_bundle(log.store[tile]) == tuple(DATA[tile.begin : tile.end])


def test_unchanged_tiles_are_not_rewritten() -> None:
    log = Log()
    log.append(DATA[:300])
    log.writes.clear()
    log.append(DATA[300:301])
    # The level-1 partial tile (width 1) did not change: only level 0 and the bundle did.
    assert log.writes == [Tile(0, 1, 45), EntriesTile(1, 45)]


def test_an_empty_batch_changes_nothing() -> None:
    log = Log()
    log.append(DATA[:10])
    result = integrate(log.state, [], {t: log.store[t] for t in edge_tiles(10)})
    assert result.state == log.state and result.tiles == ()


def test_edge_tiles_must_be_exactly_the_ones_needed() -> None:
    log = Log()
    log.append(DATA[:300])
    edge = {t: log.store[t] for t in edge_tiles(300)}
    with pytest.raises(ValueError, match=r"must be exactly: tile/0/001\.p/44"):
        integrate(log.state, DATA[300:310], {})
    with pytest.raises(ValueError, match="must be exactly"):
        integrate(log.state, DATA[300:310], {**edge, Tile(0, 0): log.store[Tile(0, 0)]})


def test_a_corrupt_store_is_not_extended() -> None:
    log = Log()
    log.append(DATA[:300])
    edge = {t: log.store[t] for t in edge_tiles(300)}
    wrong_hashes = {
        **edge,
        Tile(0, 1, 44): b"".join(LEAVES[1:45]),
        EntriesTile(1, 44): format_entry_bundle(DATA[1:45]),
    }
    with pytest.raises(ValueError, match="disagree with the tree state"):
        integrate(log.state, DATA[300:310], wrong_hashes)
    wrong_entries = {**edge, EntriesTile(1, 44): format_entry_bundle(DATA[1:45])}
    with pytest.raises(ValueError, match="does not hash to"):
        integrate(log.state, DATA[300:310], wrong_entries)
    with pytest.raises(MalformedError):
        integrate(log.state, DATA[300:310], {**edge, Tile(0, 1, 44): b"short"})
    # The level-1 partial tile holds the hash of tile 0: a wrong one is caught too.
    wrong_level1 = {**edge, Tile(1, 0, 1): LEAVES[0]}
    with pytest.raises(ValueError, match="disagree"):
        integrate(log.state, DATA[300:310], wrong_level1)


def test_bad_batches() -> None:
    with pytest.raises(ValueError, match="at most 65535"):
        integrate(TreeState(), [bytes(65_536)], {})
    with pytest.raises(TypeError):
        integrate(TreeState(), ["text"], {})  # type: ignore[list-item]
    with pytest.raises(TypeError):
        integrate(None, [], {})  # type: ignore[arg-type]
    full = TreeState(2**63 - 1, (bytes(32),) * 63)
    with pytest.raises(ValueError, match="exceed"):
        integrate(full, [b"x"], {})

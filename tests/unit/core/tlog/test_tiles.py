"""C2SP tlog-tiles addressing, contents and reading proofs from tiles (timeseal.core.tlog.tiles)."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.core.tlog.helpers import (
    MemoryHashes,
    Reference,
    all_tiles,
    entries,
    tile_bytes,
)
from timeseal.core.errors import MalformedError
from timeseal.core.tlog.merkle import (
    Node,
    consistency_proof,
    inclusion_proof,
    right_edge_nodes,
    tree_hash_from_reader,
)
from timeseal.core.tlog.tiles import (
    MAX_ENTRY_SIZE,
    TILE_WIDTH,
    EntriesTile,
    Tile,
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

SIZE = 66_000  # three tile levels: 257 full level-0 tiles, a level-1 tile, a level-2 tile
REF = Reference(entries(SIZE))
STORE = MemoryHashes(REF.leaves)
TILES = all_tiles(STORE, SIZE)


# --- paths -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tile", "path"),
    [
        (Tile(1, 1234067, 8), "tile/1/x001/x234/067.p/8"),  # the spec's example index
        (Tile(0, 0), "tile/0/000"),
        (Tile(0, 999), "tile/0/999"),
        (Tile(0, 1000), "tile/0/x001/000"),
        (Tile(2, 0, 1), "tile/2/000.p/1"),
        (Tile(63, 0, 255), "tile/63/000.p/255"),
        (Tile(0, 2**64 - 1), "tile/0/x018/x446/x744/x073/x709/x551/615"),
        (EntriesTile(1234067), "tile/entries/x001/x234/067"),
        (EntriesTile(5, 17), "tile/entries/005.p/17"),
    ],
)
def test_paths(tile: Tile | EntriesTile, path: str) -> None:
    assert tile.path == path
    assert parse_tile_path(path) == tile


@pytest.mark.parametrize(
    "path",
    [
        "tile/1/x001/x234/067.p/256",  # a full tile has no .p
        "tile/1/x001/x234/067.p/0",
        "tile/1/x001/x234/067.p/08",
        "tile/1/x001/x234/067.p/",
        "tile/1/x001/x234/067.p",
        "tile/1/1234067",
        "tile/1/x000/067",  # no leading zero groups
        "tile/1/x1/067",
        "tile/1/67",
        "tile/1/x001/x234",
        "tile/1/001/234/067",
        "tile/01/000",
        "tile/64/000",
        "tile/-1/000",
        "tile/8/1/000",  # Go's tile/H/L/N format
        "tile/data/000",
        "tile/entries/000.p/256",
        "/tile/0/000",
        "tile/0/000/",
        "tile/0/000\n",
        "tile/0/\u0660\u0660\u0660",  # Arabic-Indic digits are not ASCII digits
        "Tile/0/000",
        "tile/0/x018/x446/x744/x073/x709/x551/616",  # 2**64
        "tile/0/" + "x999/" * 40 + "999",
        "",
    ],
)
def test_bad_paths(path: str) -> None:
    with pytest.raises(MalformedError):
        parse_tile_path(path)


def test_parse_path_type() -> None:
    with pytest.raises(TypeError):
        parse_tile_path(b"tile/0/000")  # type: ignore[arg-type]


tiles = st.builds(
    Tile, st.integers(0, 63), st.integers(0, 2**64 - 1), st.integers(1, TILE_WIDTH)
) | st.builds(EntriesTile, st.integers(0, 2**64 - 1), st.integers(1, TILE_WIDTH))


@settings(max_examples=300)
@given(tile=tiles)
def test_path_round_trip(tile: Tile | EntriesTile) -> None:
    assert parse_tile_path(tile.path) == tile


@settings(max_examples=500)
@given(
    path=st.text(alphabet="tile/entrsx0123456789.p\n", max_size=40)
    | st.text(max_size=40)
    | tiles.map(lambda t: t.path).flatmap(
        lambda p: st.integers(0, len(p)).map(lambda i: p[:i] + p[i + 1 :])
    )
)
def test_parse_tile_path_fuzz(path: str) -> None:
    """Like Go's FuzzParseTilePath: anything parses to the tile it spells, or is malformed."""
    try:
        tile = parse_tile_path(path)
    except MalformedError:
        return
    assert tile.path == path


def test_tile_values() -> None:
    with pytest.raises(ValueError, match="level"):
        Tile(64, 0)
    with pytest.raises(ValueError, match="width"):
        Tile(0, 0, 0)
    with pytest.raises(ValueError, match="width"):
        EntriesTile(0, 257)
    with pytest.raises(ValueError, match="2\\*\\*64"):
        Tile(0, 2**64)
    assert Tile(0, 3).is_partial is False and EntriesTile(0, 3).is_partial
    assert (Tile(1, 2).begin, Tile(1, 2).end) == (2 * 65536, 3 * 65536)
    assert (Tile(1, 0, 17).begin, Tile(1, 0, 17).end) == (0, 17 * 256)
    assert (EntriesTile(2, 5).begin, EntriesTile(2, 5).end) == (512, 517)


# --- which tiles -----------------------------------------------------------------------------


def test_spec_example_tree_of_70000() -> None:
    """C2SP: 273 full level-0 tiles, one partial of width 112, one full level-1 tile, one
    partial level-1 tile of width 17, one partial level-2 tile of width 1."""
    hash_tiles = [t for t in new_tiles(0, 70_000) if isinstance(t, Tile)]
    full0 = [t for t in hash_tiles if t.level == 0 and not t.is_partial]
    assert len(full0) == 273
    assert [t for t in hash_tiles if t.is_partial or t.level] == [
        Tile(0, 273, 112),
        Tile(1, 0),
        Tile(1, 1, 17),
        Tile(2, 0, 1),
    ]
    bundles = [t for t in new_tiles(0, 70_000) if isinstance(t, EntriesTile)]
    assert len(bundles) == 274 and bundles[-1] == EntriesTile(273, 112)
    assert edge_tiles(70_000) == (
        Tile(0, 273, 112),
        Tile(1, 1, 17),
        Tile(2, 0, 1),
        EntriesTile(273, 112),
    )


def test_spec_example_tree_of_256() -> None:
    """C2SP: a full level-0 tile and a partial level-1 tile of width 1."""
    assert new_tiles(0, 256) == (Tile(0, 0), Tile(1, 0, 1), EntriesTile(0))
    assert edge_tiles(256) == (Tile(1, 0, 1),)
    assert edge_tiles(0) == ()


def test_new_tiles_between_sizes() -> None:
    assert new_tiles(10, 10) == ()
    assert new_tiles(10, 11) == (Tile(0, 0, 11), EntriesTile(0, 11))
    assert new_tiles(255, 257) == (
        Tile(0, 0),
        Tile(0, 1, 1),
        Tile(1, 0, 1),
        EntriesTile(0),
        EntriesTile(1, 1),
    )
    with pytest.raises(ValueError, match="larger"):
        new_tiles(11, 10)


def test_new_tiles_are_exactly_the_changed_tiles() -> None:
    rng = random.Random(5)
    pairs = [(0, 1), (255, 256), (256, 257), (65_535, 65_536), (65_280, SIZE), (0, SIZE)]
    pairs += [(old, rng.randrange(old, 1_200)) for old in rng.sample(range(1_200), 150)]
    for old, new in pairs:
        before, after = all_tiles(STORE, old), all_tiles(STORE, new)
        changed = {t for t in after if isinstance(t, Tile) and before.get(t) != after[t]}
        assert {t for t in new_tiles(old, new) if isinstance(t, Tile)} == changed, (old, new)


def test_right_edge_subtrees_always_lie_in_partial_tiles() -> None:
    """What integrate relies on to check a state against the edge tiles alone."""
    for size in [*range(1, 3000), 65_535, 65_536, 65_537, 2**24 - 1, 2**40 + 2**8 + 3]:
        for node in right_edge_nodes(size):
            assert tile_for_node(node, size).is_partial, (size, node)


def test_tile_for_node() -> None:
    assert tile_for_node(Node(0, 300), 1000) == Tile(0, 1)
    assert tile_for_node(Node(0, 600), 700) == Tile(0, 2, 188)
    assert tile_for_node(Node(3, 40), 700) == Tile(0, 1)  # leaves 320..327
    assert tile_for_node(Node(8, 1), 700) == Tile(1, 0, 2)
    assert tile_for_node(Node(9, 0), 700) == Tile(1, 0, 2)
    with pytest.raises(ValueError, match="not in a tree"):
        tile_for_node(Node(9, 1), 700)


def test_tiles_for_proofs() -> None:
    # 66,000 = 2**16 + 2**8 + 2**7 + 2**6 + 2**4: nodes in tiles of levels 2, 1 and 0.
    assert tiles_for_tree_hash(SIZE) == (Tile(0, 257, 208), Tile(1, 1, 1), Tile(2, 0, 1))
    assert tiles_for_inclusion(0, 256) == (Tile(0, 0),)
    assert tiles_for_inclusion(3, 300) == (Tile(0, 0), Tile(0, 1, 44))
    assert tiles_for_consistency(10, 300) == (Tile(0, 0), Tile(0, 1, 44))
    assert tiles_for_nodes([], 5) == ()
    assert entries_tile_for(300, SIZE) == EntriesTile(1)
    assert entries_tile_for(65_999, SIZE) == EntriesTile(257, 208)
    with pytest.raises(ValueError, match="not below"):
        entries_tile_for(SIZE, SIZE)


# --- proofs from tiles -----------------------------------------------------------------------


def _fetcher(fallback: bool = False) -> tuple[list[Sequence[Tile]], object]:
    calls: list[Sequence[Tile]] = []

    def fetch(tiles: Sequence[Tile]) -> list[bytes]:
        calls.append(tiles)
        out = []
        for t in tiles:
            if fallback and t.is_partial and Tile(t.level, t.index) in TILES:
                out.append(TILES[Tile(t.level, t.index)])  # a full tile instead of a partial
            else:
                out.append(TILES[t] if t in TILES else tile_bytes(STORE, t))
        return out

    return calls, fetch


def test_tile_hash_reader_reads_every_kind_of_node() -> None:
    calls, fetch = _fetcher()
    reader = TileHashReader(SIZE, fetch)  # type: ignore[arg-type]
    rng = random.Random(1)
    nodes = [Node(0, 0), Node(8, 0), Node(16, 1 - 1), Node(7, 500), Node(15, 0)]
    for _ in range(300):
        level = rng.randrange(17)
        nodes.append(Node(level, rng.randrange(SIZE >> level)))
    assert reader.read_hashes(nodes) == [STORE.nodes[n] for n in nodes]
    assert len(calls) == 1 and len(set(calls[0])) == len(calls[0])


def test_proofs_from_tiles_verify_at_every_size_kind() -> None:
    rng = random.Random(2)
    sizes = [1, 255, 256, 257, 65_535, 65_536, 65_537, SIZE] + rng.sample(range(1, SIZE), 12)
    for size in sizes:
        root = REF.mth(0, size)
        _, fetch = _fetcher(fallback=size % 2 == 0)
        reader = TileHashReader(size, fetch)  # type: ignore[arg-type]
        assert tree_hash_from_reader(reader, size) == root
        for i in [0, size - 1, *rng.sample(range(size), min(size, 5))]:
            path = inclusion_proof(reader, leaf_index=i, tree_size=size)
            assert path == inclusion_proof(STORE, leaf_index=i, tree_size=size)
            assert verify_inclusion(
                leaf_hash=REF.leaves[i],
                leaf_index=i,
                tree_size=size,
                inclusion_path=path,
                root_hash=root,
            ).ok
        first = rng.randrange(1, size + 1)
        path = consistency_proof(reader, first=first, second=size)
        assert verify_consistency(
            first=first,
            second=size,
            first_hash=REF.mth(0, first),
            second_hash=root,
            consistency_path=path,
        ).ok


def test_tile_hash_reader_rejects_bad_tiles() -> None:
    with pytest.raises(MalformedError, match="expected 44"):
        TileHashReader(300, lambda tiles: [TILES[Tile(0, 0)][:64]] * len(tiles)).read_hashes(
            [Node(0, 299)]
        )
    with pytest.raises(ValueError, match="fetched 0 tiles for 1"):
        TileHashReader(300, lambda tiles: []).read_hashes([Node(0, 299)])
    with pytest.raises(TypeError):
        TileHashReader(300, lambda tiles: ["x"]).read_hashes([Node(0, 1)])  # type: ignore[list-item]


# --- contents --------------------------------------------------------------------------------


def test_tile_contents_round_trip() -> None:
    hashes = REF.leaves[:256]
    data = format_tile(hashes)
    assert len(data) == 8192
    assert parse_tile(data) == tuple(hashes)
    assert parse_tile(data[:96], 3) == tuple(hashes[:3])
    for bad in (b"", data[:31], data + data[:32]):
        with pytest.raises(MalformedError):
            parse_tile(bad)
    with pytest.raises(MalformedError, match="expected 4"):
        parse_tile(data[:96], 4)
    with pytest.raises(ValueError, match=r"1\.\.256"):
        format_tile([])
    with pytest.raises(ValueError, match="32-byte"):
        format_tile([b"short"])


def test_entry_bundle_round_trip() -> None:
    bundle = [b"", b"a", bytes(MAX_ENTRY_SIZE)]
    data = format_entry_bundle(bundle)
    assert data[:5] == b"\x00\x00\x00\x01a"
    assert parse_entry_bundle(data) == tuple(bundle)
    assert parse_entry_bundle(data, 3) == tuple(bundle)


@pytest.mark.parametrize(
    ("data", "width", "message"),
    [
        (b"", None, "empty"),
        (b"\x00", None, "inside a length"),
        (b"\x00\x02a", None, "truncated"),
        (b"\x00\x00" * 257, None, "more than 256"),
        (b"\x00\x00" * 3, 2, "expected 2"),
        (b"\xff" * (256 * 65537 + 1), None, "too large"),
    ],
)
def test_bad_entry_bundles(data: bytes, width: int | None, message: str) -> None:
    with pytest.raises(MalformedError, match=message):
        parse_entry_bundle(data, width)


def test_entry_bundle_limits() -> None:
    with pytest.raises(ValueError, match="at most 65535"):
        format_entry_bundle([bytes(MAX_ENTRY_SIZE + 1)])
    with pytest.raises(ValueError, match=r"1\.\.256"):
        format_entry_bundle([b""] * 257)
    with pytest.raises(TypeError):
        format_entry_bundle(["text"])  # type: ignore[list-item]


@settings(max_examples=300)
@given(bundle=st.lists(st.binary(max_size=300), min_size=1, max_size=TILE_WIDTH))
def test_entry_bundle_round_trip_fuzz(bundle: list[bytes]) -> None:
    assert parse_entry_bundle(format_entry_bundle(bundle)) == tuple(bundle)


@settings(max_examples=500)
@given(data=st.binary(max_size=600))
def test_parse_entry_bundle_fuzz(data: bytes) -> None:
    try:
        bundle = parse_entry_bundle(data)
    except MalformedError:
        return
    assert format_entry_bundle(bundle) == data


@settings(max_examples=300)
@given(data=st.binary(max_size=400), width=st.none() | st.integers(1, 256))
def test_parse_tile_fuzz(data: bytes, width: int | None) -> None:
    try:
        hashes = parse_tile(data, width)
    except MalformedError:
        return
    assert format_tile(hashes) == data

"""C2SP tlog-tiles: tile and entry-bundle addresses, their contents, and reading proofs from them.

A tile at level ``L``, index ``N`` holds up to 256 consecutive Merkle tree hashes at tree level
``8 * L`` (tile height 8)::

    MTH(D[(N * 256 + i) * 256**L : (N * 256 + i + 1) * 256**L])    for i in 0..width-1

It is served at ``tile/<L>/<N>[.p/<W>]`` and an entry bundle, the entries under a level-0 tile,
at ``tile/entries/<N>[.p/<W>]``. ``N`` is written in three-digit groups, all but the last
prefixed with ``x`` (1234067 is ``x001/x234/067``); ``.p/<W>`` marks a partial tile of width
``W`` (1..255). Go's ``tlog.Tile.Path`` is *not* this format: it puts the height in the path.

Hashes at tree levels between tile levels are computed from the tile below, so every
:class:`~timeseal.core.tlog.merkle.Node` hash lives in exactly one tile
(:func:`tile_for_node`) and :class:`TileHashReader` turns tiles into a ``HashReader``.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass

from timeseal.core.errors import MalformedError
from timeseal.core.tlog._checks import HASH_SIZE, require_bytes, require_int, require_size
from timeseal.core.tlog.merkle import (
    Node,
    consistency_proof_nodes,
    inclusion_proof_nodes,
    right_edge_nodes,
)

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # 256 hashes, 8,192 bytes
MAX_TILE_LEVEL = 63
MAX_TILE_INDEX = 2**64 - 1
#: An entry in a bundle has a big-endian uint16 length.
MAX_ENTRY_SIZE = 0xFFFF
MAX_BUNDLE_SIZE = TILE_WIDTH * (2 + MAX_ENTRY_SIZE)

_PATH = re.compile(
    r"tile/(entries|0|[1-9][0-9]?)/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([1-9][0-9]{0,2}))?", re.ASCII
)
_MAX_PATH = 100


def _check_coordinates(index: int, width: int) -> None:
    require_int(index, "index")
    require_int(width, "width")
    if index > MAX_TILE_INDEX:
        raise ValueError(f"tile index {index} exceeds 2**64 - 1")
    if not 1 <= width <= TILE_WIDTH:
        raise ValueError(f"tile width must be 1..{TILE_WIDTH}, got {width}")


def _format_index(index: int) -> str:
    """``N`` as zero-padded three-digit path elements, all but the last starting with ``x``."""
    path = f"{index % 1000:03d}"
    index //= 1000
    while index:
        path = f"x{index % 1000:03d}/{path}"
        index //= 1000
    return path


def _suffix(width: int) -> str:
    return "" if width == TILE_WIDTH else f".p/{width}"


@dataclass(frozen=True, slots=True, order=True)
class Tile:
    """A tile of hashes; ``width < 256`` makes it a partial tile. C2SP tlog-tiles "Merkle Tree"."""

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        require_int(self.level, "level")
        if self.level > MAX_TILE_LEVEL:
            raise ValueError(f"tile level must be 0..{MAX_TILE_LEVEL}, got {self.level}")
        _check_coordinates(self.index, self.width)

    @property
    def is_partial(self) -> bool:
        return self.width < TILE_WIDTH

    @property
    def path(self) -> str:
        """``tile/<L>/<N>[.p/<W>]``."""
        return f"tile/{self.level}/{_format_index(self.index)}{_suffix(self.width)}"

    @property
    def begin(self) -> int:
        """The tile's start index: the first leaf its hashes cover, ``N * 256**(L+1)``."""
        return self.index << (TILE_HEIGHT * (self.level + 1))

    @property
    def end(self) -> int:
        """One past the last leaf its ``width`` hashes cover (the end index when full)."""
        return self.begin + (self.width << (TILE_HEIGHT * self.level))


@dataclass(frozen=True, slots=True, order=True)
class EntriesTile:
    """The address of an entry bundle: the entries under level-0 tile ``index``."""

    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        _check_coordinates(self.index, self.width)

    @property
    def is_partial(self) -> bool:
        return self.width < TILE_WIDTH

    @property
    def path(self) -> str:
        """``tile/entries/<N>[.p/<W>]``."""
        return f"tile/entries/{_format_index(self.index)}{_suffix(self.width)}"

    @property
    def begin(self) -> int:
        return self.index * TILE_WIDTH

    @property
    def end(self) -> int:
        return self.begin + self.width


def parse_tile_path(path: str) -> Tile | EntriesTile:
    """The tile or entry bundle at ``path`` (relative to the log prefix, no leading slash).

    Strict like Go's ``ParseTilePath``: the path must be exactly how :attr:`Tile.path` writes
    it (no ``x000/`` groups, no leading zeroes, no ``.p/256``); ``MalformedError`` otherwise.
    """
    if not isinstance(path, str):
        raise TypeError("path must be a str")
    match = _PATH.fullmatch(path) if len(path) <= _MAX_PATH else None
    if match is None:
        raise MalformedError(f"not a tile path: {path[:_MAX_PATH]!r}")
    level, digits, width = match.groups()
    index = int(digits.replace("x", "").replace("/", ""))
    try:
        tile: Tile | EntriesTile
        w = TILE_WIDTH if width is None else int(width)
        tile = EntriesTile(index, w) if level == "entries" else Tile(int(level), index, w)
    except ValueError as exc:
        raise MalformedError(f"not a tile path: {path!r}: {exc}") from exc
    if tile.path != path:
        raise MalformedError(f"non-canonical tile path {path!r}, expected {tile.path!r}")
    return tile


# --- which tiles -----------------------------------------------------------------------------


def _width(level: int, index: int, tree_size: int) -> int:
    """The width tile (level, index) has in the tree of ``tree_size`` (0 if it has no hash)."""
    count = tree_size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, count - index * TILE_WIDTH))


def tile_for_node(node: Node, tree_size: int) -> Tile:
    """The tile, at its width in the tree of ``tree_size``, that holds ``node`` or, for a node
    between tile levels, the hashes it is computed from."""
    require_size(tree_size, "tree_size")
    if node.end > tree_size:
        raise ValueError(f"{node} is not in a tree of size {tree_size}")
    level, rest = divmod(node.level, TILE_HEIGHT)
    index = (node.index << rest) >> TILE_HEIGHT
    return Tile(level, index, _width(level, index, tree_size))


def tiles_for_nodes(nodes: Iterable[Node], tree_size: int) -> tuple[Tile, ...]:
    """The tiles to fetch to read ``nodes`` from the tree of ``tree_size``, sorted, once each."""
    return tuple(sorted({tile_for_node(n, tree_size) for n in nodes}))


def tiles_for_inclusion(leaf_index: int, tree_size: int) -> tuple[Tile, ...]:
    """The tiles from which to compute the inclusion proof of ``leaf_index``."""
    return tiles_for_nodes(inclusion_proof_nodes(leaf_index, tree_size), tree_size)


def tiles_for_consistency(first: int, second: int) -> tuple[Tile, ...]:
    """The tiles from which to compute the consistency proof from ``first`` to ``second``."""
    return tiles_for_nodes(consistency_proof_nodes(first, second), second)


def tiles_for_tree_hash(tree_size: int) -> tuple[Tile, ...]:
    """The tiles from which to recompute the root hash of the tree of ``tree_size``."""
    return tiles_for_nodes(right_edge_nodes(tree_size), tree_size)


def entries_tile_for(leaf_index: int, tree_size: int) -> EntriesTile:
    """The entry bundle, at its width in the tree of ``tree_size``, holding ``leaf_index``."""
    require_int(leaf_index, "leaf_index")
    require_size(tree_size, "tree_size")
    if leaf_index >= tree_size:
        raise ValueError(f"leaf_index {leaf_index} is not below tree_size {tree_size}")
    index = leaf_index // TILE_WIDTH
    return EntriesTile(index, _width(0, index, tree_size))


def edge_tiles(tree_size: int) -> tuple[Tile | EntriesTile, ...]:
    """The partial tiles (one per level where the count of hashes is not a multiple of 256)
    and the partial entry bundle of the tree of ``tree_size``: all the log must read back to
    append to it (see ``timeseal.core.tlog.integrate``)."""
    require_size(tree_size, "tree_size")
    tiles: list[Tile | EntriesTile] = []
    level = 0
    while tree_size >> (TILE_HEIGHT * level):
        count = tree_size >> (TILE_HEIGHT * level)
        if count % TILE_WIDTH:
            tiles.append(Tile(level, count // TILE_WIDTH, count % TILE_WIDTH))
        level += 1
    if tree_size % TILE_WIDTH:
        tiles.append(EntriesTile(tree_size // TILE_WIDTH, tree_size % TILE_WIDTH))
    return tuple(tiles)


def new_tiles(old_size: int, new_size: int) -> tuple[Tile | EntriesTile, ...]:
    """Every tile and entry bundle, at its width in ``new_size``, that growing the tree from
    ``old_size`` to ``new_size`` creates or extends (Go tlog ``NewTiles``)."""
    require_size(old_size, "old_size")
    require_size(new_size, "new_size")
    if old_size > new_size:
        raise ValueError(f"old_size {old_size} is larger than new_size {new_size}")
    tiles: list[Tile | EntriesTile] = []
    level = 0
    while (new_count := new_size >> (TILE_HEIGHT * level)) > (old_size >> (TILE_HEIGHT * level)):
        old_count = old_size >> (TILE_HEIGHT * level)
        for index in range(old_count // TILE_WIDTH, (new_count - 1) // TILE_WIDTH + 1):
            tiles.append(Tile(level, index, _width(level, index, new_size)))
        level += 1
    if new_size > old_size:
        for index in range(old_size // TILE_WIDTH, (new_size - 1) // TILE_WIDTH + 1):
            tiles.append(EntriesTile(index, _width(0, index, new_size)))
    return tuple(tiles)


# --- contents --------------------------------------------------------------------------------


def format_tile(hashes: Sequence[bytes]) -> bytes:
    """The tile's bytes: its 1..256 hashes concatenated."""
    if not 1 <= len(hashes) <= TILE_WIDTH:
        raise ValueError(f"a tile holds 1..{TILE_WIDTH} hashes, got {len(hashes)}")
    for i, h in enumerate(hashes):
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise ValueError(f"hashes[{i}] is not a 32-byte hash")
    return b"".join(hashes)


def parse_tile(data: bytes, width: int | None = None) -> tuple[bytes, ...]:
    """The hashes in a tile's bytes; exactly ``width`` of them when ``width`` is given."""
    require_bytes(data, "data")
    if not data or len(data) % HASH_SIZE or len(data) > TILE_WIDTH * HASH_SIZE:
        raise MalformedError(f"a tile is 1..{TILE_WIDTH} hashes, got {len(data)} bytes")
    count = len(data) // HASH_SIZE
    if width is not None and count != width:
        raise MalformedError(f"tile has {count} hashes, expected {width}")
    return tuple(data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE))


def format_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """Each entry as a big-endian uint16 length and its bytes; 1..256 entries of at most
    65,535 bytes. C2SP tlog-tiles "Log entries"."""
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise ValueError(f"a bundle holds 1..{TILE_WIDTH} entries, got {len(entries)}")
    parts = []
    for i, entry in enumerate(entries):
        require_bytes(entry, f"entries[{i}]")
        if len(entry) > MAX_ENTRY_SIZE:
            raise ValueError(f"entries[{i}] is {len(entry)} bytes, at most {MAX_ENTRY_SIZE}")
        parts.append(struct.pack(">H", len(entry)))
        parts.append(entry)
    return b"".join(parts)


def parse_entry_bundle(data: bytes, width: int | None = None) -> tuple[bytes, ...]:
    """The entries of a bundle; exactly ``width`` of them when ``width`` is given."""
    require_bytes(data, "data")
    if len(data) > MAX_BUNDLE_SIZE:
        raise MalformedError(f"entry bundle of {len(data)} bytes is too large")
    entries: list[bytes] = []
    at = 0
    while at < len(data):
        if len(entries) == TILE_WIDTH:
            raise MalformedError(f"entry bundle has more than {TILE_WIDTH} entries")
        if at + 2 > len(data):
            raise MalformedError("entry bundle ends inside a length")
        (size,) = struct.unpack_from(">H", data, at)
        at += 2
        if at + size > len(data):
            raise MalformedError(f"entry {len(entries)} is truncated")
        entries.append(data[at : at + size])
        at += size
    if not entries:
        raise MalformedError("empty entry bundle")
    if width is not None and len(entries) != width:
        raise MalformedError(f"entry bundle has {len(entries)} entries, expected {width}")
    return tuple(entries)


# --- reading hashes from tiles ---------------------------------------------------------------

#: Fetches tiles: given tiles, returns their bytes in the same order. For a partial tile it may
#: return the full tile instead (C2SP tlog-tiles allows that fallback); the prefix is used.
TileFetcher = Callable[[Sequence[Tile]], Sequence[bytes]]


#: A tile's hashes at every height inside it: level 0 is the tile itself, level k holds the
#: hashes of the perfect subtrees 2**k wide. Keyed by tile path, which never changes content.
TilePyramidCache = MutableMapping[str, tuple[tuple[bytes, ...], ...]]


def tile_pyramid(hashes: Sequence[bytes]) -> tuple[tuple[bytes, ...], ...]:
    """Every complete subtree hash inside one tile, level by level (up to height 8).

    A level-k entry exists only where all 2**k hashes below it are present, so a partial tile
    yields only the complete subtrees, as RFC 6962 requires.
    """
    levels = [tuple(hashes)]
    sha256 = hashlib.sha256
    while len(levels) <= TILE_HEIGHT and len(levels[-1]) > 1:
        below = levels[-1]
        levels.append(
            tuple(
                sha256(b"\x01" + below[i] + below[i + 1]).digest()
                for i in range(0, len(below) - 1, 2)
            )
        )
    return tuple(levels)


class TileHashReader:
    """A ``HashReader`` over the tiles of the tree of ``tree_size``.

    Tiles are *not* authenticated here: a proof computed from tiles is only as good as its
    verification against a signed checkpoint, which catches any altered tile.

    ``cache``, when given, keeps each tile's :func:`tile_pyramid` by path, so that a server
    answering many proofs hashes each tile once rather than per proof.
    """

    __slots__ = ("_cache", "_fetch", "_tree_size")

    def __init__(
        self, tree_size: int, fetch: TileFetcher, cache: TilePyramidCache | None = None
    ) -> None:
        self._tree_size = require_size(tree_size, "tree_size")
        self._fetch = fetch
        self._cache = cache

    def read_hashes(self, nodes: Sequence[Node], /) -> list[bytes]:
        tiles = [tile_for_node(node, self._tree_size) for node in nodes]
        unique = sorted(set(tiles))
        cache = self._cache if self._cache is not None else {}
        missing = [t for t in unique if t.path not in cache]
        fetched = list(self._fetch(missing)) if missing else []
        if len(fetched) != len(missing):
            raise ValueError(f"fetched {len(fetched)} tiles for {len(missing)}")
        for tile, data in zip(missing, fetched, strict=True):
            require_bytes(data, f"tile {tile.path}")
            if tile.is_partial and len(data) == TILE_WIDTH * HASH_SIZE:
                data = data[: tile.width * HASH_SIZE]
            cache[tile.path] = tile_pyramid(parse_tile(data, tile.width))
        hashes = []
        for node, tile in zip(nodes, tiles, strict=True):
            rest = node.level % TILE_HEIGHT
            first = (node.index << rest) - tile.index * TILE_WIDTH
            hashes.append(cache[tile.path][rest][first >> rest])
        return hashes

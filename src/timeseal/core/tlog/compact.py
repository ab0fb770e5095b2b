"""The compact tree state a log sequencer keeps: the right edge of the tree, O(log n) hashes.

For a tree of ``size`` leaves the state holds one hash per set bit of ``size``: the roots of
the perfect subtrees that make up [0, size), largest (left-most) first. This is the compact
range [0, size) of transparency-dev ``compact.Range`` (docs/compact_ranges.md); RFC 9162 §2.1.1
folds exactly these hashes, right to left, into MTH(D[size]).

Appending a leaf merges equal-sized subtrees like a binary counter carrying: one hash per
carry, so n appends cost n - 1 node hashes in all, whatever the batch boundaries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from timeseal.core.tlog._checks import HASH_SIZE, MAX_TREE_SIZE, require_hash, require_size
from timeseal.core.tlog.merkle import EMPTY_ROOT, HashReader, Node, right_edge_nodes

#: Called with every node that an append completes: each new leaf (level 0), then each merged
#: subtree, in order of creation. A sequencer keeps those at levels 0, 8, 16... as tile hashes.
NodeVisitor = Callable[[Node, bytes], None]

_NODE_PREFIX = b"\x01"


@dataclass(frozen=True, slots=True)
class TreeState:
    """The hashes of the perfect subtrees along the right edge of a tree of ``size`` leaves."""

    size: int = 0
    hashes: tuple[bytes, ...] = ()  # one per set bit of size, largest subtree first

    def __post_init__(self) -> None:
        require_size(self.size, "size")
        if not isinstance(self.hashes, tuple):
            raise TypeError("hashes must be a tuple of 32-byte hashes")
        if len(self.hashes) != self.size.bit_count():
            raise ValueError(
                f"a tree of size {self.size} has {self.size.bit_count()} edge hashes, "
                f"got {len(self.hashes)}"
            )
        for i, h in enumerate(self.hashes):
            require_hash(h, f"hashes[{i}]")

    @property
    def nodes(self) -> tuple[Node, ...]:
        """Which subtree each of ``hashes`` is the root of."""
        return right_edge_nodes(self.size)

    @property
    def root_hash(self) -> bytes:
        """MTH(D[size]), RFC 9162 §2.1.1; ``EMPTY_ROOT`` for size 0."""
        if not self.hashes:
            return EMPTY_ROOT
        h = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            h = hashlib.sha256(_NODE_PREFIX + left + h).digest()
        return h

    @classmethod
    def from_reader(cls, reader: HashReader, tree_size: int) -> TreeState:
        """The state of the stored tree of ``tree_size``, e.g. after a restart."""
        nodes = right_edge_nodes(tree_size)
        hashes = tuple(reader.read_hashes(nodes))
        if len(hashes) != len(nodes):
            raise ValueError(f"hash reader returned {len(hashes)} hashes for {len(nodes)} nodes")
        return cls(tree_size, hashes)

    def append(self, leaf_hash: bytes) -> TreeState:
        """The state after appending one leaf hash (see :meth:`extend`)."""
        return self.extend((leaf_hash,))

    def extend(self, leaf_hashes: Iterable[bytes], visit: NodeVisitor | None = None) -> TreeState:
        """The state after appending ``leaf_hashes`` in order; ``self`` is unchanged.

        ``visit``, if given, is called with every node the appends complete (see
        :data:`NodeVisitor`). Raises ``TypeError``/``ValueError`` for a leaf hash that is not
        32 bytes, before anything is visited past it.
        """
        stack = list(self.hashes)
        size = self.size
        sha256 = hashlib.sha256
        prefix = _NODE_PREFIX
        for h in leaf_hashes:
            if type(h) is not bytes or len(h) != HASH_SIZE:
                require_hash(h, f"leaf hash {size}")
            if size >= MAX_TREE_SIZE:
                raise ValueError("the tree is full: size would exceed 2**63 - 1")
            if visit is None:
                carry = size
                while carry & 1:
                    h = sha256(prefix + stack.pop() + h).digest()
                    carry >>= 1
            else:
                visit(Node(0, size), h)
                carry, level = size, 0
                while carry & 1:
                    h = sha256(prefix + stack.pop() + h).digest()
                    carry >>= 1
                    level += 1
                    visit(Node(level, carry), h)
            stack.append(h)
            size += 1
        return TreeState(size, tuple(stack))

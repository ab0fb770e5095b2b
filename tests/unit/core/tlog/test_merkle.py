"""RFC 6962/9162 hashing, tree hashes and proof generation (timeseal.core.tlog.merkle)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tests.unit.core.tlog.helpers import MemoryHashes, Reference, entries
from timeseal.core.tlog.merkle import (
    EMPTY_ROOT,
    MAX_CONSISTENCY_PATH,
    MAX_INCLUSION_PATH,
    MAX_TREE_SIZE,
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

# transparency-dev/merkle testonly/constants.go: LeafInputs, NodeHashes and RootHashes, the
# tree of RFC 6962's reference implementation.
LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657")
    + ("606162636465666768696a6b6c6d6e6f",)
]
LEVEL0 = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
]
LEVEL1 = [
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
]
LEVEL2 = [
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


class Dummy:
    """A reader for huge trees: every node hash is zero. Only proof shapes are meaningful."""

    def read_hashes(self, nodes: Sequence[Node], /) -> list[bytes]:
        return [bytes(32)] * len(nodes)


def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == ROOTS[0]
    assert tree_hash([]) == EMPTY_ROOT


def test_known_leaf_and_node_hashes() -> None:
    leaves = [leaf_hash(d) for d in LEAF_INPUTS]
    assert [h.hex() for h in leaves] == LEVEL0
    level1 = [node_hash(leaves[i], leaves[i + 1]) for i in range(0, 8, 2)]
    assert [h.hex() for h in level1] == LEVEL1
    assert [node_hash(level1[0], level1[1]).hex(), node_hash(level1[2], level1[3]).hex()] == LEVEL2


def test_known_roots_for_every_size() -> None:
    leaves = [leaf_hash(d) for d in LEAF_INPUTS]
    assert [tree_hash(leaves[:n]).hex() for n in range(9)] == ROOTS


def test_tree_hash_is_rfc_mth() -> None:
    data = entries(300)
    ref = Reference(data)
    leaves = ref.leaves
    for n in range(301):
        assert tree_hash(leaves[:n]) == ref.mth(0, n), n


def test_tree_hash_from_reader() -> None:
    store = MemoryHashes(Reference(entries(300)).leaves)
    for n in range(301):
        assert tree_hash_from_reader(store, n) == tree_hash(store.leaf_hashes[:n])


@pytest.mark.parametrize(
    ("size", "nodes"),
    [
        (0, ()),
        (1, (Node(0, 0),)),
        (6, (Node(2, 0), Node(1, 2))),
        (7, (Node(2, 0), Node(1, 2), Node(0, 6))),
        (256, (Node(8, 0),)),
    ],
)
def test_right_edge_nodes(size: int, nodes: tuple[Node, ...]) -> None:
    assert right_edge_nodes(size) == nodes


def test_node_coordinates() -> None:
    node = Node(3, 5)
    assert (node.begin, node.end) == (40, 48)
    assert Node(0, 0) < Node(0, 1) < Node(1, 0)
    with pytest.raises(ValueError, match="no node"):
        Node(64, 0)
    with pytest.raises(ValueError, match="no node"):
        Node(0, 2**64)
    with pytest.raises(ValueError, match="negative"):
        Node(0, -1)
    with pytest.raises(TypeError):
        Node(True, 0)


def test_generated_proofs_are_the_rfc_ones() -> None:
    """PATH(m, D[n]) and PROOF(m, D[n]) for every 0 <= m < n <= 130, against the RFC text."""
    ref = Reference(entries(130))
    store = MemoryHashes(ref.leaves)
    for n in range(1, 131):
        for m in range(n):
            got = inclusion_proof(store, leaf_index=m, tree_size=n)
            assert list(got) == ref.path(m, 0, n), (m, n)
        for m in range(1, n + 1):
            got = consistency_proof(store, first=m, second=n)
            assert list(got) == (ref.proof(m, n) if m < n else []), (m, n)


def test_proofs_read_the_store_once() -> None:
    store = MemoryHashes(Reference(entries(100)).leaves)
    inclusion_proof(store, leaf_index=37, tree_size=100)
    consistency_proof(store, first=37, second=100)
    assert store.reads == 2


def test_proof_nodes_are_the_nodes_read() -> None:
    class Recorder(MemoryHashes):
        def __init__(self) -> None:
            super().__init__(Reference(entries(100)).leaves)
            self.asked: list[Node] = []

        def read_hashes(self, nodes: Sequence[Node], /) -> list[bytes]:
            self.asked.extend(nodes)
            return super().read_hashes(nodes)

    store = Recorder()
    inclusion_proof(store, leaf_index=37, tree_size=100)
    assert tuple(store.asked) == inclusion_proof_nodes(37, 100)
    store.asked.clear()
    consistency_proof(store, first=37, second=100)
    assert tuple(store.asked) == consistency_proof_nodes(37, 100)
    assert inclusion_proof_nodes(5, 8) == (Node(0, 4), Node(1, 3), Node(2, 0))


def test_longest_proofs_fit_the_caps() -> None:
    """With tree sizes below 2**63, paths have at most 63 hashes and consistency proofs 64."""
    longest = inclusion_proof(Dummy(), leaf_index=0, tree_size=MAX_TREE_SIZE)
    assert len(longest) == MAX_INCLUSION_PATH == 63
    seeded = consistency_proof(Dummy(), first=3, second=2**62 + 1)
    assert len(seeded) == MAX_CONSISTENCY_PATH == 64
    assert len(consistency_proof(Dummy(), first=2**62, second=MAX_TREE_SIZE)) <= 63


def test_proof_argument_errors() -> None:
    store = MemoryHashes(Reference(entries(8)).leaves)
    with pytest.raises(ValueError, match="not below tree_size"):
        inclusion_proof(store, leaf_index=8, tree_size=8)
    with pytest.raises(ValueError, match="not below tree_size"):
        inclusion_proof(store, leaf_index=0, tree_size=0)
    with pytest.raises(ValueError, match="exceeds"):
        inclusion_proof(store, leaf_index=0, tree_size=2**63)
    with pytest.raises(ValueError, match="empty tree"):
        consistency_proof(store, first=0, second=8)
    with pytest.raises(ValueError, match="larger"):
        consistency_proof(store, first=8, second=7)
    with pytest.raises(TypeError):
        inclusion_proof(store, leaf_index=1.0, tree_size=8)  # type: ignore[arg-type]
    assert consistency_proof(store, first=8, second=8) == ()


def test_a_reader_that_misbehaves_is_caught() -> None:
    class Short:
        def read_hashes(self, nodes: Sequence[Node], /) -> list[bytes]:
            return [bytes(32)] * (len(nodes) - 1)

    class Truncating:
        def read_hashes(self, nodes: Sequence[Node], /) -> list[bytes]:
            return [bytes(31)] * len(nodes)

    with pytest.raises(ValueError, match="returned 2 hashes for 3 nodes"):
        inclusion_proof(Short(), leaf_index=0, tree_size=8)
    with pytest.raises(ValueError, match="must be 32 bytes"):
        tree_hash_from_reader(Truncating(), 8)


def test_hash_arguments_are_checked() -> None:
    with pytest.raises(TypeError, match="entry must be bytes"):
        leaf_hash("text")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="left must be 32 bytes"):
        node_hash(bytes(31), bytes(32))
    with pytest.raises(ValueError, match=r"leaf_hashes\[1\]"):
        tree_hash([bytes(32), bytes(33)])
    with pytest.raises(ValueError, match="negative"):
        right_edge_nodes(-1)

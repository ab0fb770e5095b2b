"""The sequencer's tree state (timeseal.core.tlog.compact)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.core.tlog.helpers import MemoryHashes, Reference, entries
from timeseal.core.tlog.compact import TreeState
from timeseal.core.tlog.merkle import EMPTY_ROOT, Node, tree_hash

REF = Reference(entries(600))
LEAVES = REF.leaves


def test_empty_state() -> None:
    assert TreeState().root_hash == EMPTY_ROOT
    assert TreeState().nodes == ()


def test_append_one_by_one_matches_tree_hash() -> None:
    state = TreeState()
    for n, h in enumerate(LEAVES[:300], 1):
        state = state.append(h)
        assert state.size == n
        assert len(state.hashes) == n.bit_count()
        assert state.root_hash == tree_hash(LEAVES[:n])


def test_state_hashes_are_the_right_edge_subtrees() -> None:
    state = TreeState().extend(LEAVES[:7])
    assert state.nodes == (Node(2, 0), Node(1, 2), Node(0, 6))
    assert state.hashes == (REF.mth(0, 4), REF.mth(4, 6), REF.mth(6, 7))


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(0, 600), max_size=8))
def test_batch_boundaries_do_not_matter(cuts: list[int]) -> None:
    state = TreeState()
    at = 0
    for cut in sorted(cuts):
        state = state.extend(LEAVES[at:cut])
        at = cut
    state = state.extend(LEAVES[at:])
    assert state == TreeState().extend(LEAVES)
    assert state.root_hash == REF.mth(0, 600)


def test_extend_visits_every_node_once_in_creation_order() -> None:
    visited: list[tuple[Node, bytes]] = []
    start = TreeState().extend(LEAVES[:5])
    end = start.extend(LEAVES[5:300], lambda node, h: visited.append((node, h)))
    assert end == TreeState().extend(LEAVES[:300])
    nodes = [node for node, _ in visited]
    # Every perfect subtree that ends in [5, 300) is created by these appends, exactly once.
    expected = {
        Node(level, index)
        for level in range(9)
        for index in range(300 >> level)
        if 5 < (index + 1) << level <= 300
    }
    assert len(nodes) == len(set(nodes)) and set(nodes) == expected
    for node, h in visited:
        assert h == REF.mth(node.begin, node.end), node
    assert nodes[:3] == [Node(0, 5), Node(1, 2), Node(0, 6)]


def test_from_reader_resumes_a_stored_tree() -> None:
    store = MemoryHashes(LEAVES[:555])
    state = TreeState.from_reader(store, 555)
    assert state == TreeState().extend(LEAVES[:555])
    assert state.extend(LEAVES[555:]).root_hash == REF.mth(0, 600)


def test_from_reader_checks_the_count() -> None:
    class Short(MemoryHashes):
        def read_hashes(self, nodes: object, /) -> list[bytes]:
            return []

    with pytest.raises(ValueError, match="returned 0 hashes for 2 nodes"):
        TreeState.from_reader(Short([]), 3)


def test_invalid_states_cannot_exist() -> None:
    with pytest.raises(ValueError, match="has 2 edge hashes, got 1"):
        TreeState(3, (bytes(32),))
    with pytest.raises(ValueError, match="must be 32 bytes"):
        TreeState(1, (bytes(31),))
    with pytest.raises(TypeError, match="tuple"):
        TreeState(1, [bytes(32)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exceeds"):
        TreeState(2**63, ())
    with pytest.raises(ValueError, match="negative"):
        TreeState(-1, ())


def test_extend_rejects_bad_leaf_hashes() -> None:
    with pytest.raises(ValueError, match="leaf hash 2 must be 32 bytes"):
        TreeState().extend([LEAVES[0], LEAVES[1], b"short"])
    with pytest.raises(TypeError, match="leaf hash 0 must be bytes"):
        TreeState().extend([bytearray(32)])  # type: ignore[list-item]


def test_a_full_tree_refuses_more() -> None:
    full = TreeState(2**63 - 1, (bytes(32),) * 63)
    with pytest.raises(ValueError, match="full"):
        full.append(LEAVES[0])

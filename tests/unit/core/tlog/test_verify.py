"""RFC 9162 §2.1.3.2 / §2.1.4.2 proof verification (timeseal.core.tlog.verify).

Every inclusion proof (leaf_index < tree_size <= 200) and consistency proof (first <= second
<= 200) verifies, and every single-bit flip of a proof hash, a root, the leaf or an index, and
a dropped, spare or repeated hash, fails.

Changing only the tree size is not among the mutations: a path does not bind the size on its
own (the path for leaf 0 of 12 leaves has the shape of one for 13 leaves, so it "verifies"
against the same root at size 13). That is why a checkpoint signs size and root together, and
why a root is never trusted apart from its signed size.
"""

from __future__ import annotations

import pytest

from tests.unit.core.tlog.helpers import MemoryHashes, Reference, entries, flip
from timeseal.core.tlog.merkle import (
    EMPTY_ROOT,
    MAX_CONSISTENCY_PATH,
    MAX_INCLUSION_PATH,
    consistency_proof,
    inclusion_proof,
)
from timeseal.core.tlog.verify import (
    _check_consistency,
    _check_inclusion,
    verify_consistency,
    verify_inclusion,
)
from timeseal.core.verification import Check, Status

N = 200
REF = Reference(entries(N))
STORE = MemoryHashes(REF.leaves)
ROOTS = [REF.mth(0, n) for n in range(N + 1)]


def _inclusion_ok(i: int, n: int, path: tuple[bytes, ...], leaf: bytes, root: bytes) -> bool:
    return verify_inclusion(
        leaf_hash=leaf, leaf_index=i, tree_size=n, inclusion_path=path, root_hash=root
    ).ok


def _consistency_ok(m: int, n: int, path: tuple[bytes, ...], h1: bytes, h2: bytes) -> bool:
    return verify_consistency(
        first=m, second=n, first_hash=h1, second_hash=h2, consistency_path=path
    ).ok


# The exhaustive mutation loops below make ~800,000 verifications; they call the checks
# behind verify_* directly, skipping only the argument type checks, to stay within budget.
def _inclusion_passes(i: int, n: int, path: tuple[bytes, ...], leaf: bytes, root: bytes) -> bool:
    return _check_inclusion(leaf, i, n, path, root).status is Status.PASS


def _consistency_passes(m: int, n: int, path: tuple[bytes, ...], h1: bytes, h2: bytes) -> bool:
    return _check_consistency(m, n, h1, h2, path).status is Status.PASS


@pytest.mark.parametrize("chunk", range(4))
def test_every_inclusion_proof_verifies_and_every_mutation_fails(chunk: int) -> None:
    for n in range(1 + chunk, N + 1, 4):
        root = ROOTS[n]
        for i in range(n):
            leaf = REF.leaves[i]
            path = inclusion_proof(STORE, leaf_index=i, tree_size=n)
            assert _inclusion_ok(i, n, path, leaf, root), (i, n)
            bit = (i * 37 + n * 11) % 256
            for k in range(len(path)):
                bad = (*path[:k], flip(path[k], bit + k), *path[k + 1 :])
                assert not _inclusion_passes(i, n, bad, leaf, root), (i, n, k)
            assert not _inclusion_passes(i, n, path, leaf, flip(root, bit))
            assert not _inclusion_passes(i, n, path, flip(leaf, bit), root)
            for b in range(n.bit_length()):
                assert not _inclusion_passes(i ^ (1 << b), n, path, leaf, root), (i, n, b)
            if path:
                assert not _inclusion_passes(i, n, path[:-1], leaf, root)
                assert not _inclusion_passes(i, n, (*path, path[-1]), leaf, root)
                assert not _inclusion_passes(i, n, (path[0], *path), leaf, root)
            assert not _inclusion_passes(i, n, (*path, root), leaf, root)


@pytest.mark.parametrize("chunk", range(4))
def test_every_consistency_proof_verifies_and_every_mutation_fails(chunk: int) -> None:
    for n in range(1 + chunk, N + 1, 4):
        h2 = ROOTS[n]
        for m in range(1, n + 1):
            h1 = ROOTS[m]
            path = consistency_proof(STORE, first=m, second=n)
            assert _consistency_ok(m, n, path, h1, h2), (m, n)
            bit = (m * 37 + n * 11) % 256
            for k in range(len(path)):
                bad = (*path[:k], flip(path[k], bit + k), *path[k + 1 :])
                assert not _consistency_passes(m, n, bad, h1, h2), (m, n, k)
            assert not _consistency_passes(m, n, path, flip(h1, bit), h2)
            assert not _consistency_passes(m, n, path, h1, flip(h2, bit))
            for b in range(n.bit_length()):
                assert not _consistency_passes(m ^ (1 << b), n, path, h1, h2), (m, n, b)
            if path:
                assert not _consistency_passes(m, n, path[:-1], h1, h2)
                assert not _consistency_passes(m, n, (*path, path[-1]), h1, h2)
                assert not _consistency_passes(m, n, (path[0], *path), h1, h2)
            assert not _consistency_passes(m, n, (*path, h2), h1, h2)


def test_failures_say_why() -> None:
    path = inclusion_proof(STORE, leaf_index=5, tree_size=8)
    leaf, root = REF.leaves[5], ROOTS[8]

    def detail(**changes: object) -> str:
        args: dict[str, object] = {
            "leaf_hash": leaf,
            "leaf_index": 5,
            "tree_size": 8,
            "inclusion_path": path,
            "root_hash": root,
        }
        args.update(changes)
        result = verify_inclusion(**args)  # type: ignore[arg-type]
        assert result.failed == (Check.INCLUSION_PROOF,)
        return result.checks[0].detail

    assert detail(root_hash=ROOTS[7]) == (
        f"root mismatch: expected {ROOTS[7].hex()}, computed {root.hex()}"
    )
    assert "unnecessary" in detail(inclusion_path=(*path, root))
    assert "too short" in detail(inclusion_path=path[:-1])
    assert "not below" in detail(leaf_index=8)
    assert "exceeds" in detail(tree_size=2**63)
    assert "more than the 63" in detail(inclusion_path=(root,) * 64)
    ok = verify_inclusion(
        leaf_hash=leaf, leaf_index=5, tree_size=8, inclusion_path=path, root_hash=root
    )
    assert ok.checks[0].status is Status.PASS


def test_size_zero_and_single_leaf_trees() -> None:
    # Nothing is included in the empty tree, whatever the proof.
    assert not _inclusion_ok(0, 0, (), EMPTY_ROOT, EMPTY_ROOT)
    # A single leaf is its own root, with an empty path.
    assert _inclusion_ok(0, 1, (), REF.leaves[0], REF.leaves[0])
    assert not _inclusion_ok(0, 1, (REF.leaves[0],), REF.leaves[0], REF.leaves[0])


def test_consistency_edge_cases() -> None:
    def detail(m: int, n: int, path: tuple[bytes, ...], h1: bytes, h2: bytes) -> str:
        result = verify_consistency(
            first=m, second=n, first_hash=h1, second_hash=h2, consistency_path=path
        )
        assert result.failed == (Check.CONSISTENCY_PROOF,)
        return result.checks[0].detail

    # Equal sizes: an empty proof and equal roots, nothing else.
    assert _consistency_ok(5, 5, (), ROOTS[5], ROOTS[5])
    assert "different roots" in detail(5, 5, (), ROOTS[5], ROOTS[4])
    assert "empty proof" in detail(5, 5, (ROOTS[5],), ROOTS[5], ROOTS[5])
    # From the empty tree there is nothing to prove, so nothing passes (as transparency-dev).
    assert "first is 0" in detail(0, 0, (), EMPTY_ROOT, EMPTY_ROOT)
    assert "first is 0" in detail(0, 5, (), EMPTY_ROOT, ROOTS[5])
    assert "larger" in detail(6, 5, (), ROOTS[6], ROOTS[5])
    assert "exceeds" in detail(5, 2**63, (ROOTS[5],), ROOTS[5], ROOTS[5])
    assert detail(4, 5, (), ROOTS[4], ROOTS[5]) == "empty proof"
    assert "more than the 64" in detail(3, 5, (ROOTS[0],) * 65, ROOTS[3], ROOTS[5])
    path = consistency_proof(STORE, first=6, second=9)
    assert "first root mismatch" in detail(6, 9, path, ROOTS[5], ROOTS[9])
    assert "second root mismatch" in detail(6, 9, path, ROOTS[6], ROOTS[8])
    assert "too short" in detail(6, 9, path[:-1], ROOTS[6], ROOTS[9])
    assert "unnecessary" in detail(6, 9, (*path, ROOTS[1]), ROOTS[6], ROOTS[9])


def test_caps_are_the_documented_ones() -> None:
    assert (MAX_INCLUSION_PATH, MAX_CONSISTENCY_PATH) == (63, 64)


def test_malformed_arguments_raise() -> None:
    good = {
        "leaf_hash": REF.leaves[0],
        "leaf_index": 0,
        "tree_size": 2,
        "inclusion_path": (REF.leaves[1],),
        "root_hash": ROOTS[2],
    }
    for name, value, error in [
        ("leaf_hash", bytes(31), ValueError),
        ("root_hash", b"", ValueError),
        ("root_hash", "00" * 32, TypeError),
        ("inclusion_path", (bytes(33),), ValueError),
        ("inclusion_path", REF.leaves[1], TypeError),
        ("inclusion_path", None, TypeError),
        ("leaf_index", -1, ValueError),
        ("tree_size", True, TypeError),
    ]:
        with pytest.raises(error):
            verify_inclusion(**{**good, name: value})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="first_hash"):
        verify_consistency(
            first=1, second=2, first_hash=b"", second_hash=ROOTS[2], consistency_path=()
        )

"""Verifying Merkle inclusion and consistency proofs, RFC 9162 §2.1.3.2 and §2.1.4.2.

Both return a ``VerificationResult`` with one check (``INCLUSION_PROOF`` or
``CONSISTENCY_PROOF``). They raise only for arguments of the wrong type, negative integers
and hashes that are not 32 bytes; anything else a proof can get wrong is a FAIL with a reason.
Every valid proof for a tree of at most 2**63 - 1 leaves has at most 63 (inclusion) or 64
(consistency) hashes, so longer ones fail before any hashing (see ``merkle``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from timeseal.core.tlog._checks import HASH_SIZE, MAX_TREE_SIZE, require_hash, require_int
from timeseal.core.tlog.merkle import MAX_CONSISTENCY_PATH, MAX_INCLUSION_PATH
from timeseal.core.verification import Check, CheckResult, Status, VerificationResult

_NODE_PREFIX = b"\x01"


def verify_inclusion(
    *,
    leaf_hash: bytes,
    leaf_index: int,
    tree_size: int,
    inclusion_path: Sequence[bytes],
    root_hash: bytes,
) -> VerificationResult:
    """Check ``INCLUSION_PROOF``: ``leaf_hash`` is leaf ``leaf_index`` of the tree of
    ``tree_size`` whose root is ``root_hash``. RFC 9162 §2.1.3.2, step by step.

    Raises ``TypeError``/``ValueError`` for arguments of the wrong type, negative integers and
    hashes that are not 32 bytes. Everything else a proof can get wrong is a FAIL: leaf_index
    not below tree_size, tree_size above 2**63 - 1, more than 63 hashes, spare or missing hashes
    (the ``sn == 0`` checks of steps 4a and 5), a root mismatch.
    """
    path = _require_path(inclusion_path, "inclusion_path")
    require_hash(leaf_hash, "leaf_hash")
    require_hash(root_hash, "root_hash")
    require_int(leaf_index, "leaf_index")
    require_int(tree_size, "tree_size")
    return VerificationResult(
        (_check_inclusion(leaf_hash, leaf_index, tree_size, path, root_hash),)
    )


def verify_consistency(
    *,
    first: int,
    second: int,
    first_hash: bytes,
    second_hash: bytes,
    consistency_path: Sequence[bytes],
) -> VerificationResult:
    """Check ``CONSISTENCY_PROOF``: the tree of size ``second`` with root ``second_hash``
    extends the tree of size ``first`` with root ``first_hash``. RFC 9162 §2.1.4.2.

    The RFC's algorithm assumes 0 < first < second; around it, as transparency-dev/merkle:
    ``first == second`` passes only with an empty path and equal hashes, ``first == 0`` fails
    (every tree extends the empty one, so such a "proof" proves nothing and must not be
    mistaken for one), ``first > second`` fails. Errors are raised as in
    :func:`verify_inclusion`.
    """
    path = _require_path(consistency_path, "consistency_path")
    require_hash(first_hash, "first_hash")
    require_hash(second_hash, "second_hash")
    require_int(first, "first")
    require_int(second, "second")
    return VerificationResult((_check_consistency(first, second, first_hash, second_hash, path),))


def _require_path(path: Sequence[bytes], name: str) -> tuple[bytes, ...]:
    if isinstance(path, bytes | str) or not isinstance(path, Sequence):
        raise TypeError(f"{name} must be a sequence of hashes")
    hashes = tuple(path)
    for i, h in enumerate(hashes):
        if type(h) is not bytes or len(h) != HASH_SIZE:
            require_hash(h, f"{name}[{i}]")
    return hashes


def _fail(check: Check, detail: str) -> CheckResult:
    return CheckResult(check, Status.FAIL, detail)


def _check_inclusion(
    leaf_hash: bytes, leaf_index: int, tree_size: int, path: tuple[bytes, ...], root_hash: bytes
) -> CheckResult:
    check = Check.INCLUSION_PROOF
    if tree_size > MAX_TREE_SIZE:
        return _fail(check, f"tree_size {tree_size} exceeds 2**63 - 1")
    # 1. leaf_index >= tree_size fails.
    if leaf_index >= tree_size:
        return _fail(check, f"leaf_index {leaf_index} is not below tree_size {tree_size}")
    if len(path) > MAX_INCLUSION_PATH:
        return _fail(check, f"{len(path)} hashes, more than the {MAX_INCLUSION_PATH} possible")
    # 2. fn = leaf_index, sn = tree_size - 1.  3. r = hash.
    fn, sn = leaf_index, tree_size - 1
    r = leaf_hash
    sha256 = hashlib.sha256
    # 4. For each p in the inclusion_path:
    for p in path:
        # a. sn == 0 here means the proof has a spare hash.
        if sn == 0:
            return _fail(check, f"{len(path)} hashes: the proof has unnecessary hashes")
        # b. A left sibling when fn is a right child or the last node of its level.
        if fn & 1 or fn == sn:
            r = sha256(_NODE_PREFIX + p + r).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = sha256(_NODE_PREFIX + r + p).digest()
        # c.
        fn >>= 1
        sn >>= 1
    # 5. sn must be 0 (no hash missing) and r the root.
    if sn != 0:
        return _fail(check, f"{len(path)} hashes: the proof is too short")
    if not hmac.compare_digest(r, root_hash):
        return _fail(check, f"root mismatch: expected {root_hash.hex()}, computed {r.hex()}")
    return CheckResult(check, Status.PASS, f"leaf {leaf_index} of {tree_size}")


def _check_consistency(
    first: int, second: int, first_hash: bytes, second_hash: bytes, path: tuple[bytes, ...]
) -> CheckResult:
    check = Check.CONSISTENCY_PROOF
    if (outside := _outside_consistency(first, second, first_hash, second_hash, path)) is not None:
        return outside
    # 1. An empty consistency_path fails.
    if not path:
        return _fail(check, "empty proof")
    if len(path) > MAX_CONSISTENCY_PATH:
        return _fail(check, f"{len(path)} hashes, more than the {MAX_CONSISTENCY_PATH} possible")
    given = len(path)
    # 2. If first is an exact power of 2, prepend first_hash.
    if first & (first - 1) == 0:
        path = (first_hash, *path)
    # 3. fn = first - 1, sn = second - 1.
    fn, sn = first - 1, second - 1
    # 4. Shift right while LSB(fn) is set.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. fr = sr = the first value.
    fr = sr = path[0]
    sha256 = hashlib.sha256
    # 6. For each subsequent value c:
    for c in path[1:]:
        # a. sn == 0 here means the proof has a spare hash.
        if sn == 0:
            return _fail(check, f"{given} hashes: the proof has unnecessary hashes")
        # b.
        if fn & 1 or fn == sn:
            fr = sha256(_NODE_PREFIX + c + fr).digest()
            sr = sha256(_NODE_PREFIX + c + sr).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = sha256(_NODE_PREFIX + sr + c).digest()
        # c.
        fn >>= 1
        sn >>= 1
    # 7. fr == first_hash, sr == second_hash, sn == 0.
    if sn != 0:
        return _fail(check, f"{given} hashes: the proof is too short")
    if not hmac.compare_digest(fr, first_hash):
        return _fail(
            check, f"first root mismatch: expected {first_hash.hex()}, computed {fr.hex()}"
        )
    if not hmac.compare_digest(sr, second_hash):
        return _fail(
            check, f"second root mismatch: expected {second_hash.hex()}, computed {sr.hex()}"
        )
    return CheckResult(check, Status.PASS, f"tree of {second} extends tree of {first}")


def _outside_consistency(
    first: int, second: int, first_hash: bytes, second_hash: bytes, path: tuple[bytes, ...]
) -> CheckResult | None:
    """The sizes RFC 9162 §2.1.4.2's steps do not cover: out of range, out of order, an empty
    first tree, and the same tree twice. None when ``0 < first < second <= 2**63 - 1``."""
    check = Check.CONSISTENCY_PROOF
    if second > MAX_TREE_SIZE:
        return _fail(check, f"second {second} exceeds 2**63 - 1")
    if first > second:
        return _fail(check, f"first {first} is larger than second {second}")
    if first == 0:
        return _fail(check, "first is 0: every tree extends the empty tree, nothing to prove")
    if first != second:
        return None
    if path:
        return _fail(check, f"first == second needs an empty proof, got {len(path)} hashes")
    if not hmac.compare_digest(first_hash, second_hash):
        return _fail(
            check,
            f"same size {first}, different roots {first_hash.hex()} and {second_hash.hex()}",
        )
    return CheckResult(check, Status.PASS, f"same tree of size {first}")

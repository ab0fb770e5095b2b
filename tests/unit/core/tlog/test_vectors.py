"""transparency-dev/merkle's published proof vectors pass or fail as they say.

A vector "errs" for us if verification raises ``ValueError`` (a hash that is not 32 bytes) or
returns a failed result. One vector is a deliberate deviation, listed in ``DEVIATIONS``.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from timeseal.core.tlog.verify import verify_consistency, verify_inclusion

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "transparency-dev"
INCLUSION = sorted((FIXTURES / "inclusion").rglob("*.json"))
CONSISTENCY = sorted((FIXTURES / "consistency").rglob("*.json"))

#: Vectors where we refuse what Go accepts, and why.
DEVIATIONS = {
    # Sizes 1 and 1, empty proof, root1 == root2 == 12 bytes ("don't care 2"). Go compares the
    # bytes without looking at their length; a root that is not a SHA-256 hash is a ValueError
    # for us before any comparison.
    "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json",
}


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _name(path: Path) -> str:
    return path.relative_to(FIXTURES).as_posix()


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_all_vectors_are_here() -> None:
    assert len(INCLUSION) == 98
    assert len(CONSISTENCY) == 98
    assert {_name(p) for p in CONSISTENCY} >= DEVIATIONS


@pytest.mark.parametrize("path", INCLUSION, ids=_name)
def test_inclusion_vector(path: Path) -> None:
    v = _load(path)
    try:
        ok = verify_inclusion(
            leaf_hash=_b64(v["leafHash"]),
            leaf_index=v["leafIdx"],
            tree_size=v["treeSize"],
            inclusion_path=[_b64(p) for p in v["proof"] or ()],
            root_hash=_b64(v["root"]),
        ).ok
    except ValueError:
        ok = False
    assert ok is not v["wantErr"], v["desc"]


@pytest.mark.parametrize("path", CONSISTENCY, ids=_name)
def test_consistency_vector(path: Path) -> None:
    v = _load(path)
    try:
        ok = verify_consistency(
            first=v["size1"],
            second=v["size2"],
            first_hash=_b64(v["root1"]),
            second_hash=_b64(v["root2"]),
            consistency_path=[_b64(p) for p in v["proof"] or ()],
        ).ok
    except ValueError:
        ok = False
    if _name(path) in DEVIATIONS:
        assert ok is False and v["wantErr"] is False
    else:
        assert ok is not v["wantErr"], v["desc"]


def test_happy_paths_are_not_rejected_for_their_hash_lengths() -> None:
    """Only the one deviation has a short hash among the vectors that must pass."""
    for path in INCLUSION + CONSISTENCY:
        v = _load(path)
        if v["wantErr"] and _name(path) not in DEVIATIONS:
            continue
        hashes = [v.get(k) for k in ("leafHash", "root", "root1", "root2") if k in v]
        hashes += v["proof"] or []
        short = any(len(_b64(h)) != 32 for h in hashes)
        assert short == (_name(path) in DEVIATIONS), _name(path)

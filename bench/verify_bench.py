"""Offline package verification benchmark (issue 5).

Seals an evidence package holding ``--mib`` MiB of media (default 1 GiB: a video of 7/8, a
photo and a web capture of 1/16 each, pseudo-random bytes in a temp dir) with an in-process
TSA and an in-memory log, then times, in the same run and alternately:

1. ``sha256sum PACKAGE.zip`` (coreutils), the baseline: one SHA-256 pass over the same bytes;
2. ``timeseal verify PACKAGE.zip --ca ROOT --log-key VKEY --json`` as a subprocess, which
   hashes every file once and checks every token and log proof.

The page cache is warmed first; each is run ``--rounds`` times and the fastest run counts.
Prints the ratio verify ÷ sha256sum (target ≤ 1.2).

    .venv/bin/python bench/verify_bench.py [--mib 1024] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.serialization import Encoding

from timeseal.core import pki
from timeseal.core.cades.sign import sign_detached
from timeseal.core.evidence.number import new_evidence_number
from timeseal.core.log_entry import EvidenceEntry, format_entry
from timeseal.core.package import PackageItem, build_package
from timeseal.core.signers import KeySigner
from timeseal.core.tlog import (
    Checkpoint,
    TlogProof,
    format_tlog_proof,
    format_verifier_key,
    generate_signer_key,
    leaf_hash,
    sign_checkpoint,
    tree_hash,
)
from timeseal.core.tsp.authority import TimeStampAuthority
from timeseal.core.tsp.request import build_request
from timeseal.core.tsp.response import parse_response

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
ORIGIN = "bench.timeseal/log"
CHUNK = 8 << 20


def write_media(path: Path, size: int, seed: bytes) -> bytes:
    """Write ``size`` pseudo-random bytes; return their SHA-256."""
    block = bytearray(os.urandom(CHUNK))
    h = hashlib.sha256()
    with path.open("wb") as f:
        for n in range(0, size, CHUNK):
            block[:16] = hashlib.md5(seed + n.to_bytes(8, "big"), usedforsecurity=False).digest()
            piece = bytes(block[: min(CHUNK, size - n)])
            h.update(piece)
            f.write(piece)
    return h.digest()


def _inclusion_path(hashes: list[bytes], index: int) -> tuple[bytes, ...]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n]), for the few leaves of this benchmark."""
    if len(hashes) <= 1:
        return ()
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    if index < k:
        return (*_inclusion_path(hashes[:k], index), tree_hash(hashes[k:]))
    return (*_inclusion_path(hashes[k:], index - k), tree_hash(hashes[:k]))


def seal(directory: Path, total: int) -> tuple[Path, Path, str]:
    root = pki.create_root_ca(now=NOW - dt.timedelta(hours=1))
    tsa = pki.create_tsa_key_and_certificate(root, now=NOW - dt.timedelta(hours=1))
    chain = [tsa.certificate, root.certificate]
    docsign = pki.create_document_signing_key_and_certificate(root, now=NOW - dt.timedelta(hours=1))
    authority = TimeStampAuthority(KeySigner(tsa.key), chain, policy="2.25.1234567890")
    key = generate_signer_key(ORIGIN)
    serial = [0]

    def stamp(digest: bytes) -> bytes:
        serial[0] += 1
        request = authority.check(build_request(digest).der)
        return authority.issue(request, gen_time=NOW, serial_number=serial[0]).response_der

    sizes = {"video": total * 7 // 8, "photo": total // 16, "web-capture": total // 16}
    names = {"video": "录屏.mp4", "photo": "photo.jpg", "web-capture": "shop.wacz"}
    numbers = {
        kind: new_evidence_number(NOW.date(), f"BENCH{i:02d}") for i, kind in enumerate(sizes)
    }
    specs = []
    leaves: list[bytes] = []
    for kind, size in sizes.items():
        path = directory / names[kind]
        digest = write_media(path, size, kind.encode())
        response = stamp(digest)
        token = parse_response(response).token
        assert token is not None
        entry = EvidenceEntry(numbers[kind], kind, digest, size, hashlib.sha256(token.der).digest())
        specs.append((kind, path, size, digest, response, len(leaves)))
        leaves.append(format_entry(entry))
    hashes = [leaf_hash(x) for x in leaves]
    signed = sign_checkpoint(Checkpoint(ORIGIN, len(leaves), tree_hash(hashes)), key)
    items = []
    for kind, path, size, digest, response, index in specs:

        def opener(path: Path = path) -> BinaryIO:
            return path.open("rb")

        proof = TlogProof(index, _inclusion_path(hashes, index), signed, extra=leaves[index])
        items.append(
            PackageItem(
                number=numbers[kind], kind=kind, original_name=path.name, size=size,
                sha256=digest, open=opener, token=response, log_proof=format_tlog_proof(proof),
            )
        )  # fmt: skip
    package = directory / "package.zip"
    with package.open("wb") as out:
        build_package(
            out, items, tsa_chain=chain, log_key=key.verifier_key, sealed_at=NOW,
            stamp=stamp, case={"title": "bench"},
            sign=lambda manifest: sign_detached(
                manifest, KeySigner(docsign.key), [docsign.certificate, root.certificate],
                signing_time=NOW, stamp=stamp,
            ),
        )  # fmt: skip
    for _, path, *_ in specs:
        path.unlink()
    root_pem = directory / "root.pem"
    root_pem.write_bytes(root.certificate.public_bytes(Encoding.PEM))
    return package, root_pem, format_verifier_key(key.verifier_key)


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}: {done.stdout[-2000:]!r}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=1024, help="MiB of media in the package")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="verify-bench-") as tmp:
        package, root, vkey = seal(Path(tmp), args.mib << 20)
        size = package.stat().st_size
        sha = ["sha256sum", str(package)]
        verify = [sys.executable, "-m", "timeseal.cli", "verify", str(package),
                  "--ca", str(root), "--log-key", vkey, "--json"]  # fmt: skip
        timed(sha)  # warm the page cache
        baseline, ours = [], []
        for _ in range(args.rounds):
            baseline.append(timed(sha))
            ours.append(timed(verify))
    best_sha, best_verify = min(baseline), min(ours)
    result = {
        "package_mib": round(size / 2**20, 1),
        "sha256sum_s": round(best_sha, 3),
        "verify_s": round(best_verify, 3),
        "sha256sum_mib_s": round(size / 2**20 / best_sha, 1),
        "verify_mib_s": round(size / 2**20 / best_verify, 1),
        "ratio": round(best_verify / best_sha, 3),
        "all_sha256sum_s": [round(t, 3) for t in baseline],
        "all_verify_s": [round(t, 3) for t in ours],
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"package {result['package_mib']} MiB: sha256sum {best_sha:.2f} s "
            f"({result['sha256sum_mib_s']} MiB/s), timeseal verify {best_verify:.2f} s "
            f"({result['verify_mib_s']} MiB/s), ratio {result['ratio']} (target <= 1.2)"
        )


if __name__ == "__main__":
    main()

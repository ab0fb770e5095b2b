"""Verifying hostile packages in bounded memory and time (issue 12, point 2).

Builds, in a temp dir, packages an attacker could upload to ``POST /verify/package`` (at most
512 MiB) or send to someone who runs ``timeseal verify``, and a genuine large one:

- ``bomb-2mb``: the issue's attack, DEFLATED 64 MiB runs of zeros under ``certs/`` (30 of
  them in a 2 MB ZIP: 1.9 GiB if inflated), and a manifest nested 1,000 deep;
- ``bomb-512mb``: the same up to the upload limit (480 members of 1 GiB each);
- ``kept-512mb``: 4,000 STORED 128 KiB members under ``proofs/`` (the old reader kept every
  non-item member under 64 MiB in memory);
- ``overlap``: 4,000 STORED members nested in one another (each one's data holds the next
  one's header and data, down to a 100 KiB kernel): 400 MiB to hash from a 0.2 MiB file;
- ``directory``: 200,000 empty entries (zipfile alone builds ~80 MB of ZipInfo for them);
- ``deep-json``: a 2 KB manifest nested 1,000 deep; ``wide-json``: a 4 MiB manifest of
  ``{},`` (1.4 million objects); ``max-json``: a 4 MiB manifest of text under every bound,
  which is parsed;
- ``genuine``: a sealed case package of ``--mib`` MiB of media (bench/verify_bench.py).

Each is verified in a fresh child process (``verify_package`` with the PDF signature check,
as ``timeseal verify`` runs it), which reports its peak RSS growth (``VmHWM`` after the
verification minus ``VmHWM`` before it, imports done) and the verification's time; in the same
child, and alternating with it, a plain SHA-256 pass over the same file (1 MiB reads, page
cache warm) is the baseline. Fastest of ``--rounds`` each.

    PYTHONPATH=src .venv/bin/python bench/verify_bomb_bench.py [--mib 448] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support

from tests.support.hostile_zips import (
    RawMember,
    deep_json,
    local_header,
    stored,
    write_zip,
    zeros_bomb,
)
from verify_bench import seal

MIB = 1 << 20
TARGET_RSS_MIB = 64
TARGET_RATIO = 2.0

_CHILD = r"""
import hashlib, json, sys, time
from timeseal.core.package import verify_package
from timeseal.core.pdf_signature import certificate_signature_check

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])  # KiB
    raise SystemExit("no VmHWM")

def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.digest()

path, rounds = sys.argv[1], int(sys.argv[2])
sha256(path)  # warm the page cache
before = hwm()
hashes, verifies, failed = [], [], []
for _ in range(rounds):
    t = time.perf_counter(); sha256(path); hashes.append(time.perf_counter() - t)
    t = time.perf_counter()
    with open(path, "rb") as f:
        report = verify_package(f, certificate_check=certificate_signature_check)
    verifies.append(time.perf_counter() - t)
    failed = sorted({c.value for _, c in report.failed})
print(json.dumps({"rss_growth_kib": hwm() - before, "sha256_s": min(hashes),
                  "verify_s": min(verifies), "ok": report.ok, "failed": failed}))
"""


def overlap_bomb(count: int, kernel: int) -> bytes:
    """``count`` STORED members, each one's data being the next one's local header and data."""
    datas = [bytes(kernel)]
    for i in reversed(range(1, count)):
        datas.append(local_header(f"items/o{i}", datas[-1]))
    datas.reverse()  # datas[i] is member i's data
    members, offset = [], 0
    for i, data in enumerate(datas):
        name = f"items/o{i}"
        crc = zlib.crc32(data)
        nested = i > 0
        members.append(
            RawMember(name, data, len(data), crc, header_offset=offset, central_only=nested)
        )
        offset += 30 + len(name.encode())
    return write_zip(members)


def build(directory: Path, mib: int) -> dict[str, Path]:
    """Write every package of the module docstring; returns them by name."""
    out: dict[str, Path] = {}

    def put(name: str, data: bytes) -> None:
        out[name] = directory / f"{name}.zip"
        out[name].write_bytes(data)

    names = [f"certs/pad-{i}.pem" for i in range(30)]
    deep = stored("manifest.json", deep_json(1000))
    put("bomb-2mb", write_zip([deep, *zeros_bomb(names, 64 * MIB)]))
    names = [f"certs/pad-{i}.pem" for i in range(480)]
    put("bomb-512mb", write_zip([stored("manifest.json", b"{}"), *zeros_bomb(names, 1024 * MIB)]))
    block = bytes(128 << 10)
    put("kept-512mb", write_zip([stored(f"proofs/{i}.tsr", block) for i in range(4000)]))
    put("overlap", overlap_bomb(4000, 100 << 10))
    put("directory", write_zip([stored(f"d/{i}", b"") for i in range(200_000)]))
    put("deep-json", write_zip([stored("manifest.json", deep_json(1000))]))
    wide = b"[" + b"{}," * ((4 * MIB - 2) // 3) + b"{}]"
    put("wide-json", write_zip([stored("manifest.json", wide[: 4 * MIB - 1] + b"]")]))
    text = [f"{'x' * 200} {i}" for i in range(4 * MIB // 220)]
    put("max-json", write_zip([stored("manifest.json", json.dumps(text).encode())]))
    package, _, _ = seal(directory, mib * MIB)
    out["genuine"] = package
    return out


def measure(path: Path, rounds: int) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(rounds)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return {"error": done.stderr[-2000:]}
    result: dict[str, object] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=448, help="MiB of media, genuine package")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="verify-bomb-bench-") as tmp:
        for name, path in build(Path(tmp), args.mib).items():
            row: dict[str, object] = {"package": name, "mib": round(path.stat().st_size / MIB, 2)}
            row.update(measure(path, args.rounds))
            rows.append(row)
    if args.json:
        print(json.dumps(rows))
        return
    head = ("package", "MiB", "RSS+ MiB", "sha256 s", "verify s", "ratio")
    print("{:<12} {:>8} {:>9} {:>9} {:>9} {:>7}".format(*head))
    for row in rows:
        if "error" in row:
            print(f"{row['package']:<12} ERROR {row['error']}")
            continue
        sha, ver = float(str(row["sha256_s"])), float(str(row["verify_s"]))
        growth = int(str(row["rss_growth_kib"])) / 1024
        failed = row["failed"]
        checks = ", ".join(map(str, failed)) if isinstance(failed, list) else ""
        print(
            f"{row['package']!s:<12} {row['mib']!s:>8} {growth:>9.1f} {sha:>9.4f} {ver:>9.4f} "
            f"{ver / sha if sha else float('inf'):>7.2f}  {checks}"
        )
    print(f"targets: RSS growth <= {TARGET_RSS_MIB} MiB; verify <= {TARGET_RATIO}x sha256")


if __name__ == "__main__":
    main()

"""Certificate PDF benchmark (issue 5): generation per item, signing included.

In one process, over a fresh data directory: the server's TSA service (journal with fsync'd
group commits, serial allocator, clock guard) answers the certificate signer in process, as
in the server. Each run builds one certificate PDF for a photo item: layout with the embedded
CJK font and a 480-px preview, PAdES signature with a signature timestamp, and a document
timestamp (so two tokens are issued and journaled per certificate). Reported: the median
over ``--runs`` of the whole build, and of its parts (layout; signing with both timestamps).

Baseline in the same run: the median time to issue one RFC 3161 token through the same
TSA service (``TSAService.respond``, journal commit included), since a certificate costs two
such tokens plus one ECDSA signature and the layout: it tells how much of a certificate is
the TSA's own cost. Also given: making the preview (Pillow thumbnail of a 12-MP JPEG), which
the caller does before building, once per item.

The repertoire font is cut before timing (once per machine; its time is printed too).

    .venv/bin/python bench/certificate_bench.py [--runs 30] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from timeseal.core.tlog.checkpoint import Checkpoint
from timeseal.core.tsp.authority import TimeStampAuthority
from timeseal.core.tsp.request import build_request
from timeseal.server.certificate.media import image_preview, load_fonts
from timeseal.server.certificate.render import (
    CertificateFacts,
    build_certificate,
    render_certificate,
    verify_url,
)
from timeseal.server.certificate.sign import CertificateSigner
from timeseal.server.runtime import datadir, platform_keys
from timeseal.server.tsa.clock import ClockGuard, LocalSource
from timeseal.server.tsa.service import TSAService
from timeseal.store.db import DATABASE_URL_ENV, create_schema, database_url, make_engine
from timeseal.store.issuance import IssuanceJournal, SerialAllocator


def _facts(now: dt.datetime) -> CertificateFacts:
    return CertificateFacts(
        number="TS-20261129-7Q4K-M2XD",
        title="快递面单泄露了收件人住址",
        kind="photo",
        filename="面单.jpg",
        media_type="image/jpeg",
        size=3_456_789,
        content_sha256=hashlib.sha256(b"photo").digest(),
        gen_time=now,
        tsa_name="CN=TimeSeal Time-Stamp Authority,O=TimeSeal",
        serial_number=0x1234ABCD,
        policy="2.25.1234567890",
        verify_url=verify_url("https://timeseal.example", "TS-20261129-7Q4K-M2XD"),
        issued_at=now,
        capture_start=now - dt.timedelta(minutes=2),
        capture_end=now - dt.timedelta(seconds=3),
        leaf_index=1234,
        checkpoint=Checkpoint("timeseal.local/log/0123456789ab", 1300, bytes(32)),
        environment_check="通过 / passed",
        target_verification=None,
    )


def _jpeg() -> bytes:
    image = Image.linear_gradient("L").resize((4000, 3000)).convert("RGB")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def _ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


async def _bench(data_dir: Path, runs: int) -> dict[str, object]:
    now = dt.datetime.now(dt.UTC)
    config = datadir.initialise(data_dir, now=now)
    chain = platform_keys.load_chain(data_dir, config.tsa.signer)
    authority = TimeStampAuthority(
        platform_keys.load_signer(data_dir, config.tsa.signer), chain, policy=config.tsa.policy
    )
    engine = make_engine(database_url(data_dir, os.environ.get(DATABASE_URL_ENV)))
    create_schema(engine)
    journal = IssuanceJournal(engine)
    guard = ClockGuard(LocalSource(), max_offset=1.0, interval=3600)
    guard.refresh()
    service = TSAService(
        authority, SerialAllocator.start(engine, now=now, pid=os.getpid()), journal, guard
    )
    signer = CertificateSigner(datadir.load_document_signer(data_dir, now=now), service)
    t0 = time.perf_counter()
    fonts = load_fonts(data_dir / "font-cache")
    font_cut = time.perf_counter() - t0
    facts = _facts(now)
    jpeg = _jpeg()
    preview = image_preview(jpeg)
    # Warm-up: imports, pyHanko's one dummy token, first journal commit.
    await build_certificate(facts, fonts=fonts, signer=signer, preview=preview)
    total, layout, signing, token, previews = [], [], [], [], []
    size = 0
    try:
        for i in range(runs):
            t = time.perf_counter()
            pdf = await build_certificate(facts, fonts=fonts, signer=signer, preview=preview)
            total.append(time.perf_counter() - t)
            size = len(pdf)
            t = time.perf_counter()
            unsigned = render_certificate(facts, fonts=fonts, preview=preview)
            layout.append(time.perf_counter() - t)
            t = time.perf_counter()
            await signer.sign(unsigned, number=facts.number)
            signing.append(time.perf_counter() - t)
            request = build_request(hashlib.sha256(b"%d" % i).digest())
            t = time.perf_counter()
            reply = await service.respond(request.der)
            token.append(time.perf_counter() - t)
            assert reply.granted
            t = time.perf_counter()
            image_preview(jpeg)
            previews.append(time.perf_counter() - t)
    finally:
        journal.close()
        engine.dispose()
    return {
        "runs": runs,
        "certificate_ms": _ms(total),
        "layout_ms": _ms(layout),
        "sign_and_two_timestamps_ms": _ms(signing),
        "baseline_one_token_ms": _ms(token),
        "certificate_over_token": round(statistics.median(total) / statistics.median(token), 1),
        "preview_12mp_jpeg_ms": _ms(previews),
        "pdf_bytes": size,
        "font_cut_once_s": round(font_cut, 2),
        "target_ms": 300,
        "met": statistics.median(total) <= 0.300,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(_bench(Path(tmp), args.runs))
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>28}: {value}")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Certificate PDFs for tests: a real TSA service over a data dir, sample facts and media."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from PIL import Image

from timeseal.core.tlog.checkpoint import Checkpoint
from timeseal.core.tsp.authority import TimeStampAuthority
from timeseal.server.certificate.media import CertificateFonts, load_fonts
from timeseal.server.certificate.render import CertificateFacts, build_certificate, verify_url
from timeseal.server.certificate.sign import CertificateSigner
from timeseal.server.runtime import datadir, platform_keys
from timeseal.server.tsa.clock import ClockGuard, LocalSource
from timeseal.server.tsa.service import TSAService
from timeseal.store.db import DATABASE_URL_ENV, create_schema, database_url, make_engine
from timeseal.store.issuance import IssuanceJournal, SerialAllocator

NUMBER = "TS-20261129-7Q4K-M2XD"
BASE_URL = "https://timeseal.example"
#: The repertoire font is cut once per machine (several seconds), not once per test module.
FONT_CACHE = Path(tempfile.gettempdir()) / "timeseal-test-fonts"


@dataclass(frozen=True)
class CertificateKit:
    data_dir: Path
    root: x509.Certificate
    tsa_certificate: x509.Certificate
    service: TSAService
    signer: CertificateSigner
    fonts: CertificateFonts

    def build(self, facts: CertificateFacts, preview: bytes | None = None) -> bytes:
        async def run() -> bytes:
            return await build_certificate(
                facts, fonts=self.fonts, signer=self.signer, preview=preview
            )

        return asyncio.run(run())


@contextmanager
def certificate_kit(data_dir: Path) -> Iterator[CertificateKit]:
    """An initialised data dir, its TSA as the server builds it (journal, serial allocator,
    clock guard), and a certificate signer answered by that TSA in process."""
    now = dt.datetime.now(dt.UTC)
    config = datadir.initialise(data_dir, now=now)
    chain = platform_keys.load_chain(data_dir, config.tsa.signer)
    authority = TimeStampAuthority(
        platform_keys.load_signer(data_dir, config.tsa.signer),
        chain,
        policy=config.tsa.policy,
        accuracy=config.tsa.accuracy,
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
    try:
        yield CertificateKit(
            data_dir=data_dir,
            root=chain[-1],
            tsa_certificate=chain[0],
            service=service,
            signer=signer,
            fonts=load_fonts(FONT_CACHE),
        )
    finally:
        journal.close()
        engine.dispose()


#: A root fingerprint as openssl prints it (32 pairs).
ROOT_FINGERPRINT = ":".join(f"{b:02X}" for b in range(0xA0, 0xC0))


def sample_facts(
    *,
    title: str = "客服聊天记录被删除前的录屏",
    kind: str = "screen-recording",
    environment_check: str | None = "通过 / passed: 无 root、无模拟器",
    target_verification: str | None = None,
) -> CertificateFacts:
    gen_time = dt.datetime(2026, 11, 29, 11, 0, 0, 123000, tzinfo=dt.UTC)
    return CertificateFacts(
        number=NUMBER,
        title=title,
        kind=kind,
        filename="聊天记录.mp4",
        media_type="video/mp4",
        size=12_345_678,
        content_sha256=hashlib.sha256(b"evidence").digest(),
        gen_time=gen_time,
        tsa_name="TimeSeal Time-Stamp Authority",
        serial_number=0x1234ABCD,
        policy="2.25.1234567890",
        verify_url=verify_url(BASE_URL, NUMBER),
        issued_at=gen_time,
        capture_start=gen_time - dt.timedelta(minutes=3),
        capture_end=gen_time - dt.timedelta(seconds=5),
        leaf_index=42,
        checkpoint=Checkpoint("timeseal.local/log/0123456789ab", 43, bytes(range(32))),
        environment_check=environment_check,
        target_verification=target_verification,
        root_fingerprint=ROOT_FINGERPRINT,
    )


def sample_jpeg(width: int = 1200, height: int = 800) -> bytes:
    """A photo-like JPEG: a gradient with a dark band, so a thumbnail has something to show."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def sample_video(path: Path) -> Path:
    """Two seconds of ffmpeg's test pattern, 320x240 at 10 fps."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi"]
        + ["-i", "testsrc=duration=2:size=320x240:rate=10", "-pix_fmt", "yuv420p", str(path)],
        check=True,
        timeout=60,
    )
    return path

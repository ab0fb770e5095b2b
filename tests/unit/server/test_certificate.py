"""The certificate PDF: Chinese text embedded and extractable, page renders, QR decodes, previews
for photos and videos, signatures verify; and the document signer of the data dir."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from PIL import Image

from tests.support.certificates import (
    BASE_URL,
    NUMBER,
    ROOT_FINGERPRINT,
    CertificateKit,
    certificate_kit,
    sample_facts,
    sample_jpeg,
    sample_video,
)
from timeseal.core import pki
from timeseal.core.pdf_report import SignatureKind
from timeseal.core.pdf_signature import verify_pdf_signatures
from timeseal.core.tsp.request import build_request
from timeseal.server.certificate.media import (
    CertificateMediaError,
    image_preview,
    video_key_frame,
)
from timeseal.server.certificate.render import NOT_PROVIDED, facts_from_record, verify_url
from timeseal.server.runtime import configuration, datadir
from timeseal.store.evidence.rows import EvidenceRecord

LABELS = (
    "证据编号",
    "标题",
    "文件名",
    "时间戳时间",
    "北京时间",
    "日志检查点",
    "环境检测",
    "目标核验",
)


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CertificateKit]:
    with certificate_kit(tmp_path_factory.mktemp("cert-data")) as k:
        yield k


@pytest.fixture(scope="module")
def photo_pdf(kit: CertificateKit, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pdf") / "photo.pdf"
    facts = sample_facts(kind="photo")
    path.write_bytes(kit.build(facts, preview=image_preview(sample_jpeg())))
    return path


def _run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=60).stdout


def test_cjk_font_is_embedded(photo_pdf: Path) -> None:
    lines = _run("pdffonts", str(photo_pdf)).splitlines()[2:]
    assert lines, "no font in the PDF"
    for line in lines:
        name, *_, emb, sub, uni, _obj, _gen = line.split()
        assert (emb, sub, uni) == ("yes", "yes", "yes"), line
        assert re.fullmatch(r"[A-Z]{6}\+NotoSansCJKSC", name), line


def test_text_has_the_chinese_labels_number_and_digest(photo_pdf: Path) -> None:
    text = _run("pdftotext", "-layout", str(photo_pdf), "-")
    digest = hashlib.sha256(b"evidence").hexdigest()
    for label in LABELS:
        assert label in text
    assert NUMBER in text
    assert digest[:32] in text and digest[32:] in text
    assert "2026-11-29 19:00:00.123 北京时间 (UTC+8)" in text
    assert "2026-11-29 11:00:00.123 UTC" in text
    assert "客服聊天记录被删除前的录屏" in text
    assert NOT_PROVIDED in text  # target verification was not given
    assert "签发时间" in text and "根证书指纹" in text
    assert ROOT_FINGERPRINT[:47] in text and ROOT_FINGERPRINT[48:] in text
    assert "VERIFY.md" in text and "timeseal verify" in text  # how to verify offline


def _page_png(pdf: Path, tmp_path: Path, dpi: int = 100) -> Path:
    _run("pdftoppm", "-r", str(dpi), "-png", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "p"))
    (png,) = tmp_path.glob("p*.png")
    return png


def test_page_renders_with_ink(photo_pdf: Path, tmp_path: Path) -> None:
    with Image.open(_page_png(photo_pdf, tmp_path)) as page:
        gray = page.convert("L")
        dark = sum(gray.histogram()[:128])
        assert gray.size[0] > 700 and gray.size[1] > 1000
    # Text, table rules, the QR code and the preview: several per cent of an A4 page.
    assert dark > 0.03 * gray.size[0] * gray.size[1]


def test_qr_code_opens_the_verify_page(photo_pdf: Path, tmp_path: Path) -> None:
    png = _page_png(photo_pdf, tmp_path, dpi=150)
    decoded = _run("zbarimg", "--quiet", "--raw", str(png)).strip()
    assert decoded == f"{BASE_URL}/verify?number={NUMBER}"


def test_signatures_verify_under_the_platform_root(kit: CertificateKit, photo_pdf: Path) -> None:
    report = verify_pdf_signatures(photo_pdf.read_bytes(), roots=[kit.root])
    assert report.ok, report.failed
    kinds = [s.kind for s in report.signatures]
    assert kinds == [SignatureKind.SIGNATURE, SignatureKind.DOCUMENT_TIMESTAMP]
    signature, timestamp = report.signatures
    assert signature.signer_subject == "CN=TimeSeal Document Signing,O=TimeSeal"
    assert timestamp.signer_subject == kit.tsa_certificate.subject.rfc4514_string()
    assert signature.timestamp_gen_time is not None and timestamp.timestamp_gen_time is not None
    assert signature.timestamp_gen_time <= timestamp.timestamp_gen_time
    assert report.timestamped


def _colours(image: Image.Image) -> int:
    colours = image.convert("RGB").getcolors(maxcolors=1 << 24)
    assert colours is not None
    return len(colours)


def test_video_key_frame_preview(kit: CertificateKit, tmp_path: Path) -> None:
    frame = video_key_frame(sample_video(tmp_path / "clip.mp4"), at_seconds=1.0)
    with Image.open(io.BytesIO(frame)) as image:
        assert image.format == "JPEG"
        assert image.size == (320, 240)
        # testsrc is colourful: a real frame, not a black one.
        assert _colours(image) > 50
    pdf = tmp_path / "video.pdf"
    pdf.write_bytes(kit.build(sample_facts(kind="video"), preview=frame))
    assert "视频 / video" in _run("pdftotext", str(pdf), "-")
    assert verify_pdf_signatures(pdf.read_bytes(), roots=[kit.root]).ok
    with Image.open(_page_png(pdf, tmp_path)) as page:
        # The preview is in the lower-left corner: a colourful frame, not white paper.
        corner = page.convert("RGB").crop((60, 900, 300, 1100))
        assert _colours(corner) > 20


def test_key_frame_of_a_short_video_falls_back_to_the_first(tmp_path: Path) -> None:
    frame = video_key_frame(sample_video(tmp_path / "clip.mp4"), at_seconds=30.0)
    assert frame.startswith(b"\xff\xd8")  # JPEG SOI


def test_preview_errors_are_named(tmp_path: Path) -> None:
    with pytest.raises(CertificateMediaError):
        image_preview(b"not an image")
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(CertificateMediaError):
        video_key_frame(tmp_path / "bad.mp4")


def test_a_file_pillow_calls_broken_is_a_named_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pillow reports some broken PNGs as SyntaxError ("broken PNG file"); that must not
    escape as a server error from the certificate endpoint."""
    from PIL import Image

    def broken(_fp: object) -> None:
        raise SyntaxError("broken PNG file")

    monkeypatch.setattr(Image, "open", broken)
    with pytest.raises(CertificateMediaError, match="broken PNG"):
        image_preview(b"\x89PNG\r\n\x1a\n")


def test_preview_is_a_small_jpeg() -> None:
    jpeg = image_preview(sample_jpeg(4000, 3000))
    with Image.open(io.BytesIO(jpeg)) as image:
        assert image.format == "JPEG"
        assert max(image.size) <= 480


def test_characters_outside_the_repertoire_use_the_whole_font(
    kit: CertificateKit, tmp_path: Path
) -> None:
    rare = "𠮷野家的收据"  # U+20BB7 is outside GB 2312 (and the BMP)
    assert kit.fonts.for_text(rare) is kit.fonts.full
    assert kit.fonts.for_text("普通标题") is kit.fonts.repertoire
    pdf = tmp_path / "rare.pdf"
    pdf.write_bytes(kit.build(sample_facts(title=rare)))
    assert rare in _run("pdftotext", str(pdf), "-")


def test_verify_url_quotes_the_number() -> None:
    assert verify_url("https://a.example/", "TS-1") == "https://a.example/verify?number=TS-1"
    assert verify_url("https://a.example", "a b&c") == "https://a.example/verify?number=a%20b%26c"


def test_facts_refuse_naive_times_and_bad_digests() -> None:
    facts = sample_facts()
    with pytest.raises(ValueError, match="timezone-aware"):
        dataclasses.replace(facts, gen_time=dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="32 bytes"):
        dataclasses.replace(facts, content_sha256=b"\x00" * 20)
    with pytest.raises(ValueError, match="negative"):
        dataclasses.replace(facts, size=-1)


def _record(kit: CertificateKit, capture: dict[str, object]) -> EvidenceRecord:
    import asyncio

    content = b"photo bytes"
    request = build_request(hashlib.sha256(content).digest())
    reply = asyncio.run(kit.service.respond(request.der))
    assert reply.granted
    now = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
    return EvidenceRecord(
        id=1,
        number=NUMBER,
        owner_id=1,
        upload_id=None,
        kind="photo",
        title="快递面单",
        filename="label.jpg",
        media_type="image/jpeg",
        size=len(content),
        content_sha256=hashlib.sha256(content).digest(),
        capture=capture,
        tsr_der=reply.der,
        token_sha256=b"\x00" * 32,
        log_entry_id=1,
        leaf_index=7,
        supersedes=None,
        created_at=now,
    )


def test_facts_from_a_record(kit: CertificateKit) -> None:
    capture: dict[str, object] = {
        "started_at": "2026-11-29T10:58:00+00:00",
        "ended_at": "2026-11-29T10:59:30",
        "environment_check": {"verdict": "通过 / passed", "summary": "未发现 root"},
        "target_verification": "shop.example TLS 证书链有效",
    }
    facts = facts_from_record(_record(kit, capture), checkpoint=None, base_url=BASE_URL)
    assert facts.number == NUMBER and facts.kind == "photo" and facts.leaf_index == 7
    assert facts.tsa_name == kit.tsa_certificate.subject.rfc4514_string()
    assert facts.capture_start == dt.datetime(2026, 11, 29, 10, 58, tzinfo=dt.UTC)
    assert facts.capture_end == dt.datetime(2026, 11, 29, 10, 59, 30, tzinfo=dt.UTC)
    assert facts.environment_check == "通过 / passed — 未发现 root"
    assert facts.target_verification == "shop.example TLS 证书链有效"
    assert facts.verify_url == f"{BASE_URL}/verify?number={NUMBER}"
    assert facts.issued_at == dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
    bare = facts_from_record(_record(kit, {}), checkpoint=None, base_url=BASE_URL)
    assert bare.capture_start is None and bare.environment_check is None
    assert bare.root_fingerprint is None


def test_a_browser_captures_recorded_environment_is_shown(kit: CertificateKit) -> None:
    """A browser capture runs no environment check but records its environment: the
    certificate says so rather than "not provided"."""
    browser = {
        "user_agent": "Mozilla/5.0 (Linux; Android 15) Chrome/131.0",
        "timezone": "Asia/Shanghai",
        "utc_offset_minutes": 480,
        "clock_offset_ms": -12,
        "clock_round_trip_ms": 48,
    }
    facts = facts_from_record(
        _record(kit, {"browser_environment": browser}),
        checkpoint=None,
        base_url=BASE_URL,
        root_fingerprint=ROOT_FINGERPRINT,
    )
    summary = facts.environment_check
    assert summary is not None and summary.startswith("浏览器取证，未做环境检测")
    assert "Chrome/131.0" in summary and "Asia/Shanghai (UTC+8)" in summary
    assert "clock offset -12 ms" in summary and "round trip 48 ms" in summary
    assert facts.root_fingerprint == ROOT_FINGERPRINT
    unmeasured = facts_from_record(
        _record(kit, {"browser_environment": {"clock_error": "timeout"}}),
        checkpoint=None,
        base_url=BASE_URL,
    )
    assert unmeasured.environment_check is not None
    assert "clock not measured" in unmeasured.environment_check


# -- the document signer of the data dir ----------------------------------------------------


def test_init_issues_a_document_signer(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    datadir.initialise(tmp_path, now=now)
    signer = datadir.load_document_signer(tmp_path, now=now)
    root = x509.load_pem_x509_certificate((tmp_path / "pki" / "root.pem").read_bytes())
    cert = signer.certificate
    assert (tmp_path / "pki" / "docsign.key").stat().st_mode & 0o777 == 0o600
    assert signer.chain == (cert, root)
    assert cert.issuer == root.subject
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert not eku.critical
    assert list(eku.value) == [pki.ID_KP_DOCUMENT_SIGNING, pki.MS_DOCUMENT_SIGNING]
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and not basic.value.ca


def test_data_dir_from_before_gets_a_document_signer_lazily(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    datadir.initialise(tmp_path, now=now)
    for name in ("docsign.key", "docsign.pem", "docsign-chain.pem"):
        (tmp_path / "pki" / name).unlink()
    first = datadir.load_document_signer(tmp_path, now=now)
    again = datadir.load_document_signer(tmp_path, now=now)
    assert first.certificate == again.certificate  # issued once, then kept
    assert (tmp_path / "pki" / "docsign.key").stat().st_mode & 0o777 == 0o600
    # A restart of an old data dir also issues it (initialise on an existing config).
    for name in ("docsign.key", "docsign.pem", "docsign-chain.pem"):
        (tmp_path / "pki" / name).unlink()
    datadir.initialise(tmp_path, now=now)
    assert (tmp_path / "pki" / "docsign-chain.pem").exists()


def test_document_signer_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    datadir.initialise(tmp_path, now=now)
    (tmp_path / "pki" / "docsign.key").chmod(0o644)
    with pytest.raises(configuration.DataDirError, match="chmod 600"):
        datadir.load_document_signer(tmp_path, now=now)

"""What the certificate PDF embeds besides text: the CJK font, and a preview of the evidence.

Font. Debian's ``fonts-noto-cjk`` ships Noto Sans CJK as OpenType collections with CFF
outlines. fpdf2 embeds CFF fonts (as ``CIDFontType0C``, subset to the glyphs used) through
fontTools, which reportlab cannot. But the collection is 19 MiB with 65,535 glyphs: parsing and
subsetting it for every PDF costs about 400 ms. So once per machine we cut a *repertoire font*
from it: ASCII, Latin-1, general and CJK punctuation, full-width forms and the 6,763 hanzi of
GB 2312 (every character in common simplified-Chinese use), about 1.5 MiB, kept under a cache
directory and named by a digest of the source font and of the repertoire. A PDF from it costs
about 80 ms. Text with a character outside the repertoire (a rare name, say) is set with the
whole collection instead: slower, never wrong.

Preview. A thumbnail for images (Pillow) and a key frame for videos (``ffmpeg -ss … -frames:v 1``
in a subprocess, PNG on stdout), both re-encoded as small JPEGs so that nothing the uploader
crafted reaches the PDF writer unparsed (and fpdf2 embeds a JPEG as it is, with no second
decode and deflate: a PNG would cost ~30 ms more per certificate).
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from fontTools import subset, ttLib  # type: ignore[import-untyped]
from PIL import Image, UnidentifiedImageError

from timeseal.core.files import replacing
from timeseal.server.runtime.dependencies import CJK_FONT, CJK_FONT_PACKAGE

NOTO_CJK_REGULAR = CJK_FONT
#: The face of the collection to use: Noto Sans CJK SC (simplified Chinese glyph shapes).
NOTO_FAMILY = "Noto Sans CJK SC"
PREVIEW_MAX_PX = 480
FFMPEG_TIMEOUT_S = 20.0
_REPERTOIRE_VERSION = b"timeseal-certificate-repertoire-1"
_lock = threading.Lock()


class CertificateMediaError(Exception):
    """The font cannot be found or read, or a preview cannot be made."""


class FontMissing(CertificateMediaError):
    """The font file is not on this machine (its package is not installed)."""


@dataclass(frozen=True, slots=True)
class CertificateFont:
    """A font file fpdf2 can embed, and the characters it covers."""

    path: Path
    collection_index: int
    charset: frozenset[int]

    def covers(self, text: str) -> bool:
        return all(ord(ch) in self.charset or ch in "\n\r\t" for ch in text)


@dataclass(frozen=True, slots=True)
class CertificateFonts:
    """The fast repertoire font and the whole collection it was cut from."""

    repertoire: CertificateFont
    full: CertificateFont

    def for_text(self, text: str) -> CertificateFont:
        return self.repertoire if self.repertoire.covers(text) else self.full


def _repertoire() -> frozenset[int]:
    ranges = [(0x20, 0x7F), (0xA0, 0x100), (0x2000, 0x2070), (0x2190, 0x2200)]
    ranges += [(0x25A0, 0x2600), (0x3000, 0x3040), (0xFF00, 0xFFF0)]
    chars = {cp for lo, hi in ranges for cp in range(lo, hi)}
    for cp in range(0x4E00, 0xA000):
        try:
            chr(cp).encode("gb2312")
        except UnicodeEncodeError:
            continue
        chars.add(cp)
    return frozenset(chars)


def _face_index(source: Path) -> int:
    with ttLib.TTCollection(str(source), lazy=True) as collection:
        for index, font in enumerate(collection.fonts):
            if font["name"].getDebugName(1) == NOTO_FAMILY:
                return index
    raise CertificateMediaError(f"{source} has no face named {NOTO_FAMILY!r}")


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "timeseal" / "fonts"


def load_fonts(cache_dir: Path | None = None, *, source: Path | None = None) -> CertificateFonts:
    """The certificate fonts (from ``source``, by default :data:`NOTO_CJK_REGULAR`), cutting
    the repertoire font into ``cache_dir`` on first use (several seconds, once per machine;
    safe when processes race: the file is renamed into place complete)."""
    source = source or NOTO_CJK_REGULAR
    if not source.exists():
        raise FontMissing(f"{source} is missing: install the Debian package {CJK_FONT_PACKAGE}")
    cache_dir = cache_dir or default_cache_dir()
    with _lock:
        index = _face_index(source)
        stat = source.stat()
        key = hashlib.sha256(
            b"%s|%d|%d|%d|%s"
            % (bytes(source), stat.st_size, stat.st_mtime_ns, index, _REPERTOIRE_VERSION)
        ).hexdigest()[:16]
        target = cache_dir / f"noto-sans-cjk-sc-{key}.otf"
        if not target.exists():
            _cut_repertoire(source, index, target)
        charset = _charset(target, 0)
    full_charset = _charset(source, index)
    return CertificateFonts(
        repertoire=CertificateFont(target, 0, charset),
        full=CertificateFont(source, index, full_charset),
    )


def _charset(path: Path, index: int) -> frozenset[int]:
    with ttLib.TTFont(str(path), fontNumber=index, lazy=True) as font:
        return frozenset(font.getBestCmap())


def _cut_repertoire(source: Path, index: int, target: Path) -> None:
    with ttLib.TTFont(str(source), fontNumber=index, recalcTimestamp=False) as font:
        _subset(font, target)


def _subset(font: ttLib.TTFont, target: Path) -> None:
    options = subset.Options()
    options.layout_features = []
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.hinting = False
    options.desubroutinize = True  # the per-PDF subset then has no subroutines to prune
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=_repertoire())
    subsetter.subset(font)
    target.parent.mkdir(parents=True, exist_ok=True)
    with replacing(target, mode=0o600) as f:
        font.save(f)


def image_preview(data: bytes, *, max_px: int = PREVIEW_MAX_PX) -> bytes:
    """A JPEG thumbnail of an image, at most ``max_px`` on its longer side."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (max_px, max_px))  # JPEG: decode at a reduced scale, fast
            rgb = image.convert("RGB")
    # Pillow reports some broken files (a PNG with a bad chunk) as SyntaxError.
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
    ) as exc:
        raise CertificateMediaError(f"not an image Pillow can read: {exc}") from exc
    rgb.thumbnail((max_px, max_px))
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=85)
    return out.getvalue()


def video_key_frame(
    path: Path, *, at_seconds: float = 1.0, ffmpeg: str = "ffmpeg", max_px: int = PREVIEW_MAX_PX
) -> bytes:
    """A JPEG of the frame at ``at_seconds`` (or the first one, for a shorter video)."""
    for seek in (at_seconds, 0.0):
        command = [ffmpeg, "-nostdin", "-v", "error", "-ss", f"{seek:.3f}", "-i", str(path)]
        command += ["-frames:v", "1", "-f", "image2pipe", "-vcodec", "png", "-"]
        try:
            done = subprocess.run(
                command, capture_output=True, timeout=FFMPEG_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CertificateMediaError(f"ffmpeg failed on {path.name}: {exc}") from exc
        if done.returncode == 0 and done.stdout:
            return image_preview(done.stdout, max_px=max_px)
    stderr = done.stderr.decode(errors="replace").strip()
    raise CertificateMediaError(f"ffmpeg found no frame in {path.name}: {stderr}")

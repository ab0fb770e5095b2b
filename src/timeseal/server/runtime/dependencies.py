"""What the server needs from the system and does not find: the certificate's CJK font, ffmpeg.

``timeseal serve`` calls :func:`missing_dependencies` before any worker starts and prints each
one with the Debian package that provides it and what fails without it. Neither stops the
start: the TSA, the log, uploads and the web pages work without them. Without the font no
certificate PDF, so no evidence package, can be built (those downloads answer 503
``certificate_font_missing``, naming the package, until it is installed; no restart needed);
without ffmpeg a video's certificate has no key frame. ``make serve`` installs both.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: Noto Sans CJK, as Debian's ``fonts-noto-cjk`` installs it: the certificate PDF's font
#: (``timeseal.server.certificate.media``).
CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
CJK_FONT_PACKAGE = "fonts-noto-cjk"


@dataclass(frozen=True, slots=True)
class MissingDependency:
    """One thing the server needs and lacks: what, the package that provides it, what fails."""

    what: str
    package: str
    consequence: str

    def message(self) -> str:
        return (
            f"warning: {self.what} is missing: {self.consequence}. "
            f"Install the {self.package} package (apt-get install {self.package}; "
            "`make serve` installs it)."
        )


def missing_dependencies(
    *, font: Path | None = None, which: Callable[[str], str | None] | None = None
) -> list[MissingDependency]:
    """Each runtime dependency of the server that this machine lacks, in a fixed order
    (``font`` is :data:`CJK_FONT`, ``which`` is :func:`shutil.which`, unless given)."""
    font = font or CJK_FONT
    which = which or shutil.which
    missing = []
    if not font.is_file():
        missing.append(
            MissingDependency(
                f"the CJK font {font}",
                CJK_FONT_PACKAGE,
                "no certificate PDF, and so no evidence package, can be built (those "
                "downloads answer 503 certificate_font_missing)",
            )
        )
    if which("ffmpeg") is None:
        missing.append(
            MissingDependency(
                "ffmpeg",
                "ffmpeg",
                "a video's certificate gets no preview frame",
            )
        )
    return missing

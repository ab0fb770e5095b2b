"""Sealing the outputs in time: an RFC 3161 token ``FILE.tsr`` beside every output file, from
the TimeSeal server given with ``--server`` (as ``timeseal stamp`` does).

Only each file's SHA-256 leaves the machine. The token proves the file existed, exactly so, no
later than its genTime: together they seal the capture. Packaging and upload are separate
steps (the evidence package takes these tokens as they are).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from timeseal.capture.clients.tsa import TSAClient, TSAClientError, verify_stamp
from timeseal.capture.web.errors import WebCaptureError
from timeseal.core.digest import digest_file
from timeseal.core.files import write_durably

TOKEN_SUFFIX = ".tsr"


@dataclass(frozen=True, slots=True)
class SealReport:
    tokens: tuple[Path, ...]
    elapsed_ms: int


def seal_files(
    server: str, files: Sequence[Path], *, roots: Sequence[x509.Certificate] = ()
) -> SealReport:
    """Write ``FILE.tsr`` for each file; with ``roots``, each token is verified at once."""
    started = time.monotonic()
    tokens: list[Path] = []
    with TSAClient(server) as client:
        for path in files:
            try:
                result = client.stamp_digest(digest_file(path))
            except TSAClientError as exc:
                raise WebCaptureError(
                    f"无法加盖时间戳 cannot timestamp {path.name}: {exc}"
                ) from exc
            if roots:
                check = verify_stamp(result, list(roots))
                if not check.ok:
                    names = ", ".join(c.value for c in check.failed)
                    raise WebCaptureError(f"{path.name}: token does not verify ({names})")
            out = path.with_name(path.name + TOKEN_SUFFIX)
            write_durably(out, result.response.der)
            tokens.append(out)
    return SealReport(tuple(tokens), int((time.monotonic() - started) * 1000))

"""``timeseal verify PACKAGE.zip``: an evidence package, verified offline as a whole."""

from __future__ import annotations

from pathlib import Path

from timeseal.cli.exits import usage_error
from timeseal.cli.log_receipts import load_verifier_key
from timeseal.cli.verify import report
from timeseal.cli.verify.trust import find_roots


def is_package(path: Path) -> bool:
    """An evidence package is a ZIP holding manifest.json (docs/package-format.md); a ZIP
    too large in its directory to be one is verified as one too, so the report says why.
    Never parses more of the ZIP than the package verifier would."""
    from timeseal.core.package.verify import looks_like_package

    try:
        with path.open("rb") as f:
            return looks_like_package(f)
    except OSError:
        return False


def verify_package_file(
    path: Path,
    ca: Path | None,
    log_key: str | None,
    witnesses: list[str],
    as_json: bool,
    server: str | None = None,
) -> None:
    """Offline; trust from --ca, else the local data directory's root, else the server's
    (:func:`~timeseal.cli.verify.trust.find_roots`), and only when there is none (with a
    warning) from the package itself. Always exits with the verdict's status: 0 valid (with
    or without warnings), 1 invalid (an unreadable file too), 3 incomplete."""
    from timeseal.core.package import verify_package
    from timeseal.core.pdf_signature import certificate_signature_check

    roots = find_roots(ca, server)  # [] only as a last resort: the package's own root
    key = load_verifier_key(log_key, "--log-key") if log_key is not None else None
    cosigners = [load_verifier_key(w, "--witness-key") for w in witnesses]
    try:
        with path.open("rb") as f:
            result = verify_package(
                f,
                roots=roots,
                log_key=key,
                cosigners=cosigners,
                certificate_check=certificate_signature_check,
            )
    except OSError as exc:
        report.unreadable(path, f"无法读取 cannot read {path}: {exc}", as_json)
    except ValueError as exc:
        raise usage_error(str(exc)) from None
    body = {"file": str(path), **report.package_json(result)}
    lines = report.package_lines(result) if not as_json else []
    report.emit(result.assessment, as_json, body, f"证据包 Package: {path}", lines)

"""The trust anchors a verification starts from: ``--ca ROOT.pem``, else the local data
directory's root, else the root of the server the CLI uses (a usage error when there is
none)."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from timeseal.cli.data_dir import default_root
from timeseal.cli.exits import usage_error
from timeseal.core.digest import digest_stream
from timeseal.core.tsp.response import TimeStampResponse
from timeseal.core.tsp.verify import TimestampVerifierBuilder
from timeseal.core.verification import VerificationResult


def load_roots(path: Path) -> list[x509.Certificate]:
    """The certificates in the PEM file ``path``; a usage error if it holds none."""
    try:
        roots = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise usage_error(f"无法读取信任锚 cannot read trust anchor {path}: {exc}") from None
    if not roots:
        raise usage_error(f"{path} 中没有证书 holds no certificate")
    return roots


def check_token_over(
    response: TimeStampResponse, path: Path, roots: list[x509.Certificate]
) -> VerificationResult:
    """The checks of ``response``'s token against ``roots``, over the bytes of ``path``
    (hashed with the token's own algorithm): the one way a token is checked over a file."""
    builder = TimestampVerifierBuilder()
    for root in roots:
        builder = builder.add_root(root)
    hashed = b""
    if response.token is not None:
        with path.open("rb") as f:
            hashed = digest_stream(f, response.token.tst_info.hash_algorithm)
    return builder.build().verify(response, hashed)


def trust_roots(ca: Path | None, server: str | None = None) -> list[x509.Certificate]:
    """The roots in ``--ca``, else the local data directory's root, else the root of the
    server the CLI uses (pinned on first use, :mod:`.server_root`); a usage error when
    there is none."""
    roots = find_roots(ca, server)
    if not roots:
        raise usage_error(
            "没有信任锚 no trust anchor: 请用 --ca ROOT.pem，或 `timeseal login` 登录服务器 / "
            "pass --ca ROOT.pem, or log in to the server (`timeseal login`) so its root is used"
        )
    return roots


def find_roots(ca: Path | None, server: str | None = None) -> list[x509.Certificate]:
    """``--ca``, else the local data directory's root, else the server's; [] when none."""
    from timeseal.cli.verify.server_root import server_roots

    if ca is not None:
        return load_roots(ca)
    local = default_root()
    if local is not None:
        return load_roots(local)
    return server_roots(server)

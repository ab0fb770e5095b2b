"""The server's root certificate as ``timeseal verify``'s trust anchor, pinned on first use.

When neither ``--ca`` nor a local data directory names a root, ``timeseal verify`` trusts the
root of the server the CLI uses (:func:`timeseal.cli.server_client.resolve_server`: the one
logged in to, usually), the same for every kind of input. The first time, the root is taken
from the server's ``GET /tsa/certs`` (the self-signed certificate at the end of the chain) and
kept in ``$XDG_STATE_HOME/timeseal/roots/<server>.pem``; from then on the kept copy is used,
offline, so a server that later serves another root cannot change what verifies. Its SHA-256
fingerprint is printed every time, for checking through another channel.
"""

from __future__ import annotations

import re
from pathlib import Path

import typer
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from timeseal.cli import settings as cli_settings
from timeseal.cli.server_client import resolve_server
from timeseal.core.files import write_durably

FETCH_TIMEOUT = 5.0


def root_cache_path(server: str) -> Path:
    """``$XDG_STATE_HOME/timeseal/roots/<server>.pem`` (default ``~/.local/state``)."""
    base = cli_settings.xdg_base("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    slug = re.sub(r"[^A-Za-z0-9.-]+", "_", re.sub(r"^[a-z]+://", "", server)).strip("_")
    return Path(base) / "timeseal" / "roots" / f"{slug or 'server'}.pem"


def fingerprint(certificate: x509.Certificate) -> str:
    """The SHA-256 fingerprint as ``AB:CD:…`` (as ``openssl x509 -fingerprint`` prints it)."""
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()


def server_roots(server: str | None) -> list[x509.Certificate]:
    """The resolved server's root: the pinned copy, else fetched now and pinned; [] when the
    server cannot be reached (or serves no root) and none is pinned. Says which on stderr."""
    base = resolve_server(server)
    path = root_cache_path(base)
    if path.exists():
        try:
            roots = x509.load_pem_x509_certificates(path.read_bytes())
        except (OSError, ValueError) as exc:
            typer.echo(f"⚠ 无法读取 cannot read {path}: {exc}", err=True)
            return []
        _say(roots, f"{base} 的根证书（本地保存 kept in {path}）/ the root of {base}")
        return roots
    roots = _fetch_roots(base)
    if not roots:
        return []
    path.parent.mkdir(parents=True, exist_ok=True)
    write_durably(path, b"".join(r.public_bytes(Encoding.PEM) for r in roots))
    _say(
        roots,
        f"{base} 的根证书，首次使用，已保存到 {path}，请通过其他渠道核对指纹 / the root "
        f"{base} serves at /tsa/certs, trusted on first use and kept in {path}: check its "
        "fingerprint through another channel",
    )
    return roots


def _fetch_roots(base: str) -> list[x509.Certificate]:
    from timeseal.capture.clients.tsa import TSAClient, TSAClientError

    try:
        with TSAClient(base, timeout=FETCH_TIMEOUT) as client:
            chain = client.certificates()
    except TSAClientError as exc:
        typer.echo(f"⚠ 无法获取根证书 cannot fetch the server's root: {exc}", err=True)
        return []
    return [c for c in chain if c.subject == c.issuer][-1:]


def _say(roots: list[x509.Certificate], where: str) -> None:
    for root in roots:
        typer.echo(f"信任锚 Trust anchor: {where}", err=True)
        typer.echo(f"  SHA-256 {fingerprint(root)}", err=True)

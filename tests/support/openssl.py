"""The ``openssl`` command line as a third party: queries, verification and a whole TSA.

Every command runs in a scratch directory the test owns (``tmp_path``), with ``OPENSSL_CONF``
pointing at an empty file so the machine's ``openssl.cnf`` cannot change the outcome. A command
that must succeed is run with ``check=True``; when it fails, the assertion message shows the
command line, its exit status and what it printed.

An openssl TSA here is what an operator would set up by hand (see ``man openssl-ts``): a root
CA made with ``openssl req -x509``, an ECDSA P-256 TSA key (``openssl ts -reply`` cannot sign
with Ed25519) and a TSA certificate with ``extendedKeyUsage = critical, timeStamping``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
from cryptography import x509

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"

#: The policy our openssl TSAs put into their tokens.
OPENSSL_TSA_POLICY = "1.3.6.1.4.1.55555.1"

_ENV = {**os.environ, "OPENSSL_CONF": os.devnull}

HashName = Literal["sha1", "sha256", "sha384", "sha512"]
EssCertIdAlg = Literal["sha1", "sha256"]


def openssl_binary() -> str:
    path = shutil.which("openssl")
    if path is None:
        raise AssertionError("the openssl command is not installed (apt-get install openssl)")
    return path


def openssl(*args: str | Path, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``openssl ARGS`` in ``cwd``. With ``check`` a non-zero exit fails the test, loudly."""
    command = [openssl_binary(), *map(str, args)]
    try:
        return subprocess.run(
            command, cwd=cwd, env=_ENV, capture_output=True, text=True, check=check, timeout=60
        )
    except subprocess.CalledProcessError as exc:
        raise AssertionError(
            f"`{' '.join(command)}` exited {exc.returncode} in {cwd}\n"
            f"stdout:\n{exc.stdout}\nstderr:\n{exc.stderr}"
        ) from exc


# --- the client side: ts -query, ts -verify, ts -reply -text -----------------------------


def ts_query(
    cwd: Path,
    data: Path,
    *,
    hash_name: HashName = "sha256",
    cert: bool = True,
    nonce: bool = True,
    out: str = "request.tsq",
) -> Path:
    """``openssl ts -query -data DATA -<hash> [-cert] [-no_nonce]``; returns the .tsq path."""
    args: list[str | Path] = ["ts", "-query", "-data", data, f"-{hash_name}", "-out", out]
    if cert:
        args.append("-cert")
    if not nonce:
        args.append("-no_nonce")
    openssl(*args, cwd=cwd)
    return cwd / out


@dataclass(frozen=True)
class VerifyOutcome:
    """What ``openssl ts -verify`` said: ``ok`` is exit 0 *and* ``Verification: OK``."""

    ok: bool
    output: str


def ts_verify(
    cwd: Path,
    response: Path,
    *,
    ca_file: Path,
    data: Path | None = None,
    queryfile: Path | None = None,
    digest: bytes | None = None,
    untrusted: Path | None = None,
) -> VerifyOutcome:
    """``openssl ts -verify -in RESPONSE -CAfile CA`` with exactly one of the three inputs."""
    given = [a for a in (data, queryfile, digest) if a is not None]
    if len(given) != 1:
        raise ValueError("give exactly one of data, queryfile, digest")
    args: list[str | Path] = ["ts", "-verify", "-in", response, "-CAfile", ca_file]
    if data is not None:
        args += ["-data", data]
    if queryfile is not None:
        args += ["-queryfile", queryfile]
    if digest is not None:
        args += ["-digest", digest.hex()]
    if untrusted is not None:
        args += ["-untrusted", untrusted]
    done = openssl(*args, cwd=cwd, check=False)
    output = done.stdout + done.stderr
    return VerifyOutcome(
        ok=done.returncode == 0 and "Verification: OK" in done.stdout, output=output
    )


def ts_reply_text(cwd: Path, response: Path) -> str:
    """``openssl ts -reply -in RESPONSE -text``: openssl's own reading of a TimeStampResp."""
    return openssl("ts", "-reply", "-in", response, "-text", cwd=cwd).stdout


# --- the TSA side: a CA, a TSA certificate, ts -reply ------------------------------------

_EXTENSIONS = """\
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ tsa_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ tsa_ext_eku_not_critical ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def subject_arg(name: x509.Name) -> str:
    """An ``x509.Name`` as openssl's ``-subj /O=.../CN=...``, in the same RDN order."""
    return "".join(f"/{attr.rfc4514_attribute_name}={attr.value!s}" for attr in name)


@dataclass(frozen=True)
class OpenSSLTSA:
    """A TSA run with ``openssl ts -reply`` from the files in ``directory``."""

    directory: Path
    root_pem: Path
    tsa_pem: Path
    tsa_key: Path
    config: Path

    @property
    def root(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.root_pem.read_bytes())

    @property
    def tsa_certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.tsa_pem.read_bytes())

    def reply(self, query: Path, out: str = "response.tsr") -> Path:
        """``openssl ts -reply -config tsa.cnf -queryfile QUERY``; returns the .tsr path."""
        openssl(
            "ts",
            "-reply",
            "-config",
            self.config,
            "-queryfile",
            query,
            "-out",
            out,
            cwd=self.directory,
        )
        return self.directory / out

    def stamp(
        self, data: Path, *, hash_name: HashName = "sha256", name: str = "token"
    ) -> tuple[Path, Path]:
        """Query for ``data`` (nonce and certReq on) and answer it: (query, response)."""
        query = ts_query(self.directory, data, hash_name=hash_name, out=f"{name}.tsq")
        return query, self.reply(query, out=f"{name}.tsr")


def make_openssl_tsa(
    directory: Path,
    *,
    root_subject: str = "/O=Interop Test/CN=OpenSSL Interop Root",
    tsa_subject: str = "/O=Interop Test/CN=OpenSSL Interop TSA",
    ess_cert_id_alg: EssCertIdAlg = "sha256",
    eku_critical: bool = True,
) -> OpenSSLTSA:
    """Make a root CA and a TSA certificate with openssl, and a ``tsa.cnf`` for ``ts -reply``.

    ``ess_cert_id_alg = sha1`` (openssl's default) puts an RFC 2634 ESSCertID into the token's
    signingCertificate attribute; any other value an RFC 5816 ESSCertIDv2 (signingCertificateV2).
    With ``eku_critical=False`` the TSA certificate's EKU is not critical, which ``ts -reply``
    itself refuses to sign with; use :func:`cms_sign_tst_info` for such tokens.
    """
    directory.mkdir(parents=True, exist_ok=True)
    extensions = directory / "extensions.cnf"
    extensions.write_text(_EXTENSIONS)
    run = directory
    openssl(
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        "root.key",
        cwd=run,
    )
    openssl(
        "req",
        "-new",
        "-x509",
        "-config",
        extensions,
        "-extensions",
        "ca_ext",
        "-key",
        "root.key",
        "-subj",
        root_subject,
        "-days",
        "2",
        "-sha256",
        "-out",
        "root.pem",
        cwd=run,
    )
    openssl(
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        "tsa.key",
        cwd=run,
    )
    openssl(
        "req",
        "-new",
        "-config",
        extensions,
        "-key",
        "tsa.key",
        "-subj",
        tsa_subject,
        "-out",
        "tsa.csr",
        cwd=run,
    )
    openssl(
        "x509",
        "-req",
        "-in",
        "tsa.csr",
        "-CA",
        "root.pem",
        "-CAkey",
        "root.key",
        "-set_serial",
        "0x7e57",
        "-days",
        "2",
        "-sha256",
        "-extfile",
        extensions,
        "-extensions",
        "tsa_ext" if eku_critical else "tsa_ext_eku_not_critical",
        "-out",
        "tsa.pem",
        cwd=run,
    )
    (directory / "tsaserial").write_text("0123456789ABCDEF00\n")
    config = directory / "tsa.cnf"
    config.write_text(
        f"""\
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {directory}
serial = $dir/tsaserial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/root.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = {OPENSSL_TSA_POLICY}
other_policies = {OPENSSL_TSA_POLICY}.2
digests = sha256, sha384, sha512
accuracy = secs:1, millisecs:500
clock_precision_digits = 3
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = {ess_cert_id_alg}
"""
    )
    return OpenSSLTSA(
        directory=directory,
        root_pem=directory / "root.pem",
        tsa_pem=directory / "tsa.pem",
        tsa_key=directory / "tsa.key",
        config=config,
    )


def cms_sign_tst_info(
    tsa: OpenSSLTSA, tst_info_der: bytes, *, stream: bool = False, out: str = "cms-token.der"
) -> bytes:
    """A TimeStampToken over ``tst_info_der`` made with ``openssl cms -sign``, not ``ts -reply``.

    ``-cades`` adds signingCertificateV2 (ESSCertIDv2, SHA-256) and ``-econtent_type`` makes the
    eContentType id-ct-TSTInfo, so the token has the RFC 3161 shape. ``cms -sign`` does not
    check the signer certificate's purpose, which lets a test sign with a certificate that
    ``ts -reply`` refuses. The root travels in the token, as with ``certs =`` in tsa.cnf.
    With ``stream`` (``-stream``) the token is BER with indefinite lengths, as CMS allows.
    """
    (tsa.directory / "tst-info.der").write_bytes(tst_info_der)
    openssl(
        "cms",
        "-sign",
        *(["-stream"] if stream else []),
        "-binary",
        "-nodetach",
        "-cades",
        "-nosmimecap",
        "-econtent_type",
        "1.2.840.113549.1.9.16.1.4",
        "-md",
        "sha256",
        "-in",
        "tst-info.der",
        "-signer",
        tsa.tsa_pem,
        "-inkey",
        tsa.tsa_key,
        "-certfile",
        tsa.root_pem,
        "-outform",
        "DER",
        "-out",
        out,
        cwd=tsa.directory,
    )
    return (tsa.directory / out).read_bytes()


# --- DER and HTTP glue ------------------------------------------------------------------


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def granted_response(token_der: bytes) -> bytes:
    """A TimeStampResp ``{ status { granted }, timeStampToken }`` around a bare token."""
    body = bytes.fromhex("3003020100") + token_der
    return b"\x30" + _der_length(len(body)) + body


def der_prefix(data: bytes) -> bytes:
    """The first complete DER TLV of ``data`` (e.g. a CMS blob in a zero-padded PDF field)."""
    if len(data) < 2:
        raise ValueError("too short for a DER TLV")
    first = data[1]
    if first < 0x80:
        header, length = 2, first
    else:
        count = first & 0x7F
        header, length = 2 + count, int.from_bytes(data[2 : 2 + count], "big")
    if header + length > len(data):
        raise ValueError("truncated DER TLV")
    return data[: header + length]


def post_query(tsa_url: str, query_der: bytes) -> bytes:
    """POST a TimeStampReq the way ``curl --data-binary @q.tsq`` does; return the reply DER."""
    reply = httpx.post(tsa_url, content=query_der, headers={"Content-Type": QUERY_TYPE}, timeout=30)
    assert reply.status_code == 200, f"POST {tsa_url}: HTTP {reply.status_code} {reply.text!r}"
    content_type = reply.headers.get("content-type", "")
    assert content_type == REPLY_TYPE, f"POST {tsa_url}: Content-Type {content_type!r}"
    return reply.content

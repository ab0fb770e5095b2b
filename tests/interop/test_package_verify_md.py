"""An evidence package checked with no TimeSeal software: the commands of its VERIFY.md run
literally in plain bash, as pasted into a shell without ``-e`` (cwd = the unzipped package),
and ``openssl ts -verify`` on every token."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from tests.support.openssl import ts_verify
from tests.support.pki import NOW, PKIFixture, make_pki
from tests.unit.core.package.helpers import GEN_TIME, Sealer, flip, three_specs
from timeseal.core import pki
from timeseal.core.cades.sign import sign_detached
from timeseal.core.package import PackageItem, parse_manifest, verify_package
from timeseal.core.package.layout import log_proof_path, token_path
from timeseal.core.pdf_signature import certificate_signature_check
from timeseal.core.signers import KeySigner
from timeseal.core.tlog import parse_tlog_proof

pytestmark = pytest.mark.interop
_ENV = {**os.environ, "OPENSSL_CONF": os.devnull, "LC_ALL": "C.UTF-8"}


@pytest.fixture(scope="module")
def sealed(test_pki: PKIFixture) -> tuple[Sealer, list[PackageItem], bytes]:
    sealer = Sealer(test_pki)
    items = sealer.items(three_specs())
    return sealer, items, sealer.build(items)


@pytest.fixture
def unzipped(tmp_path: Path, sealed: tuple[Sealer, list[PackageItem], bytes]) -> Path:
    package = tmp_path / "package.zip"
    package.write_bytes(sealed[2])
    target = tmp_path / "package"
    with zipfile.ZipFile(package) as zf:
        zf.extractall(target)
    return target


def blocks(directory: Path) -> list[str]:
    text = (directory / "VERIFY.md").read_text(encoding="utf-8")
    found = re.findall(r"^```sh\n(.*?)^```$", text, flags=re.S | re.M)
    assert len(found) == 4, "VERIFY.md: sha256sum, openssl ts -verify, openssl cms, log proof"
    return found


def run(directory: Path, script: str) -> subprocess.CompletedProcess[str]:
    """``script`` as a reader pasting it into bash would run it: no ``-e`` of our own."""
    return subprocess.run(
        ["bash", "-c", script],
        cwd=directory,
        env=_ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_verify_md_commands_succeed_on_the_package(unzipped: Path) -> None:
    sha, ts, signature, log = (run(unzipped, b) for b in blocks(unzipped))
    assert sha.returncode == 0, sha.stderr
    assert sha.stdout.count(": OK") == 14 + 15  # VERIFY.md's list, then manifest.json's
    assert "VERIFY.md: OK" in sha.stdout
    assert ts.returncode == 0, ts.stderr
    assert ts.stdout.count("Verification: OK") == 4  # 3 items + the manifest
    assert signature.returncode == 0, signature.stderr
    assert "CMS Verification successful" in signature.stderr
    assert "signed by the platform" in signature.stdout
    assert log.returncode == 0, log.stderr
    assert log.stdout.count("Signature Verified Successfully") == 3
    assert log.stdout.count("已收录于日志 in the log") == 3


def _item_file(directory: Path, number: str) -> Path:
    manifest, _ = parse_manifest((directory / "manifest.json").read_bytes())
    return directory / next(i.path for i in manifest.items if i.number == number)


def test_a_flipped_byte_in_an_item_fails_sha256sum_and_openssl(
    unzipped: Path, sealed: tuple[Sealer, list[PackageItem], bytes]
) -> None:
    scripts = blocks(unzipped)
    path = _item_file(unzipped, sealed[1][1].number)
    path.write_bytes(flip(path.read_bytes()))
    sha, ts = run(unzipped, scripts[0]), run(unzipped, scripts[1])
    assert sha.returncode != 0 and f"{path.relative_to(unzipped)}: FAILED" in sha.stdout
    assert ts.returncode != 0


def test_swapped_tokens_fail_openssl_and_the_log_check(
    unzipped: Path, sealed: tuple[Sealer, list[PackageItem], bytes]
) -> None:
    scripts = blocks(unzipped)
    a, b = (unzipped / token_path(i.number) for i in sealed[1][:2])
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    assert run(unzipped, scripts[1]).returncode != 0
    log = run(unzipped, scripts[3])
    assert log.returncode != 0 and "the leaf is not in the checkpoint" in log.stderr


def test_a_failed_log_check_stops_the_block_there(
    unzipped: Path, sealed: tuple[Sealer, list[PackageItem], bytes]
) -> None:
    """Once printed ✗ then ✓ and exited 0: now the first failure ends the block, non-zero."""
    first = unzipped / log_proof_path(sealed[1][0].number)
    lines = first.read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith("index "))
    lines[index + 1] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"  # a wrong path hash
    first.write_text("".join(lines))
    log = run(unzipped, blocks(unzipped)[3])
    assert log.returncode != 0
    assert "the leaf is not in the checkpoint" in log.stderr
    assert "已收录于日志 in the log" not in log.stdout  # not even for the items after it


def test_the_commands_work_after_the_tsa_certificate_expired(tmp_path: Path) -> None:
    """-attime: each token is checked at its own time, as RFC 3161 Appendix B asks. The TSA
    certificate here was valid for one day in 2026-11 and has expired since."""
    root = pki.create_root_ca(now=NOW)
    key = ec.generate_private_key(ec.SECP256R1())
    tsa = pki.create_tsa_certificate(root, key.public_key(), now=NOW, validity=dt.timedelta(days=1))
    assert tsa.not_valid_after_utc < dt.datetime.now(dt.UTC)
    sealer = Sealer(PKIFixture(root=root, tsa=pki.IssuedCertificate(key=key, certificate=tsa)))
    package = sealer.build(sealer.items(three_specs()))
    report = verify_package(
        io.BytesIO(package),
        roots=[root.certificate],
        log_key=sealer.key.verifier_key,
        certificate_check=certificate_signature_check,
    )
    assert report.ok, report.failed  # and so does the offline verifier
    target = tmp_path / "package"
    with zipfile.ZipFile(io.BytesIO(package)) as zf:
        zf.extractall(target)
    for script in blocks(target):
        outcome = run(target, script)
        assert outcome.returncode == 0, outcome.stderr
    without = run(target, re.sub(r" -attime \d+", "", blocks(target)[1]))
    assert without.returncode != 0  # today's clock alone refuses the expired certificate
    assert "certificate has expired" in without.stdout + without.stderr


def test_a_proof_from_another_log_fails_the_log_check(
    unzipped: Path, sealed: tuple[Sealer, list[PackageItem], bytes], test_pki: PKIFixture
) -> None:
    sealer, items, _ = sealed
    other = Sealer(test_pki)  # same origin, another key, and the same leaves
    other.leaves = list(sealer.leaves)
    proof = unzipped / log_proof_path(items[0].number)
    index = parse_tlog_proof(items[0].log_proof).leaf_index
    proof.write_bytes(other.proofs([index])[0])
    log = run(unzipped, blocks(unzipped)[3])
    assert log.returncode != 0
    assert "is not signed by certs/log.vkey" in log.stderr


def test_an_edited_manifest_fails_its_token(unzipped: Path) -> None:
    scripts = blocks(unzipped)
    manifest = unzipped / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"title":"photo', b'"title":"Photo'))
    ts = run(unzipped, scripts[1])
    assert ts.returncode != 0
    assert ts.stdout.count("Verification: OK") == 3


def test_claims_edited_and_restamped_pass_the_timestamps_but_fail_the_signature(
    unzipped: Path, sealed: tuple[Sealer, list[PackageItem], bytes]
) -> None:
    """The audit's forgery, checked with OpenSSL alone: a genuine new token over the edited
    manifest satisfies ``openssl ts -verify``; ``openssl cms -verify`` does not."""
    scripts = blocks(unzipped)
    manifest = unzipped / "manifest.json"
    edited = manifest.read_bytes().replace(b'"title":"photo', b'"title":"Photo')
    manifest.write_bytes(edited)
    (unzipped / "proofs" / "manifest.tsr").write_bytes(
        sealed[0].stamp(hashlib.sha256(edited).digest())
    )
    ts = run(unzipped, scripts[1])
    assert ts.returncode == 0 and ts.stdout.count("Verification: OK") == 4, ts.stderr
    signature = run(unzipped, scripts[2])
    assert signature.returncode != 0
    assert "proofs/manifest.p7s: the signature does not verify" in signature.stderr


def test_a_signer_of_the_same_root_for_another_purpose_fails_the_purpose_check(
    unzipped: Path, sealed: tuple[Sealer, list[PackageItem], bytes]
) -> None:
    """``-purpose any`` leaves the signer's purpose to VERIFY.md: the TSA's key (same root,
    timestamping only) makes a signature OpenSSL accepts, and the EKU check refuses."""
    sealer = sealed[0]
    signature = sign_detached(
        (unzipped / "manifest.json").read_bytes(),
        KeySigner(sealer.pki.tsa.key),
        sealer.pki.chain,
        signing_time=GEN_TIME,
        stamp=sealer.stamp,
    )
    (unzipped / "proofs" / "manifest.p7s").write_bytes(signature)
    outcome = run(unzipped, blocks(unzipped)[2])
    assert outcome.returncode != 0
    assert "CMS Verification successful" in outcome.stderr
    assert "the signer is not for signing documents" in outcome.stderr


def test_openssl_cms_verifies_the_manifest_signature_with_the_published_root(
    unzipped: Path, test_pki: PKIFixture
) -> None:
    root = unzipped.parent / "published-root.pem"
    root.write_bytes(test_pki.root.certificate.public_bytes(Encoding.PEM))
    command = [
        "openssl", "cms", "-verify", "-binary", "-inform", "DER",
        "-in", "proofs/manifest.p7s", "-content", "manifest.json",
        "-CAfile", str(root), "-purpose", "any", "-out", os.devnull,
    ]  # fmt: skip
    good = subprocess.run(command, cwd=unzipped, env=_ENV, capture_output=True, text=True)
    assert good.returncode == 0 and "CMS Verification successful" in good.stderr, good.stderr
    other = unzipped.parent / "other-root.pem"
    other.write_bytes(make_pki().root.certificate.public_bytes(Encoding.PEM))
    command[command.index(str(root))] = str(other)
    wrong = subprocess.run(command, cwd=unzipped, env=_ENV, capture_output=True, text=True)
    assert wrong.returncode != 0 and "unable to get local issuer certificate" in wrong.stderr


def test_openssl_verifies_every_token_against_the_published_root(
    unzipped: Path, test_pki: PKIFixture
) -> None:
    root = unzipped.parent / "published-root.pem"
    root.write_bytes(test_pki.root.certificate.public_bytes(Encoding.PEM))
    manifest, _ = parse_manifest((unzipped / "manifest.json").read_bytes())
    digests = {i.token: i.sha256 for i in manifest.items}
    digests["proofs/manifest.tsr"] = hashlib.sha256(
        (unzipped / "manifest.json").read_bytes()
    ).digest()
    for token, digest in digests.items():
        outcome = ts_verify(
            unzipped,
            unzipped / token,
            ca_file=root,
            digest=digest,
            untrusted=unzipped / "certs" / "tsa-chain.pem",
        )
        assert outcome.ok, f"{token}: {outcome.output}"
        wrong = ts_verify(unzipped, unzipped / token, ca_file=root, digest=bytes(32))
        assert not wrong.ok


def test_a_forged_verify_md_does_not_hide_a_changed_item(
    unzipped: Path, sealed: tuple[Sealer, list[PackageItem], bytes]
) -> None:
    """A forger changes an item and fixes its hash in VERIFY.md: the list read from
    manifest.json (which its token protects) still names the item."""
    path = _item_file(unzipped, sealed[1][2].number)
    old = hashlib.sha256(path.read_bytes()).hexdigest()
    path.write_bytes(b"forged")
    new = hashlib.sha256(b"forged").hexdigest()
    verify_md = unzipped / "VERIFY.md"
    verify_md.write_text(verify_md.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    sha = run(unzipped, blocks(unzipped)[0])
    assert sha.returncode != 0
    assert f"{path.relative_to(unzipped)}: FAILED" in sha.stdout
    assert "VERIFY.md: FAILED" in sha.stdout

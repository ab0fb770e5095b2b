"""PKCS#11 signing against a real SoftHSM2 token: signatures, tokens `openssl ts -verify`
accepts, `timeseal tsa use-pkcs11` with a live `timeseal serve`, and the errors an operator
sees. No mocks: every key lives in SoftHSM2 (tests/support/softhsm.py)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pkcs11
import pytest
import typer
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from pkcs11 import Attribute, CertificateType, ObjectClass
from pkcs11.util.ec import decode_ec_private_key
from typer.testing import CliRunner

from tests.support.server import TIMESEAL, live_server
from tests.support.softhsm import SoftHSM, create_softhsm
from timeseal.cli.hsm import CERTIFICATE_FILE, CHAIN_FILE, register
from timeseal.core import pki
from timeseal.core.signers import Signer
from timeseal.core.signers.pkcs11 import Pkcs11Error, Pkcs11Failure, Pkcs11Signer
from timeseal.core.tsp.authority import TimeStampAuthority

pytestmark = pytest.mark.interop

MESSAGES = [b"", b"a", b"\x00" * 1000, "时印 evidence".encode()]
OTHER_TOKEN = "spare"  # logged in to behind Pkcs11Signer's back in one test
TWIN_TOKEN = "twin"  # two tokens share this label


@dataclass(frozen=True)
class Keys:
    hsm: SoftHSM
    rsa: str = "tsa-rsa"
    always_auth: str = "always-auth"
    cert_only: str = "cert-only"

    def open(self, key_label: str | None = None, **kwargs: str) -> Pkcs11Signer:
        args = {
            "module": self.hsm.module,
            "token_label": self.hsm.token_label,
            "key_label": self.hsm.key_label if key_label is None else key_label,
            "pin": self.hsm.pin,
            **kwargs,
        }
        return Pkcs11Signer.open(**args)


def _ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pkcs8(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _spki(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _certificate_object(label: str, value: bytes, subject: bytes) -> dict[Attribute, object]:
    return {
        Attribute.CLASS: ObjectClass.CERTIFICATE,
        Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
        Attribute.TOKEN: True,
        Attribute.LABEL: label,
        Attribute.SUBJECT: subject,
        Attribute.VALUE: value,
    }


def _ed25519_certificate() -> x509.Certificate:
    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Ed25519 TSA")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, None)
    )


#: Key labels open() must refuse, and why.
UNUSABLE = {
    "no-such-key": Pkcs11Failure.KEY,
    "mismatched": Pkcs11Failure.KEY,  # private key of one pair, public key of another
    "k1": Pkcs11Failure.KEY,  # secp256k1: not a curve we issue with
    "ed25519": Pkcs11Failure.KEY,  # CKK_EC_EDWARDS
    "ed25519-certificate": Pkcs11Failure.KEY,  # public half only in an Ed25519 certificate
    "garbled-certificate": Pkcs11Failure.KEY,  # public half only in a certificate, not DER
    "two-public": Pkcs11Failure.KEY,  # two key pairs, one label
    "two-private": Pkcs11Failure.KEY,  # one public key, two private keys
    "public-only": Pkcs11Failure.KEY,
    "no-sign": Pkcs11Failure.KEY,  # CKA_SIGN false
    "wrong-type": Pkcs11Failure.DEVICE,  # EC private key under an RSA public key
}


def _make_unusable_keys(hsm: SoftHSM, token: str) -> None:
    a, b = _ec_key(), _ec_key()
    hsm.write_object(token, _pkcs8(a), "privkey", "mismatched", hsm.next_id())
    hsm.write_object(token, _spki(b), "pubkey", "mismatched", hsm.next_id())
    hsm.generate_key(token, "k1", "EC:secp256k1")
    hsm.generate_key(token, "ed25519", "EC:edwards25519")
    ed = _ed25519_certificate()
    ed_der, ed_subject = ed.public_bytes(serialization.Encoding.DER), ed.subject.public_bytes()
    hsm.create_object(token, _certificate_object("ed25519-certificate", ed_der, ed_subject))
    hsm.create_object(token, _certificate_object("garbled-certificate", b"not DER", ed_subject))
    hsm.generate_key(token, "two-public")
    hsm.generate_key(token, "two-public")
    id_ = hsm.next_id()
    hsm.write_object(token, _pkcs8(a), "privkey", "two-private", id_)
    hsm.write_object(token, _pkcs8(b), "privkey", "two-private", hsm.next_id())
    hsm.write_object(token, _spki(a), "pubkey", "two-private", id_)
    hsm.write_object(token, _spki(a), "pubkey", "public-only", hsm.next_id())
    c = _ec_key()
    sec1 = c.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    id_ = hsm.next_id()
    hsm.create_object(
        token,
        {
            **decode_ec_private_key(sec1),
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.LABEL: "no-sign",
            Attribute.ID: bytes.fromhex(id_),
            Attribute.SIGN: False,
        },
    )
    hsm.write_object(token, _spki(c), "pubkey", "no-sign", id_)
    id_ = hsm.next_id()
    hsm.write_object(token, _pkcs8(c), "privkey", "wrong-type", id_)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    hsm.write_object(token, _spki(rsa_key), "pubkey", "wrong-type", id_)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keys]:
    """One SoftHSM2 for this module: every token and key is made before the module loads."""
    hsm = create_softhsm(tmp_path_factory.mktemp("softhsm"))
    k = Keys(hsm)
    token = hsm.token_label
    hsm.generate_key(token, k.rsa, "rsa:2048")
    hsm.generate_key(token, k.always_auth, "EC:prime256v1", "--always-auth")
    # A private key whose public half is only in a certificate object.
    lone = _ec_key()
    ca = pki.create_root_ca(now=dt.datetime.now(dt.UTC))
    cert = pki.create_tsa_certificate(ca, lone.public_key(), now=dt.datetime.now(dt.UTC))
    id_ = hsm.next_id()
    hsm.write_object(token, _pkcs8(lone), "privkey", k.cert_only, id_)
    hsm.write_object(token, cert.public_bytes(serialization.Encoding.DER), "cert", k.cert_only, id_)
    _make_unusable_keys(hsm, token)
    hsm.init_token(OTHER_TOKEN)
    hsm.generate_key(OTHER_TOKEN, "spare-ec")
    hsm.init_token(TWIN_TOKEN)
    hsm.init_token(TWIN_TOKEN)
    with pytest.MonkeyPatch.context() as mp:
        hsm.activate(mp)
        yield k


def _verify(signer: Signer, message: bytes, signature: bytes) -> None:
    public = signer.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    else:
        public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())


# (a) signatures ------------------------------------------------------------------------------


def test_ec_p256_signatures_are_der_and_verify(keys: Keys) -> None:
    with keys.open() as signer:
        public = signer.public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        assert isinstance(public.curve, ec.SECP256R1)
        for message in MESSAGES:
            signature = signer.sign(message)
            r, s = decode_dss_signature(signature)  # DER Ecdsa-Sig-Value, not raw r||s
            assert r > 0
            assert s > 0
            _verify(signer, message, signature)


def test_rsa_signatures_verify(keys: Keys) -> None:
    with keys.open(keys.rsa) as signer:
        public = signer.public_key()
        assert isinstance(public, rsa.RSAPublicKey)
        assert public.key_size == 2048
        for message in MESSAGES:
            _verify(signer, message, signer.sign(message))


def test_signs_from_many_threads(keys: Keys) -> None:
    failures: list[BaseException] = []
    with keys.open() as signer:

        def work(n: int) -> None:
            try:
                for i in range(10):
                    message = f"{n}/{i}".encode()
                    _verify(signer, message, signer.sign(message))
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert failures == []


def test_key_that_always_authenticates(keys: Keys) -> None:
    with keys.open(keys.always_auth) as signer:
        _verify(signer, b"x", signer.sign(b"x"))


def test_public_key_from_certificate_object(keys: Keys) -> None:
    with keys.open(keys.cert_only) as signer:
        _verify(signer, b"x", signer.sign(b"x"))


def test_signers_on_one_token_share_the_login(keys: Keys) -> None:
    # PKCS#11 logs in per application: the second signer must not log in again, and closing
    # the first must not log the second out.
    first = keys.open()
    with keys.open(keys.rsa) as second:
        with pytest.raises(Pkcs11Error) as wrong:
            keys.open(pin="not-the-pin")
        assert wrong.value.reason is Pkcs11Failure.PIN
        first.close()
        first.close()  # idempotent
        _verify(second, b"after", second.sign(b"after"))
    with pytest.raises(ValueError, match="closed"):
        first.sign(b"x")


def test_recovers_when_the_module_is_reset(keys: Keys) -> None:
    with keys.open() as signer:
        # C_Finalize + C_Initialize invalidate every session and handle, as an HSM restart does.
        pkcs11.lib(os.path.realpath(keys.hsm.module)).reinitialize()
        _verify(signer, b"again", signer.sign(b"again"))


def test_recovers_when_the_token_comes_back(
    keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = pkcs11.lib(os.path.realpath(keys.hsm.module))
    nowhere = tmp_path / "no-tokens"
    nowhere.mkdir()
    empty_conf = tmp_path / "softhsm2.conf"
    empty_conf.write_text(f"directories.tokendir = {nowhere}\n")
    with keys.open() as signer:
        monkeypatch.setenv("SOFTHSM2_CONF", str(empty_conf))
        lib.reinitialize()  # the token is gone
        with pytest.raises(Pkcs11Error) as gone:
            signer.sign(b"x")
        assert gone.value.reason is Pkcs11Failure.TOKEN
        monkeypatch.setenv("SOFTHSM2_CONF", str(keys.hsm.conf))
        lib.reinitialize()  # and back
        _verify(signer, b"back", signer.sign(b"back"))


def test_login_made_elsewhere_in_the_process(keys: Keys) -> None:
    lib = pkcs11.lib(os.path.realpath(keys.hsm.module))
    other = lib.get_token(token_label=OTHER_TOKEN).open(user_pin=keys.hsm.pin)
    try:
        signer = keys.open("spare-ec", token_label=OTHER_TOKEN)
    finally:
        other.close()  # C_Logout: logs the signer's session out too
    with signer:
        _verify(signer, b"relogin", signer.sign(b"relogin"))


# (b) tokens from a TimeStampAuthority with the HSM key pass `openssl ts -verify` -------------


def _openssl(*args: str | Path) -> str:
    done = subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"openssl {' '.join(map(str, args))}:\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def _openssl_verifies(data: Path, query: Path, reply: Path, root: Path) -> None:
    out = _openssl("ts", "-verify", "-data", data, "-in", reply, "-CAfile", root)
    assert "Verification: OK" in out
    out = _openssl("ts", "-verify", "-queryfile", query, "-in", reply, "-CAfile", root)
    assert "Verification: OK" in out


@pytest.mark.parametrize("key", ["ec", "rsa"])
def test_openssl_verifies_tokens_signed_in_the_hsm(keys: Keys, tmp_path: Path, key: str) -> None:
    now = dt.datetime.now(dt.UTC)
    root = pki.create_root_ca(now=now)
    root_pem = tmp_path / "root.pem"
    root_pem.write_bytes(root.certificate_pem())
    data = tmp_path / "evidence.txt"
    data.write_bytes("聊天记录 chat log\n".encode())
    query = tmp_path / "request.tsq"
    _openssl("ts", "-query", "-data", data, "-sha256", "-cert", "-out", query)

    with keys.open(keys.rsa if key == "rsa" else None) as signer:
        certificate = pki.create_tsa_certificate(root, signer.public_key(), now=now)
        authority = TimeStampAuthority(
            signer, [certificate, root.certificate], policy="2.25.31613161"
        )
        issued = authority.issue(
            authority.check(query.read_bytes()), gen_time=now, serial_number=0x5EA1
        )
    reply = tmp_path / "reply.tsr"
    reply.write_bytes(issued.response_der)
    _openssl_verifies(data, query, reply, root_pem)


# (c) end to end: timeseal init, tsa use-pkcs11, serve, stamp ---------------------------------


def _timeseal(*args: str | Path, env: dict[str, str] | None = None, cwd: Path) -> str:
    done = subprocess.run(
        [*TIMESEAL, *map(str, args)],
        env={**os.environ, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"timeseal {' '.join(map(str, args))}:\n{done.stderr}"
    return done.stdout


def _signer_serial(reply: bytes) -> int:
    signed_data = tsp.TimeStampResp.load(reply)["time_stamp_token"]["content"]
    (signer_info,) = signed_data["signer_infos"]
    serial: int = signer_info["sid"].chosen["serial_number"].native
    return serial


def test_server_signs_with_the_hsm_after_use_pkcs11(keys: Keys, tmp_path: Path) -> None:
    hsm = keys.hsm
    data_dir = tmp_path / "data"
    _timeseal("init", "--data-dir", data_dir, cwd=tmp_path)
    file_key_cert = x509.load_pem_x509_certificate((data_dir / "pki/tsa.pem").read_bytes())
    _timeseal(
        "tsa",
        "use-pkcs11",
        "--module",
        hsm.module,
        "--token-label",
        hsm.token_label,
        "--key-label",
        hsm.key_label,
        "--data-dir",
        data_dir,
        env=hsm.env,
        cwd=tmp_path,
    )
    signer_config = json.loads((data_dir / "config.json").read_text())["tsa"]["signer"]
    assert signer_config["kind"] == "pkcs11"
    assert signer_config["pkcs11_token_label"] == hsm.token_label
    assert signer_config["pkcs11_key_label"] == hsm.key_label
    hsm_cert = x509.load_pem_x509_certificate((data_dir / CERTIFICATE_FILE).read_bytes())
    with keys.open() as signer:
        assert hsm_cert.public_key() == signer.public_key()

    evidence = tmp_path / "parcel-label.png"
    evidence.write_bytes(b"\x89PNG\r\n\x1a\n pretend image")
    root_pem = data_dir / "pki" / "root.pem"
    with live_server(data_dir, env=hsm.env) as server:
        _timeseal("stamp", evidence, "--server", server.url, "--ca", root_pem, cwd=tmp_path)
    reply = evidence.with_name(evidence.name + ".tsr")

    out = _openssl("ts", "-verify", "-data", evidence, "-in", reply, "-CAfile", root_pem)
    assert "Verification: OK" in out
    assert _signer_serial(reply.read_bytes()) == hsm_cert.serial_number
    assert hsm_cert.serial_number != file_key_cert.serial_number
    _timeseal("verify", evidence, "--ca", root_pem, cwd=tmp_path)


def _cli() -> typer.Typer:
    app = typer.Typer()
    tsa_app = typer.Typer()
    app.add_typer(tsa_app, name="tsa")

    register(tsa_app)
    return app


def test_use_pkcs11_asks_for_the_pin(
    keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from timeseal.server.runtime import datadir, platform_keys

    hsm = keys.hsm
    datadir.initialise(tmp_path, now=dt.datetime.now(dt.UTC))
    before = (tmp_path / "config.json").read_text()
    monkeypatch.delenv("TIMESEAL_PKCS11_PIN", raising=False)
    args = [
        "tsa",
        "use-pkcs11",
        "--module",
        hsm.module,
        "--token-label",
        hsm.token_label,
        "--key-label",
        keys.rsa,
        "--data-dir",
        str(tmp_path),
    ]
    runner = CliRunner()

    wrong = runner.invoke(_cli(), args, input="0000\n")
    assert wrong.exit_code == 2, wrong.output
    assert "wrong PIN" in wrong.output
    assert (tmp_path / "config.json").read_text() == before
    assert not (tmp_path / CHAIN_FILE).exists()

    done = runner.invoke(_cli(), args, input=f"{hsm.pin}\n")
    assert done.exit_code == 0, done.output
    assert hsm.pin not in done.output
    config = datadir.load_config(tmp_path)
    assert config.tsa.signer.kind == "pkcs11"
    assert config.tsa.signer.pkcs11_key_label == keys.rsa
    chain = platform_keys.load_chain(tmp_path, config.tsa.signer)
    assert chain[1] == x509.load_pem_x509_certificate((tmp_path / "pki/root.pem").read_bytes())
    secret_values = {config.tsa.signer.pkcs11_pin_env: hsm.pin}
    signer = platform_keys.load_signer(tmp_path, config.tsa.signer, secret_values)
    assert isinstance(signer, Pkcs11Signer)
    try:
        assert signer.public_key() == chain[0].public_key()
    finally:
        signer.close()


# (d) errors an operator can act on -----------------------------------------------------------


def test_wrong_pin(keys: Keys) -> None:
    with pytest.raises(Pkcs11Error, match="wrong PIN") as caught:
        keys.open(pin="11112222")
    assert caught.value.reason is Pkcs11Failure.PIN
    assert keys.hsm.token_label in str(caught.value)


def test_wrong_token_label_lists_the_tokens(keys: Keys) -> None:
    with pytest.raises(Pkcs11Error) as caught:
        keys.open(token_label="no-such-token")
    assert caught.value.reason is Pkcs11Failure.TOKEN
    assert "no-such-token" in str(caught.value)
    assert keys.hsm.token_label in str(caught.value)  # what is there instead


@pytest.mark.parametrize(("key_label", "reason"), sorted(UNUSABLE.items()))
def test_unusable_key(keys: Keys, key_label: str, reason: Pkcs11Failure) -> None:
    with pytest.raises(Pkcs11Error) as caught:
        keys.open(key_label)
    assert caught.value.reason is reason
    assert repr(key_label) in str(caught.value)


def test_wrong_module_path(keys: Keys, tmp_path: Path) -> None:
    with pytest.raises(Pkcs11Error) as missing:
        keys.open(module=str(tmp_path / "libnothing.so"))
    assert missing.value.reason is Pkcs11Failure.MODULE
    assert "libnothing.so" in str(missing.value)
    not_a_library = tmp_path / "libfake.so"
    not_a_library.write_text("not ELF")
    with pytest.raises(Pkcs11Error) as bad:
        keys.open(module=str(not_a_library))
    assert bad.value.reason is Pkcs11Failure.MODULE


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        ("module", Pkcs11Failure.MODULE),
        ("token_label", Pkcs11Failure.TOKEN),
        ("key_label", Pkcs11Failure.KEY),
    ],
)
def test_empty_setting(keys: Keys, field: str, reason: Pkcs11Failure) -> None:
    with pytest.raises(Pkcs11Error) as caught:
        keys.open(**{field: ""})
    assert caught.value.reason is reason


def test_two_tokens_with_one_label(keys: Keys) -> None:
    with pytest.raises(Pkcs11Error) as caught:
        keys.open(token_label=TWIN_TOKEN)
    assert caught.value.reason is Pkcs11Failure.TOKEN


def test_failed_open_leaves_no_login_behind(keys: Keys) -> None:
    # A failed open must not keep the token logged in: a later wrong PIN is still refused.
    with pytest.raises(Pkcs11Error):
        keys.open("no-such-key")
    with pytest.raises(Pkcs11Error) as caught:
        keys.open(pin="99998888")
    assert caught.value.reason is Pkcs11Failure.PIN


def test_signer_is_made_by_open_only(keys: Keys) -> None:
    with keys.open() as signer:
        assert repr(keys.hsm.key_label) in repr(signer)
        assert keys.hsm.pin not in repr(signer)
        assert (signer.token_label, signer.key_label) == (keys.hsm.token_label, keys.hsm.key_label)
        with pytest.raises(TypeError):
            Pkcs11Signer(object(), "tsa-ec", signer.public_key())  # type: ignore[arg-type]


def test_use_pkcs11_needs_an_initialised_data_dir(keys: Keys, tmp_path: Path) -> None:
    hsm = keys.hsm
    args = ["tsa", "use-pkcs11", "--module", hsm.module, "--token-label", hsm.token_label]
    args += ["--key-label", hsm.key_label, "--data-dir", str(tmp_path)]
    runner = CliRunner()
    result = runner.invoke(_cli(), args, env={"TIMESEAL_PKCS11_PIN": hsm.pin})
    assert result.exit_code == 2
    assert "timeseal init" in result.output

    from timeseal.server.runtime import datadir

    datadir.initialise(tmp_path, now=dt.datetime.now(dt.UTC))
    (tmp_path / "pki" / "root.key").unlink()  # an offline root: nothing to certify with
    result = runner.invoke(_cli(), args, env={"TIMESEAL_PKCS11_PIN": hsm.pin})
    assert result.exit_code == 2
    assert "root.key" in result.output
    assert datadir.load_config(tmp_path).tsa.signer.kind == "file"

"""Test PKI: a root CA and TSA certificate made with the project's own core.pki."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from timeseal.core import pki
from timeseal.core.signers import KeySigner
from timeseal.core.tsp.authority import TimeStampAuthority
from timeseal.core.tsp.response import Accuracy

NOW = dt.datetime(2026, 11, 29, 11, 0, 0, tzinfo=dt.UTC)
POLICY = "2.25.1234567890"
ACCURACY = Accuracy(millis=500)


@dataclass(frozen=True)
class PKIFixture:
    root: pki.IssuedCertificate
    tsa: pki.IssuedCertificate

    @property
    def chain(self) -> list[x509.Certificate]:
        return [self.tsa.certificate, self.root.certificate]

    def authority(self, accuracy: Accuracy | None = ACCURACY) -> TimeStampAuthority:
        return TimeStampAuthority(
            KeySigner(self.tsa.key), self.chain, policy=POLICY, accuracy=accuracy
        )


def make_pki(now: dt.datetime = NOW) -> PKIFixture:
    root = pki.create_root_ca(now=now)
    return PKIFixture(root=root, tsa=pki.create_tsa_key_and_certificate(root, now=now))


class DeterministicSigner:
    """ECDSA with RFC 6979 nonces, so two encoders can be compared byte for byte."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._key = key

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._key.public_key()

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))

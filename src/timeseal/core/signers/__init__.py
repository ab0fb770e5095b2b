"""Signer backends: something that holds a private key and signs SHA-256 digests.

Two backends exist: :class:`KeySigner` (a private key in memory, loaded from a file) and
``timeseal.core.signers.pkcs11.Pkcs11Signer`` (a key that never leaves an HSM). Both produce
the signature value CMS expects for the key type: a DER ``Ecdsa-Sig-Value`` for EC keys
(ecdsa-with-SHA256, RFC 5758 §3.2) or a PKCS#1 v1.5 signature for RSA keys
(sha256WithRSAEncryption, RFC 4055 §5).
"""

from __future__ import annotations

import enum
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from timeseal.core.errors import UnsupportedAlgorithm


class SignatureAlgorithm(enum.Enum):
    """CMS signature algorithms we issue with, by OID. All sign a SHA-256 digest."""

    ECDSA_SHA256 = "1.2.840.10045.4.3.2"
    RSA_PKCS1_SHA256 = "1.2.840.113549.1.1.11"

    def identifier(self) -> dict[str, object]:
        """The AlgorithmIdentifier as asn1crypto takes it. RFC 5758 §3.2: ECDSA identifiers
        have absent parameters; RFC 4055 §5: RSA ones have NULL."""
        if self is SignatureAlgorithm.RSA_PKCS1_SHA256:
            return {"algorithm": self.value, "parameters": None}
        return {"algorithm": self.value}


PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def signature_algorithm_for(public_key: object) -> SignatureAlgorithm:
    """The algorithm a key of this type signs with; ``UnsupportedAlgorithm`` for other keys."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if not isinstance(public_key.curve, ec.SECP256R1 | ec.SECP384R1 | ec.SECP521R1):
            raise UnsupportedAlgorithm(f"EC curve {public_key.curve.name} is not supported")
        return SignatureAlgorithm.ECDSA_SHA256
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < 2048:
            raise UnsupportedAlgorithm(f"RSA-{public_key.key_size} is too small")
        return SignatureAlgorithm.RSA_PKCS1_SHA256
    raise UnsupportedAlgorithm(f"{type(public_key).__name__} keys cannot sign timestamps")


@runtime_checkable
class Signer(Protocol):
    """A private key that signs; the key itself may live elsewhere (an HSM)."""

    def public_key(self) -> PublicKey:
        """The public half, to match against the signing certificate."""
        ...

    def sign(self, data: bytes) -> bytes:
        """Sign SHA-256(``data``) with :func:`signature_algorithm_for` this key."""
        ...


class KeySigner:
    """A signer over a private key held in this process (loaded from a PEM file)."""

    __slots__ = ("_key",)

    def __init__(self, private_key: PrivateKey) -> None:
        if not isinstance(private_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise TypeError(f"unsupported private key type {type(private_key).__name__}")
        signature_algorithm_for(private_key.public_key())
        self._key = private_key

    def public_key(self) -> PublicKey:
        return self._key.public_key()

    def sign(self, data: bytes) -> bytes:
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, _ECDSA_SHA256)
        return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())


_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())

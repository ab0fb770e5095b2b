"""A signer whose private key stays inside an HSM, reached through PKCS#11 (python-pkcs11).

The key is found by token label and key label (CKA_LABEL). EC keys sign with CKM_ECDSA over a
SHA-256 digest computed here (the HSM returns raw r||s, which we DER-encode as CMS expects);
RSA keys sign with CKM_SHA256_RSA_PKCS.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import pkcs11
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key
from pkcs11 import KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_ec_public_key
from pkcs11.util.rsa import encode_rsa_public_key

from timeseal.core.errors import TimeSealError
from timeseal.core.signers import PublicKey, signature_algorithm_for


class Pkcs11Error(TimeSealError):
    """The module, token or key could not be opened or used."""


class Pkcs11Signer:
    """Signs with a key inside a PKCS#11 token. Make one with :meth:`open`."""

    def __init__(self, session: Any, private_key: Any, public_key: PublicKey) -> None:
        self._session = session
        self._private = private_key
        self._public = public_key
        self._is_ec = isinstance(public_key, ec.EllipticCurvePublicKey)
        self._lock = threading.Lock()  # one PKCS#11 session is not safe across threads
        signature_algorithm_for(public_key)

    @classmethod
    def open(cls, *, module: str, token_label: str, key_label: str, pin: str) -> Pkcs11Signer:
        try:
            lib = pkcs11.lib(module)
            token = lib.get_token(token_label=token_label)
            session = token.open(user_pin=pin)
            private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=key_label)
            public_obj: Any = session.get_key(object_class=ObjectClass.PUBLIC_KEY, label=key_label)
        except (pkcs11.PKCS11Error, RuntimeError, OSError) as exc:
            raise Pkcs11Error(
                f"PKCS#11: cannot open key {key_label!r} on token {token_label!r} "
                f"with {module}: {exc!r}"
            ) from exc
        if public_obj.key_type == KeyType.EC:
            der = encode_ec_public_key(public_obj)
        elif public_obj.key_type == KeyType.RSA:
            der = encode_rsa_public_key(public_obj)
        else:
            raise Pkcs11Error(f"PKCS#11: key type {public_obj.key_type} cannot sign timestamps")
        public = load_der_public_key(der)
        if not isinstance(public, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise Pkcs11Error("PKCS#11: unsupported public key")
        return cls(session, private, public)

    def public_key(self) -> PublicKey:
        return self._public

    def sign(self, data: bytes) -> bytes:
        with self._lock:
            if self._is_ec:
                raw = self._private.sign(hashlib.sha256(data).digest(), mechanism=Mechanism.ECDSA)
                half = len(raw) // 2
                return encode_dss_signature(
                    int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
                )
            signature: bytes = self._private.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS)
            return signature

    def close(self) -> None:
        self._session.close()

"""A signer whose private key stays inside an HSM, reached through PKCS#11 (python-pkcs11).

The key is found by token label (CK_TOKEN_INFO ``label``) and key label (``CKA_LABEL``). EC keys
sign with ``CKM_ECDSA`` over a SHA-256 digest computed here: the token returns the raw
``r || s`` of PKCS#11 v2.40 §2.3.1, which we DER-encode as the ``Ecdsa-Sig-Value`` CMS expects
(RFC 5758 §3.2). RSA keys sign with ``CKM_SHA256_RSA_PKCS`` (PKCS#1 v1.5, RFC 4055 §5).

The public half comes from the public-key object with the same label or, failing that, from a
certificate object with that label. Every signature is checked with that public key before it
is returned, and :meth:`Pkcs11Signer.open` signs one test message, so a private key paired
with the wrong public key or certificate is refused at start-up, and a faulty token never
produces a token nobody can verify.

Login is shared. PKCS#11 keeps the login state per application, not per session (v2.40 §5.6,
``C_Login``/``C_Logout``): a second ``C_Login`` fails with ``CKR_USER_ALREADY_LOGGED_IN``
whatever PIN it carries, and ``C_Logout`` on any session logs every session out. So every
signer on one token in this process shares one logged-in session (see ``_pkcs11_login``); a
second :meth:`~Pkcs11Signer.open` must present the same PIN, and only the last
:meth:`~Pkcs11Signer.close` logs out.

Robustness: a failed operation can leave a session unusable (python-pkcs11 keeps the operation
marked active; an HSM restart invalidates every handle), so when signing fails the session is
reopened, logged in again, the key looked up again and the signature retried once.

Keys marked ``CKA_ALWAYS_AUTHENTICATE`` get the user PIN again (``CKU_CONTEXT_SPECIFIC``) for
every signature. Not handled: use after ``fork()`` (a forked child must ``C_Initialize`` the
module itself); open the signer in the process that signs.
"""

from __future__ import annotations

import hashlib
import os

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.exceptions import UnsupportedAlgorithm as CryptographyUnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.types import Object, Session, SignMixin
from pkcs11.types import PublicKey as Pkcs11PublicKey
from pkcs11.util.ec import encode_ec_public_key
from pkcs11.util.rsa import encode_rsa_public_key

from timeseal.core.errors import UnsupportedAlgorithm
from timeseal.core.signers import PublicKey, signature_algorithm_for
from timeseal.core.signers._pkcs11_login import (
    Login,
    Pkcs11Error,
    Pkcs11Failure,
    acquire_login,
    describe,
    release_login,
)

__all__ = ["Pkcs11Error", "Pkcs11Failure", "Pkcs11Signer"]

_SELF_TEST_MESSAGE = b"TimeSeal PKCS#11 self-test"


class Pkcs11Signer:
    """Signs with a key inside a PKCS#11 token. Make one with :meth:`open`; :meth:`close` it.

    Thread-safe: signatures on one token are serialised (a PKCS#11 session runs one operation
    at a time).
    """

    def __init__(self, login: Login, key_label: str, public_key: PublicKey) -> None:
        if not isinstance(login, Login):
            raise TypeError("use Pkcs11Signer.open()")
        self._login = login
        self._key_label = key_label
        self._public = public_key
        self._key: SignMixin | None = None
        self._always_authenticate = False
        self._generation = -1
        self._closed = False

    @classmethod
    def open(cls, *, module: str, token_label: str, key_label: str, pin: str) -> Pkcs11Signer:
        """Load ``module``, log in to the token labelled ``token_label`` with ``pin``, find the
        key pair labelled ``key_label`` and check that it signs. Raises :class:`Pkcs11Error`."""
        for value, reason, what in (
            (module, Pkcs11Failure.MODULE, "PKCS#11 module path"),
            (token_label, Pkcs11Failure.TOKEN, "token label"),
            (key_label, Pkcs11Failure.KEY, "key label"),
        ):
            if not value:
                raise Pkcs11Error(reason, f"no {what} given")
        if not os.path.isfile(module):
            raise Pkcs11Error(Pkcs11Failure.MODULE, f"PKCS#11 module {module} does not exist")
        # One path per library: a module loaded under two names is initialised twice, which
        # PKCS#11 forbids (CKR_CRYPTOKI_ALREADY_INITIALIZED), e.g. via Debian's symlinks.
        module = os.path.realpath(module)
        login = acquire_login(module, token_label, pin)
        try:
            with login.lock:
                public = _public_key(login.current(), token_label, key_label)
            signer = cls(login, key_label, public)
            signer.sign(_SELF_TEST_MESSAGE)  # checks the PIN, the key pair and the mechanism
        except BaseException:
            release_login(login)
            raise
        return signer

    @property
    def token_label(self) -> str:
        return self._login.token_label

    @property
    def key_label(self) -> str:
        return self._key_label

    def __repr__(self) -> str:
        return (
            f"<Pkcs11Signer key={self._key_label!r} token={self._login.token_label!r} "
            f"module={self._login.module!r}>"
        )

    def public_key(self) -> PublicKey:
        return self._public

    def sign(self, data: bytes) -> bytes:
        """Sign SHA-256(``data``): DER Ecdsa-Sig-Value (EC) or PKCS#1 v1.5 (RSA).

        Every signature is verified with the public key before it is returned, so a faulty
        token, a stale handle or a mismatched key pair can never yield a token that does not
        verify (and a faulty RSA-CRT signature never leaves the process).
        """
        login = self._login
        with login.lock:
            if self._closed:
                raise ValueError("this Pkcs11Signer is closed")
            try:
                return self._sign_checked(data)
            except (p11.PKCS11Error, InvalidSignature) as first:
                try:
                    login.reconnect()
                    return self._sign_checked(data)
                except p11.PKCS11Error as exc:
                    raise Pkcs11Error(
                        Pkcs11Failure.DEVICE,
                        f"token {login.token_label!r} cannot sign with key "
                        f"{self._key_label!r}: {describe(exc)} "
                        f"(first attempt: {describe(first)})",
                    ) from exc
                except InvalidSignature as exc:
                    raise Pkcs11Error(
                        Pkcs11Failure.KEY,
                        f"signatures of the private key labelled {self._key_label!r} on "
                        f"{login.token_label!r} do not verify with the public key or "
                        "certificate of that label: they are not one key pair",
                    ) from exc

    def _sign_checked(self, data: bytes) -> bytes:
        signature = self._sign_once(data)
        if isinstance(self._public, ec.EllipticCurvePublicKey):
            self._public.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            self._public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        return signature

    def _sign_once(self, data: bytes) -> bytes:
        if self._generation != self._login.generation or self._key is None:
            self._find_private_key()
        key = self._key
        if key is None:  # pragma: no cover - an invariant
            raise AssertionError("_find_private_key left no key")
        pin = self._login.pin if self._always_authenticate else None
        if isinstance(self._public, ec.EllipticCurvePublicKey):
            digest = hashlib.sha256(data).digest()
            raw = key.sign(digest, mechanism=Mechanism.ECDSA, pin=pin)
            # r || s, two big-endian halves of equal length, at most nLen octets each.
            n_len = (self._public.curve.key_size + 7) // 8
            half = len(raw) // 2
            if not raw or len(raw) % 2 or half > n_len:  # pragma: no cover - broken token
                raise Pkcs11Error(
                    Pkcs11Failure.DEVICE,
                    f"token returned a {len(raw)}-byte ECDSA signature; "
                    f"expected two halves of at most {n_len} bytes",
                )
            r = int.from_bytes(raw[:half], "big")
            s = int.from_bytes(raw[half:], "big")
            return encode_dss_signature(r, s)
        return key.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS, pin=pin)

    def _find_private_key(self) -> None:
        session = self._login.current()
        label, token = self._key_label, self._login.token_label
        found = _find_objects(session, ObjectClass.PRIVATE_KEY, label)
        if len(found) != 1:
            raise Pkcs11Error(
                Pkcs11Failure.KEY,
                f"several private keys are labelled {label!r} on {token!r}"
                if found
                else f"no private key labelled {label!r} on token {token!r}",
            )
        (key,) = found
        if not isinstance(key, SignMixin):
            raise Pkcs11Error(
                Pkcs11Failure.KEY, f"private key {label!r} on {token!r} may not sign (CKA_SIGN)"
            )
        self._always_authenticate = _always_authenticate(key)
        self._key = key
        self._generation = self._login.generation

    def close(self) -> None:
        """Release the login; the last signer on a token logs out. Idempotent."""
        with self._login.lock:
            if self._closed:
                return
            self._closed = True
            self._key = None
        release_login(self._login)

    def __enter__(self) -> Pkcs11Signer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _find_objects(session: Session, object_class: ObjectClass, label: str) -> list[Object]:
    """Every object of ``object_class`` labelled ``label``.

    Not ``Session.get_key``: when it finds two objects it raises with its search still open,
    holding the session's operation lock and ``C_FindObjects`` state until the garbage collector
    finalises it, perhaps after the session has gone (python-pkcs11 0.10).
    """
    return list(session.get_objects({Attribute.CLASS: object_class, Attribute.LABEL: label}))


def _always_authenticate(key: SignMixin) -> bool:
    """CKA_ALWAYS_AUTHENTICATE: the key wants the PIN again for every signature (v2.40 §4.9)."""
    try:
        return bool(key[Attribute.ALWAYS_AUTHENTICATE])
    except (p11.AttributeTypeInvalid, p11.AttributeSensitive):  # pragma: no cover - not SoftHSM
        return False  # a token that predates the attribute never asks for it


def _public_key(session: Session, token_label: str, key_label: str) -> PublicKey:
    """The public half: the public-key object labelled ``key_label``, else its certificate."""
    where = f"{key_label!r} on token {token_label!r}"
    try:
        public: object
        keys = _find_objects(session, ObjectClass.PUBLIC_KEY, key_label)
        certificates = [] if keys else _find_objects(session, ObjectClass.CERTIFICATE, key_label)
        if len(keys) > 1:
            raise Pkcs11Error(Pkcs11Failure.KEY, f"several public keys labelled {where}")
        if keys:
            (obj,) = keys
            if not isinstance(obj, Pkcs11PublicKey):  # pragma: no cover - an invariant
                raise AssertionError("a CKO_PUBLIC_KEY search returned another object class")
            if obj.key_type == KeyType.EC:
                public = load_der_public_key(encode_ec_public_key(obj))
            elif obj.key_type == KeyType.RSA:
                public = load_der_public_key(encode_rsa_public_key(obj))
            else:
                raise Pkcs11Error(
                    Pkcs11Failure.KEY,
                    f"key {where} is {obj.key_type.name}; only EC and RSA keys sign timestamps",
                )
        elif len(certificates) == 1:
            der = certificates[0][Attribute.VALUE]
            public = x509.load_der_x509_certificate(der).public_key()
        else:
            raise Pkcs11Error(
                Pkcs11Failure.KEY,
                f"several certificates labelled {where}"
                if certificates
                else f"no public key or certificate labelled {where}",
            )
    except (ValueError, CryptographyUnsupportedAlgorithm) as exc:
        raise Pkcs11Error(Pkcs11Failure.KEY, f"cannot read the public key {where}: {exc}") from exc
    except p11.PKCS11Error as exc:  # pragma: no cover - a device failure mid-search
        raise Pkcs11Error(
            Pkcs11Failure.DEVICE, f"cannot read the public key {where}: {describe(exc)}"
        ) from exc
    if not isinstance(public, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise Pkcs11Error(
            Pkcs11Failure.KEY,
            f"key {where} is {type(public).__name__}; only EC and RSA keys sign timestamps",
        )
    try:
        signature_algorithm_for(public)
    except UnsupportedAlgorithm as exc:
        raise Pkcs11Error(Pkcs11Failure.KEY, f"key {where}: {exc}") from exc
    return public

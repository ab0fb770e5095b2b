"""The one logged-in PKCS#11 session per token in this process, shared by every
:class:`~timeseal.core.signers.pkcs11.Pkcs11Signer` on that token, and the errors the signer
raises (exported by :mod:`timeseal.core.signers.pkcs11`).

PKCS#11 keeps the login state per application, not per session (v2.40 §5.6,
``C_Login``/``C_Logout``): a second ``C_Login`` fails with ``CKR_USER_ALREADY_LOGGED_IN``
whatever PIN it carries, and ``C_Logout`` on any session logs every session out. So
:func:`acquire_login` hands out one :class:`Login` per (module, token label), checks that a
second caller presents the same PIN, and only the last :func:`release_login` logs out.
"""

from __future__ import annotations

import contextlib
import enum
import hmac
import threading
from typing import Any

import pkcs11
from pkcs11 import exceptions as p11
from pkcs11.types import Session, Token

from timeseal.core.errors import TimeSealError


class Pkcs11Failure(enum.Enum):
    """What went wrong, so callers and tests need not read the message."""

    MODULE = "module"  # no such file, not a PKCS#11 library, or C_Initialize failed
    TOKEN = "token"  # no token, or several, with that label
    PIN = "pin"  # wrong, locked, expired or uninitialised user PIN
    KEY = "key"  # no usable key pair with that label
    DEVICE = "device"  # the token failed an operation even after reopening the session


class Pkcs11Error(TimeSealError):
    """The module, token or key could not be opened or used; ``reason`` says which."""

    def __init__(self, reason: Pkcs11Failure, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def describe(exc: BaseException) -> str:
    """python-pkcs11 exceptions often have no text: name the CKR_ code's class instead."""
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


class Login:
    """This process's one logged-in session on one token, shared by every signer using it.

    Guarded by ``lock``; ``generation`` changes whenever the session is replaced, which tells
    signers that their object handles are stale.
    """

    def __init__(self, module: str, token_label: str, pin: str) -> None:
        self.module = module
        self.token_label = token_label
        self._pin = pin
        self.lock = threading.RLock()
        self.session: Session | None = None
        self.generation = 0
        self.refs = 0

    def pin_matches(self, pin: str) -> bool:
        return hmac.compare_digest(self._pin.encode(), pin.encode())

    @property
    def pin(self) -> str:
        return self._pin

    def connect(self) -> Session:
        """Open and log in a new session (I/O); raises :class:`Pkcs11Error`."""
        token = _find_token(_load_module(self.module), self.module, self.token_label)
        self.session = _log_in(token, self._pin, self.token_label)
        self.generation += 1
        return self.session

    def current(self) -> Session:
        """The logged-in session, reconnecting if an earlier attempt left none."""
        return self.session or self.connect()

    def reconnect(self) -> Session:
        """A fresh session and login. We never ``C_Finalize`` the module ourselves: that would
        break the sessions other signers hold on other tokens of the same module."""
        self.disconnect()
        return self.connect()

    def disconnect(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            # C_Logout, C_CloseSession; errors mean it went already, with the device or library.
            with contextlib.suppress(p11.PKCS11Error):
                session.close()


_logins: dict[tuple[str, str], Login] = {}
_logins_lock = threading.Lock()


def _load_module(path: str) -> Any:
    try:
        return pkcs11.lib(path)
    except p11.PKCS11Error as exc:
        raise Pkcs11Error(
            Pkcs11Failure.MODULE, f"cannot load PKCS#11 module {path}: {describe(exc)}"
        ) from exc


def _find_token(lib: Any, module: str, label: str) -> Token:
    try:
        token: Token = lib.get_token(token_label=label)
    except p11.NoSuchToken as exc:
        try:
            present = sorted(t.label for t in lib.get_tokens())
        except p11.PKCS11Error:  # pragma: no cover - the list only adorns the message
            present = []
        raise Pkcs11Error(
            Pkcs11Failure.TOKEN,
            f"no token labelled {label!r} in {module} (tokens present: {present or 'none'})",
        ) from exc
    except p11.MultipleTokensReturned as exc:
        raise Pkcs11Error(
            Pkcs11Failure.TOKEN, f"several tokens are labelled {label!r} in {module}"
        ) from exc
    except p11.PKCS11Error as exc:  # pragma: no cover - SoftHSM2 always lists its slots
        raise Pkcs11Error(
            Pkcs11Failure.TOKEN, f"cannot list the tokens of {module}: {describe(exc)}"
        ) from exc
    return token


def _log_in(token: Token, pin: str, label: str) -> Session:
    try:
        return token.open(user_pin=pin)
    except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange) as exc:
        raise Pkcs11Error(Pkcs11Failure.PIN, f"wrong PIN for token {label!r}") from exc
    except p11.PinLocked as exc:  # pragma: no cover - SoftHSM2 never locks a PIN
        raise Pkcs11Error(
            Pkcs11Failure.PIN,
            f"the user PIN of token {label!r} is locked after too many wrong attempts; "
            "the security officer must reset it",
        ) from exc
    except (p11.PinExpired, p11.UserPinNotInitialized) as exc:  # pragma: no cover - idem
        raise Pkcs11Error(
            Pkcs11Failure.PIN, f"the user PIN of token {label!r} must be set: {describe(exc)}"
        ) from exc
    except p11.UserAlreadyLoggedIn:
        # Someone else in this process logged in without us; the login is per application,
        # so a public session sees the private objects too. We cannot check the PIN here, but
        # it would grant nothing this process does not already have.
        try:
            return token.open()
        except p11.PKCS11Error as exc:  # pragma: no cover - it just opened one
            raise Pkcs11Error(
                Pkcs11Failure.DEVICE, f"cannot open a session on {label!r}: {describe(exc)}"
            ) from exc
    except p11.PKCS11Error as exc:  # pragma: no cover - a device failure during C_Login
        raise Pkcs11Error(
            Pkcs11Failure.DEVICE, f"cannot log in to token {label!r}: {describe(exc)}"
        ) from exc


def acquire_login(module: str, token_label: str, pin: str) -> Login:
    with _logins_lock:
        login = _logins.get((module, token_label))
        if login is None:
            login = Login(module, token_label, pin)
            with login.lock:
                login.connect()
            _logins[(module, token_label)] = login
        elif not login.pin_matches(pin):
            raise Pkcs11Error(Pkcs11Failure.PIN, f"wrong PIN for token {token_label!r}")
        login.refs += 1
        return login


def release_login(login: Login) -> None:
    with _logins_lock:
        login.refs -= 1
        if login.refs == 0:
            del _logins[(login.module, login.token_label)]
            with login.lock:
                login.disconnect()

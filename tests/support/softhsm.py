"""Throwaway SoftHSM2 tokens for the PKCS#11 tests: a real HSM implementation, not a mock.

SoftHSM2 reads ``SOFTHSM2_CONF`` (which names its token directory) when the module is
initialised (``C_Initialize``), and a process that has initialised it does not see tokens made
later by another process. So:

- make every token a test session needs first, with :func:`create_softhsm`,
  :meth:`SoftHSM.init_token` and :meth:`SoftHSM.generate_key` (they run ``softhsm2-util`` and
  ``pkcs11-tool`` in subprocesses and leave this process alone);
- then call :meth:`SoftHSM.activate` (sets ``SOFTHSM2_CONF`` here and re-initialises the module
  if this process already loaded it), and pass :attr:`SoftHSM.env` to every subprocess that
  loads the module (``timeseal tsa use-pkcs11``, ``timeseal serve``).

Everything lives under one temporary directory: the configuration, the token files, nothing
else. The debian packages are ``softhsm2`` and ``opensc`` (``pkcs11-tool``).
"""

from __future__ import annotations

import enum
import glob
import itertools
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pkcs11
import pytest
from pkcs11 import Attribute

USER_PIN = "20261129"
SO_PIN = "so-8d1f3b7a"
MODULE_ENV = "SOFTHSM2_MODULE"  # to point the tests at a SoftHSM2 outside the usual places


def find_softhsm_module() -> str:
    """The path of ``libsofthsm2.so``: ``$SOFTHSM2_MODULE``, else where Debian, Ubuntu, Fedora
    or a source build put it, on any architecture."""
    override = os.environ.get(MODULE_ENV)
    if override:
        return override
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    candidates = [
        "/usr/lib/softhsm/libsofthsm2.so",  # Debian/Ubuntu symlink, every architecture
        *([f"/usr/lib/{multiarch}/softhsm/libsofthsm2.so"] if multiarch else []),
        *sorted(glob.glob("/usr/lib/*/softhsm/libsofthsm2.so")),
        "/usr/lib64/pkcs11/libsofthsm2.so",  # Fedora, RHEL
        "/usr/lib64/softhsm/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",  # ./configure && make install
    ]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    raise RuntimeError(
        "libsofthsm2.so not found: install the softhsm2 package (`make test` does) "
        f"or set {MODULE_ENV}"
    )


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        package = "opensc" if name == "pkcs11-tool" else "softhsm2"
        raise RuntimeError(f"{name} not found: install the {package} package (`make test` does)")
    return path


@dataclass
class SoftHSM:
    """A SoftHSM2 installation in ``directory`` with one token holding one EC P-256 key pair."""

    directory: Path
    module: str
    token_label: str
    key_label: str
    pin: str = USER_PIN
    so_pin: str = SO_PIN
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1), repr=False)

    @property
    def conf(self) -> Path:
        return self.directory / "softhsm2.conf"

    @property
    def env(self) -> dict[str, str]:
        """For subprocesses: where the tokens are, and the user PIN as the server reads it."""
        return {"SOFTHSM2_CONF": str(self.conf), "TIMESEAL_PKCS11_PIN": self.pin}

    def run(self, *args: str, input: str | None = None) -> str:
        """Run a command with this installation's ``SOFTHSM2_CONF``; its stdout."""
        done = subprocess.run(
            args,
            env={**os.environ, "SOFTHSM2_CONF": str(self.conf)},
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
        return done.stdout

    def init_token(self, label: str) -> None:
        """Initialise a new token in the next free slot, with :attr:`so_pin` and :attr:`pin`."""
        self.run(
            _tool("softhsm2-util"),
            "--init-token",
            "--free",
            "--label",
            label,
            "--so-pin",
            self.so_pin,
            "--pin",
            self.pin,
        )

    def pkcs11_tool(self, token_label: str, *args: str) -> str:
        """``pkcs11-tool`` logged in to ``token_label``."""
        return self.run(
            _tool("pkcs11-tool"),
            "--module",
            self.module,
            "--token-label",
            token_label,
            "--login",
            "--pin",
            self.pin,
            *args,
        )

    def next_id(self) -> str:
        """A fresh CKA_ID (hex) for a new object pair."""
        return f"{next(self._ids):02x}"

    def generate_key(
        self, token_label: str, key_label: str, key_type: str = "EC:prime256v1", *extra: str
    ) -> None:
        """Generate a key pair on the token: ``key_type`` as pkcs11-tool spells it
        (``EC:prime256v1``, ``rsa:2048``); ``extra`` e.g. ``--always-auth``."""
        self.pkcs11_tool(
            token_label,
            "--keypairgen",
            "--key-type",
            key_type,
            "--label",
            key_label,
            "--id",
            self.next_id(),
            *extra,
        )

    def write_object(self, token_label: str, der: bytes, kind: str, label: str, id_: str) -> None:
        """Import a DER object: ``kind`` is ``privkey`` (PKCS#8), ``pubkey`` (SPKI) or ``cert``."""
        path = self.directory / f"import-{label}-{kind}.der"
        path.write_bytes(der)
        try:
            self.pkcs11_tool(
                token_label,
                "--write-object",
                str(path),
                "--type",
                kind,
                "--label",
                label,
                "--id",
                id_,
            )
        finally:
            path.unlink()

    def create_object(self, token_label: str, attributes: Mapping[Attribute, object]) -> None:
        """Create an object from raw ``CKA_*`` attributes (for odd objects pkcs11-tool will not
        make), with python-pkcs11 in a subprocess so that this process stays uninitialised."""
        plain = {
            int(k): int(v) if isinstance(v, enum.IntEnum) else v for k, v in attributes.items()
        }
        self.run(
            sys.executable,
            "-c",
            _CREATE_OBJECT,
            input=repr((os.path.realpath(self.module), token_label, self.pin, plain)),
        )

    def activate(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point this process at these tokens: set ``SOFTHSM2_CONF`` and re-initialise the
        module if it is already loaded (python-pkcs11 keeps one instance per path)."""
        monkeypatch.setenv("SOFTHSM2_CONF", str(self.conf))
        pkcs11.lib(os.path.realpath(self.module)).reinitialize()


_CREATE_OBJECT = """
import ast, sys
import pkcs11
from pkcs11 import Attribute
module, label, pin, attributes = ast.literal_eval(sys.stdin.read())
token = pkcs11.lib(module).get_token(token_label=label)
with token.open(rw=True, user_pin=pin) as session:
    session.create_object({Attribute(k): v for k, v in attributes.items()})
"""


def create_softhsm(
    directory: Path, *, token_label: str = "timeseal-tsa", key_label: str = "tsa-ec"
) -> SoftHSM:
    """A fresh SoftHSM2 in ``directory``: own configuration and token directory, one token
    ``token_label`` (user PIN :data:`USER_PIN`) with an EC P-256 key pair ``key_label``."""
    tokens = directory / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    hsm = SoftHSM(
        directory=directory,
        module=find_softhsm_module(),
        token_label=token_label,
        key_label=key_label,
    )
    hsm.conf.write_text(
        f"directories.tokendir = {tokens}\n"
        "objectstore.backend = file\n"
        "log.level = ERROR\n"
        "slots.removable = false\n"
    )
    hsm.init_token(token_label)
    hsm.generate_key(token_label, key_label)
    return hsm

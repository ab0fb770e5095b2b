"""Where each file lives inside a package, and which ZIP member names are safe.

Every path is derived from the evidence number (docs/package-format.md, "Paths")::

    items/<id>_<safe name>     the item's bytes      proofs/<id>.tsr   its RFC 3161 token
    log/<id>.proof             its tlog-proof        certificates/<id>.pdf  (case packages)

``<id>`` is the canonical evidence number with the check symbols that are unsafe in file names
(``* ~ $ =``, which only numbers minted before 2026-12 carry) written as ``_`` and their check
value (``_32`` .. ``_35``); ``_`` never appears
in a number, so ids never collide. ``<safe name>`` keeps letters and digits of any script,
``.``, ``-`` and ``_`` from the original name; everything else becomes ``_``. So no path has a
``..`` component, a leading ``/``, a backslash, a space or a shell metacharacter, and VERIFY.md
can print them unquoted.
"""

from __future__ import annotations

import re
import unicodedata

from timeseal.core.evidence.number import parse_evidence_number

MANIFEST = "manifest.json"
MANIFEST_TOKEN = "proofs/manifest.tsr"
MANIFEST_SIGNATURE = "proofs/manifest.p7s"
TSA_CHAIN = "certs/tsa-chain.pem"
LOG_VKEY = "certs/log.vkey"
VERIFY_MD = "VERIFY.md"
ITEM_CERTIFICATE = "certificate.pdf"

MAX_NAME_CHARS = 80
MAX_PATH_BYTES = 400
_UNSAFE_CHECK = {"*": "_32", "~": "_33", "$": "_34", "=": "_35"}
_DOTS = re.compile(r"\.{2,}")
_UNDERSCORES = re.compile(r"_{2,}")


def item_id(number: str) -> str:
    """The file-name form of a canonical evidence number."""
    if parse_evidence_number(number) != number:
        raise ValueError(f"{number!r} is not a canonical evidence number")
    return number[:-1] + _UNSAFE_CHECK.get(number[-1], number[-1])


def safe_name(original: str) -> str:
    """``original`` (a file name from a phone or browser) reduced to safe characters.

    NFC-normalised; any character that is not a letter, a digit, ``.``, ``-`` or ``_`` becomes
    ``_``; runs of dots become one dot, runs of ``_`` one ``_``; leading dots and dashes go; at
    most 80 characters, keeping the extension; ``file`` if nothing is left.
    """
    if not isinstance(original, str):
        raise TypeError("original name must be a str")
    base = unicodedata.normalize("NFC", original).rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    chars = [c if c in ".-_" or unicodedata.category(c)[0] in "LN" else "_" for c in base]
    name = _UNDERSCORES.sub("_", _DOTS.sub(".", "".join(chars))).lstrip(".-")
    if len(name) > MAX_NAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: MAX_NAME_CHARS - len(ext) - 1] + "." + ext
        else:
            name = name[:MAX_NAME_CHARS]
    return name or "file"


def item_path(number: str, original_name: str) -> str:
    return f"items/{item_id(number)}_{safe_name(original_name)}"


def token_path(number: str) -> str:
    return f"proofs/{item_id(number)}.tsr"


def log_proof_path(number: str) -> str:
    return f"log/{item_id(number)}.proof"


def certificate_path(number: str, *, case: bool) -> str:
    """``certificate.pdf`` in an item package; ``certificates/<id>.pdf`` in a case package."""
    return f"certificates/{item_id(number)}.pdf" if case else ITEM_CERTIFICATE


def unsafe_reason(name: str) -> str | None:
    """Why ``name`` may not be a member of a package (``None`` if it may).

    Refused: empty names and components, absolute paths, drive letters, backslashes, ``.`` and
    ``..`` components, control characters, names that are not NFC, and overlong names.
    """
    if not name:
        return "empty name"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        return f"longer than {MAX_PATH_BYTES} bytes"
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return "absolute path"
    if "\\" in name:
        return "backslash in name"
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in name):
        return "control character in name"
    if unicodedata.normalize("NFC", name) != name:
        return "name is not NFC-normalised"
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "empty, '.' or '..' path component"
    return None

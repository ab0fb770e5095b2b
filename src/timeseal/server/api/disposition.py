"""``Content-Disposition`` for every download: one helper, so no answer loses a file's name.

RFC 6266 §4.3: a file name outside ISO-8859-1 (a Chinese one) travels in ``filename*`` with
the RFC 8187 (formerly RFC 5987) encoding, ``UTF-8''`` and percent-encoded bytes; a plain
``filename="…"`` beside it is the fallback for clients that do not know ``filename*``, and
those that do prefer it (RFC 6266 §4.3, appendix D). The fallback keeps the name's ASCII
characters and its extension, replaces everything else (and the quote, the backslash and
control characters, which could end or bend the quoted string) with ``_``.
"""

from __future__ import annotations

import unicodedata
from typing import Literal
from urllib.parse import quote

#: RFC 8187 §3.2.1 ``attr-char`` besides letters and digits: what stays unescaped.
_ATTR_CHAR_PUNCTUATION = "!#$&+-.^_`|~"


def ascii_fallback(filename: str) -> str:
    """``filename`` as printable ASCII, safe inside a quoted-string (RFC 9110 §5.6.4).
    Accented Latin letters lose their accents; anything else becomes ``_``."""
    decomposed = unicodedata.normalize("NFKD", filename)
    out = []
    for char in decomposed:
        if unicodedata.combining(char):
            continue
        printable = " " <= char <= "~" and char not in '"\\'
        out.append(char if printable else "_")
    return "".join(out).strip() or "download"


def content_disposition(
    filename: str, disposition: Literal["attachment", "inline"] = "attachment"
) -> str:
    """The header's value: ``attachment; filename="…"; filename*=UTF-8''…``."""
    encoded = quote(filename, safe=_ATTR_CHAR_PUNCTUATION, encoding="utf-8")
    return f"{disposition}; filename=\"{ascii_fallback(filename)}\"; filename*=UTF-8''{encoded}"

"""Canonical JSON for ``manifest.json``: one byte sequence per value, so a token over the bytes
is a token over the meaning.

The rules (docs/package-format.md, "Canonical JSON"):

1. UTF-8, no byte order mark, no trailing newline.
2. Objects have their keys sorted by Unicode code point; no key appears twice.
3. No insignificant whitespace: ``,`` and ``:`` separate, nothing else.
4. Numbers are integers only, in ``-(2**53 - 1) .. 2**53 - 1``, written in decimal without
   leading zeros, ``+`` or exponent. No fractions, no ``NaN``/``Infinity``.
5. Strings are written raw in UTF-8 except ``"``, ``\\``, and U+0000..U+001F, which are
   escaped as ``\\"``, ``\\\\``, ``\\b \\f \\n \\r \\t`` or ``\\u00xx`` (lowercase hex). No
   lone surrogates. (This is what Python's ``json.dumps(ensure_ascii=False)`` writes.)

Unlike RFC 8785 (JCS) keys sort by code point, not UTF-16 unit; the two differ only for keys
with characters beyond U+FFFF, which the manifest's own keys never have.

Every JSON document the core reads from outside (a package's manifest, a capture's
``capture.json``, a segment chain's lines, upload metadata) goes through
:func:`parse_canonical_json`, which first bounds its shape with :func:`check_json_bounds`:
Python's parser recurses once per nesting level (a 2 KB document nested 1,000 deep raises
``RecursionError``) and builds an object of ~80 bytes per value (4 MiB of ``{},`` became
100 MiB), so both are refused before any parser sees the bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from timeseal.core.errors import MalformedError

#: A JSON value as the manifest allows it (no floats).
JSONValue = None | bool | int | str | Sequence["JSONValue"] | Mapping[str, "JSONValue"]
JSONObject = Mapping[str, JSONValue]

MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 64
#: Most structural tokens (``[ { , :`` outside strings) a parsed document may hold, a bound on
#: the objects a parse builds (~80 bytes each): 262,144 is ~20 MiB. A 4 MiB manifest of real
#: metadata (text, a token per ~25 bytes) holds ~170,000.
MAX_JSON_TOKENS = 1 << 18

_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{},:')
_EMPTY_PAIR = re.compile(rb"\[\]|\{\}")


def format_canonical_json(value: JSONValue) -> bytes:
    """The canonical bytes of ``value``; ``TypeError``/``ValueError`` for what JSON v1 refuses
    (floats, non-string keys, integers beyond 2**53 - 1, lone surrogates)."""
    _check(value, 0)
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.encode("utf-8")


def parse_canonical_json(data: bytes) -> tuple[JSONValue, bool]:
    """Parse JSON strictly and say whether ``data`` is in canonical form.

    ``MalformedError`` if ``data`` is not UTF-8 JSON, repeats a key, or holds a value canonical
    JSON cannot (a float, an integer out of range). A document that parses but is not canonical
    (whitespace, key order, escapes) returns ``(value, False)`` so a verifier can report it by
    name and still look at the rest.
    """
    if not isinstance(data, bytes):
        raise TypeError("data must be bytes")
    check_json_bounds(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedError(f"manifest is not UTF-8: {exc}") from exc
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_float=_no_float,
            parse_constant=_no_float,
        )
    except json.JSONDecodeError as exc:
        raise MalformedError(f"manifest is not JSON: {exc}") from exc
    except ValueError as exc:
        raise MalformedError(f"manifest: {exc}") from exc
    del text  # up to 4 bytes a character: not kept while the canonical form is written
    try:
        canonical = format_canonical_json(value)
    except (TypeError, ValueError) as exc:
        raise MalformedError(f"manifest: {exc}") from exc
    return value, canonical == data


def check_json_bounds(
    data: bytes, *, max_depth: int = MAX_DEPTH + 1, max_tokens: int = MAX_JSON_TOKENS
) -> None:
    """``MalformedError`` unless the JSON text ``data`` nests at most ``max_depth`` arrays and
    objects deep and holds at most ``max_tokens`` structural tokens (``[ { , :`` outside
    strings). Linear in ``len(data)``, all in C (``bytes.replace``/``translate``/``split``
    and one regular expression over the brackets only), and it never recurses. Text that
    is not JSON may pass; the parser then refuses it.

    The default depth is one more than :data:`MAX_DEPTH` because canonical JSON counts the
    outermost value as depth 0. Strings are cut out first (``"[["`` is no nesting); what is
    left of the brackets loses its innermost ``[]``/``{}`` pairs once per level, so the rounds
    taken are the depth, and brackets left over that no round removes are unbalanced. The
    input is ``bytes`` and is never decoded here.
    """
    # After the escaped backslashes and then the escaped quotes are gone, every quote left
    # opens or closes a string; what lies between the 2nd and 3rd, 4th and 5th… is outside.
    unescaped = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    kept = unescaped.translate(None, _NOT_STRUCTURE)
    del unescaped
    quotes = kept.count(b'"')
    if quotes > 2 * (max_tokens + 1):  # a string is a key or a value: one token each
        raise MalformedError(f"JSON with more than {max_tokens + 1} strings is not accepted")
    if quotes % 2:
        raise MalformedError("a JSON string does not end")
    structure = b"".join(kept.split(b'"')[0::2])  # pieces of 0-1 byte: shared objects
    if len(structure) > max_tokens:
        raise MalformedError(
            f"JSON with more than {max_tokens} arrays, objects and members is not accepted"
        )
    brackets = structure.translate(None, b",:")
    for _ in range(max_depth):
        if not brackets:
            return
        inner = _EMPTY_PAIR.sub(b"", brackets)
        if len(inner) == len(brackets):
            raise MalformedError("JSON brackets do not balance")
        brackets = inner
    if brackets:
        raise MalformedError(f"JSON nested deeper than {max_depth} levels")


def _no_duplicates(pairs: list[tuple[str, JSONValue]]) -> dict[str, JSONValue]:
    out: dict[str, JSONValue] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_float(text: str) -> None:
    raise ValueError(f"number {text} is not an integer (canonical JSON has integers only)")


def _check(value: object, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH}")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise ValueError(f"integer {value} is outside ±(2**53 - 1)")
        return
    if isinstance(value, str):
        _check_string(value)
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be str, not {type(key).__name__}")
            _check_string(key)
            _check(item, depth + 1)
        return
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        for item in value:
            _check(item, depth + 1)
        return
    raise TypeError(f"{type(value).__name__} is not a canonical JSON value (no floats)")


def _check_string(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("string holds a lone surrogate") from exc

"""Argument checks shared by the tlog modules: ``TypeError`` for a wrong type, ``ValueError``
for a wrong value, as pyca/cryptography's builders do. Parsers raise ``MalformedError`` instead
(see ``_text``)."""

from __future__ import annotations

HASH_SIZE = 32
MAX_TREE_SIZE = 2**63 - 1


def require_bytes(value: object, name: str) -> bytes:
    if not isinstance(value, bytes):
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}")
    return value


def require_hash(value: object, name: str) -> bytes:
    """A SHA-256 hash: exactly 32 bytes."""
    h = require_bytes(value, name)
    if len(h) != HASH_SIZE:
        raise ValueError(f"{name} must be {HASH_SIZE} bytes, got {len(h)}")
    return h


def require_int(value: object, name: str) -> int:
    """A non-negative int (a bool is not an int here)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return value


def require_size(value: object, name: str) -> int:
    """A tree size: 0 <= size <= 2**63 - 1."""
    size = require_int(value, name)
    if size > MAX_TREE_SIZE:
        raise ValueError(f"{name} {size} exceeds 2**63 - 1")
    return size


def require_str(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    return value

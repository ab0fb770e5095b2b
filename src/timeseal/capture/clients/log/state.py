"""The log auditor's memory: the last checkpoint an audit accepted and the pinned log key,
kept as a JSON state file between runs (``timeseal log verify --state``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from timeseal.core.errors import MalformedError, TimeSealError
from timeseal.core.tlog import (
    VerifierKey,
    parse_signed_checkpoint,
    parse_verifier_key,
    verify_checkpoint,
)

STATE_FORMAT = "timeseal/log-audit-state/v1"


@dataclass(frozen=True, slots=True)
class AuditState:
    """The last checkpoint an audit accepted, and the log key pinned for the next ones."""

    vkey: str  # the log's note verifier key, name+hex+base64
    checkpoint: bytes  # the signed checkpoint note, verbatim
    origin: str = field(init=False)
    size: int = field(init=False)
    root_hash: bytes = field(init=False)

    def __post_init__(self) -> None:
        signed = parse_signed_checkpoint(self.checkpoint)
        key = parse_verifier_key(self.vkey)
        if not verify_checkpoint(signed, key, origin=signed.checkpoint.origin).ok:
            raise MalformedError("the stored checkpoint is not signed by the stored key")
        object.__setattr__(self, "origin", signed.checkpoint.origin)
        object.__setattr__(self, "size", signed.checkpoint.size)
        object.__setattr__(self, "root_hash", signed.checkpoint.root_hash)

    @property
    def verifier_key(self) -> VerifierKey:
        return parse_verifier_key(self.vkey)


def format_state(state: AuditState) -> str:
    """The state file: JSON with the origin, key, size, root hash (hex) and checkpoint text."""
    body = {
        "format": STATE_FORMAT,
        "origin": state.origin,
        "vkey": state.vkey,
        "size": state.size,
        "root_hash": state.root_hash.hex(),
        "checkpoint": state.checkpoint.decode("utf-8"),
    }
    return json.dumps(body, ensure_ascii=False, indent=2) + "\n"


def parse_state(text: str) -> AuditState:
    """Read a state file; ``MalformedError`` unless its fields agree with its checkpoint and the
    checkpoint verifies with its key (a hand-edited baseline is refused)."""
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise MalformedError(f"state file is not JSON: {exc}") from exc
    if not isinstance(body, dict) or body.get("format") != STATE_FORMAT:
        raise MalformedError(f"state file is not {STATE_FORMAT}")
    vkey, checkpoint = body.get("vkey"), body.get("checkpoint")
    if not isinstance(vkey, str) or not isinstance(checkpoint, str):
        raise MalformedError("state file: vkey and checkpoint must be strings")
    try:
        state = AuditState(vkey, checkpoint.encode("utf-8"))
    except (TimeSealError, ValueError) as exc:
        raise MalformedError(f"state file: {exc}") from exc
    if (body.get("origin"), body.get("size"), body.get("root_hash")) != (
        state.origin,
        state.size,
        state.root_hash.hex(),
    ):
        raise MalformedError("state file: origin, size or root_hash disagree with its checkpoint")
    return state

"""The log's side of C2SP tlog-witness: ask a witness to cosign a checkpoint.

::

    result = await submit_checkpoint(url, witness_key, checkpoint_note, old_size, proof)
    if isinstance(result, Conflict):      # the witness holds result.size: send a proof
        ...                               # from there (or old 0 if it knows nothing)
    else:                                 # a Cosignature, checked against witness_key
        note = attach_cosignatures(checkpoint_note, [result])

Errors::

    WitnessClientError
     ├─ WitnessUnavailable      no answer, a timeout, or 429/5xx: try again later
     ├─ WitnessRefused          400/403/404/422 (or another 4xx): ``.status``, ``.detail``
     └─ BadWitnessResponse      a 200 without a valid cosignature by the witness's key for
                                this checkpoint, or a malformed 409

A cosignature is returned only after it is verified: by the witness's key (name and key ID),
over this exact checkpoint note text, with a non-zero timestamp. Signature lines by other
keys in the answer are ignored, as the spec requires.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import httpx

from timeseal.core.errors import MalformedError
from timeseal.core.tlog import (
    SIZE_CONTENT_TYPE,
    AddCheckpointRequest,
    Cosignature,
    SignatureType,
    VerifierKey,
    add_signature,
    cosignature_is_valid,
    format_add_checkpoint,
    format_note,
    parse_cosignature,
    parse_cosignature_response,
    parse_signed_checkpoint,
    parse_size_response,
)

#: A cosignature response is a few lines; anything near a note's maximum is not one.
MAX_RESPONSE_SIZE = 1_000_000
DEFAULT_TIMEOUT = 10.0


class WitnessClientError(Exception):
    """A witness did not cosign; ``url`` is the add-checkpoint URL."""

    def __init__(self, url: str, message: str) -> None:
        self.url = url
        super().__init__(f"{url}: {message}")


class WitnessUnavailable(WitnessClientError):
    """No usable answer (connection error, timeout, 429 or 5xx); worth retrying later."""


class WitnessRefused(WitnessClientError):
    """The witness refused the checkpoint: ``status`` (400, 403, 404, 422, ...) and its text."""

    def __init__(self, url: str, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail
        super().__init__(url, f"refused with {status}: {detail}")


class BadWitnessResponse(WitnessClientError):
    """The witness answered, but not with what the protocol promises."""


@dataclass(frozen=True, slots=True)
class Conflict:
    """409: the witness's last cosigned checkpoint for the log has ``size``, not our old size."""

    size: int


async def submit_checkpoint(
    url: str,
    witness_vkey: VerifierKey,
    signed_checkpoint: bytes,
    old_size: int,
    consistency_proof: Sequence[bytes],
    *,
    client: httpx.AsyncClient | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Cosignature | Conflict:
    """``POST <url>/add-checkpoint`` (C2SP tlog-witness) and check the answer.

    ``url`` is the witness's submission prefix (``http://host:8100``); ``witness_vkey`` its
    cosignature/v1 key; ``signed_checkpoint`` the log's checkpoint note; ``consistency_proof``
    the RFC 9162 proof from ``old_size`` (empty for old size 0 or an unchanged size). Pass a
    ``client`` to reuse its connections (the spec asks for keep-alive), or a ``transport``
    (e.g. ``httpx.MockTransport``) for the client made here.

    Returns the witness's verified :class:`Cosignature`, or :class:`Conflict` with the size the
    witness holds. Raises a :class:`WitnessClientError` otherwise; ``TypeError``,
    ``ValueError`` or ``MalformedError`` for arguments that cannot make a request.
    """
    if not isinstance(witness_vkey, VerifierKey):
        raise TypeError("witness_vkey must be a VerifierKey")
    if witness_vkey.signature_type is not SignatureType.COSIGNATURE_V1:
        raise ValueError(f"{witness_vkey.label} is not a cosignature/v1 (0x04) witness key")
    signed = parse_signed_checkpoint(signed_checkpoint)
    body = format_add_checkpoint(AddCheckpointRequest(old_size, tuple(consistency_proof), signed))
    endpoint = url.rstrip("/") + "/add-checkpoint"

    if client is None:
        async with httpx.AsyncClient(transport=transport, timeout=timeout) as own:
            status, content_type, content = await _post(own, endpoint, body, timeout)
    else:
        status, content_type, content = await _post(client, endpoint, body, timeout)

    if status == 200:
        return _cosignature(endpoint, witness_vkey, signed.note.text, content)
    if status == 409:
        return _conflict(endpoint, content_type, content, old_size)
    detail = content[:300].decode("utf-8", "replace").strip()
    if status == 429 or status >= 500:
        raise WitnessUnavailable(endpoint, f"HTTP {status}: {detail}")
    raise WitnessRefused(endpoint, status, detail)


async def _post(
    client: httpx.AsyncClient, endpoint: str, body: bytes, timeout: float
) -> tuple[int, str, bytes]:
    try:
        async with client.stream("POST", endpoint, content=body, timeout=timeout) as response:
            chunks = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_RESPONSE_SIZE:
                    raise BadWitnessResponse(endpoint, f"answer larger than {MAX_RESPONSE_SIZE}")
                chunks.append(chunk)
            return response.status_code, response.headers.get("content-type", ""), b"".join(chunks)
    except httpx.HTTPError as exc:
        raise WitnessUnavailable(endpoint, f"{type(exc).__name__}: {exc}") from exc


def _cosignature(endpoint: str, key: VerifierKey, checkpoint_text: str, body: bytes) -> Cosignature:
    try:
        lines = parse_cosignature_response(body)
    except MalformedError as exc:
        raise BadWitnessResponse(endpoint, f"malformed cosignature response: {exc}") from exc
    line = next((s for s in lines if s.is_by(key)), None)
    if line is None:
        raise BadWitnessResponse(endpoint, f"no cosignature by {key.label} in the answer")
    try:
        cosignature = parse_cosignature(line)
    except MalformedError as exc:
        raise BadWitnessResponse(endpoint, str(exc)) from exc
    if not cosignature_is_valid(cosignature, key, checkpoint_text):
        raise BadWitnessResponse(
            endpoint, f"the cosignature by {key.label} does not verify for this checkpoint"
        )
    if cosignature.timestamp == 0:
        raise BadWitnessResponse(endpoint, "the cosignature has no timestamp (0)")
    return cosignature


def _conflict(endpoint: str, content_type: str, body: bytes, old_size: int) -> Conflict:
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != SIZE_CONTENT_TYPE:
        raise BadWitnessResponse(endpoint, f"409 with Content-Type {content_type!r}")
    try:
        size = parse_size_response(body)
    except MalformedError as exc:
        raise BadWitnessResponse(endpoint, f"409: {exc}") from exc
    if size == old_size:
        raise BadWitnessResponse(endpoint, f"409, yet the witness holds our old size {size}")
    return Conflict(size)


def attach_cosignatures(signed_checkpoint: bytes, cosignatures: Iterable[Cosignature]) -> bytes:
    """The checkpoint note with each cosignature's line added, replacing an older line by the
    same key (C2SP signed-note order: the log's signature stays first). Pure; it does *not*
    verify the cosignatures: pass the ones :func:`submit_checkpoint` returned for this note.
    """
    signed = parse_signed_checkpoint(signed_checkpoint)
    note = signed.note
    for cosignature in cosignatures:
        if not isinstance(cosignature, Cosignature):
            raise TypeError("cosignatures must be Cosignature objects")
        note = add_signature(note, cosignature.note_signature)
    return format_note(note)

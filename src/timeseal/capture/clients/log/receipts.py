"""The receipt fetcher: a C2SP tlog-proof that a time-stamp token is in the log.

:meth:`ReceiptFetcher.receipt` looks a token's leaf up, computes its inclusion proof from the
public tiles itself (``TileHashReader``), verifies it against the signed checkpoint and
returns the ``TlogProof``, which anyone can check offline with the log's key alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from timeseal.capture.clients.log.client import LogClient
from timeseal.capture.clients.log.errors import LogClientError, ReceiptInvalid, ReceiptTimeout
from timeseal.core.errors import MalformedError
from timeseal.core.log_entry import format_entry, tsa_token_entry
from timeseal.core.tlog import (
    SignedCheckpoint,
    Tile,
    TileHashReader,
    TlogProof,
    VerifierKey,
    format_verifier_key,
    inclusion_proof,
    parse_signed_checkpoint,
    verify_checkpoint,
    verify_tlog_proof,
)
from timeseal.core.tsp.response import TimeStampResponse

POLL_INTERVAL = 0.2  # seconds between leaf-index lookups; the sequencer runs at least every 1 s


def token_leaf(response: TimeStampResponse) -> bytes:
    """The log entry the server logged for ``response``'s token (``timeseal/tsa-token/v1``)."""
    if response.token is None:
        raise ValueError("the response carries no token")
    return format_entry(tsa_token_entry(response.token))


class ReceiptFetcher:
    """Fetches receipts from one log client, keeping the tiles (immutable) and the last
    checkpoint it verified, so a batch of receipts fetches each only once. Waits with the
    client's ``sleep`` and ``clock``."""

    def __init__(self, client: LogClient) -> None:
        self.client = client
        self._tiles: dict[Tile, bytes] = {}
        # The last checkpoint verified for receipts, and the vkey it was verified with.
        self._checkpoint: tuple[str, SignedCheckpoint] | None = None

    def leaf_index(self, leaf_hash: bytes, *, wait: float = 5.0) -> int:
        """``GET /api/v1/log/leaf-index/<hex>``, asked again while 404 for up to ``wait``
        seconds (at least once); ``ReceiptTimeout`` if still not sequenced."""
        deadline = self.client.clock() + wait
        while True:
            index = self.client.fetch_leaf_index(leaf_hash)
            if index is not None:
                return index
            if self.client.clock() >= deadline:
                raise ReceiptTimeout(f"leaf {leaf_hash.hex()} is not in the log after {wait:g} s")
            self.client.sleep(POLL_INTERVAL)

    def receipt(
        self,
        response: TimeStampResponse,
        log_key: VerifierKey,
        *,
        wait: float = 5.0,
        cosigners: Sequence[VerifierKey] = (),
        quorum: int | None = None,
    ) -> TlogProof:
        """The C2SP tlog-proof that ``response``'s token is in the log, built from the public
        tiles and verified (as ``verify_tlog_proof``) before it is returned.

        ``ReceiptTimeout`` if the entry is not in a checkpoint within ``wait`` seconds,
        ``ReceiptInvalid`` if what the server serves does not verify, ``LogClientError`` if the
        log cannot be reached; ``ValueError`` for a response without a token.
        """
        leaf = token_leaf(response)
        leaf_hash = hashlib.sha256(b"\x00" + leaf).digest()
        deadline = self.client.clock() + wait
        index = self.leaf_index(leaf_hash, wait=wait)
        vkey = format_verifier_key(log_key)
        signed = self._checkpoint[1] if self._checkpoint and self._checkpoint[0] == vkey else None
        while signed is None or signed.checkpoint.size <= index:
            signed = self._verified_checkpoint(log_key, cosigners, quorum)
            if signed.checkpoint.size > index:
                break
            if self.client.clock() >= deadline:
                raise ReceiptTimeout(f"leaf {index} is not yet in a signed checkpoint")
            self.client.sleep(POLL_INTERVAL)
        size = signed.checkpoint.size
        reader = TileHashReader(size, self._cached_tiles)
        try:
            path = inclusion_proof(reader, leaf_index=index, tree_size=size)
        except (MalformedError, ValueError) as exc:
            raise LogClientError(f"bad tile while proving leaf {index}: {exc}") from exc
        proof = TlogProof(index, path, signed)
        result = verify_tlog_proof(
            proof, leaf=leaf, log_key=log_key, cosigners=cosigners, quorum=quorum
        )
        if not result.ok:
            raise ReceiptInvalid(result)
        return proof

    def _verified_checkpoint(
        self, log_key: VerifierKey, cosigners: Sequence[VerifierKey], quorum: int | None
    ) -> SignedCheckpoint:
        try:
            signed = parse_signed_checkpoint(self.client.fetch_checkpoint())
        except MalformedError as exc:
            raise LogClientError(f"the checkpoint does not parse: {exc}") from exc
        result = verify_checkpoint(signed, log_key, cosigners=cosigners, quorum=quorum)
        if not result.ok:
            raise ReceiptInvalid(result)
        self._checkpoint = (format_verifier_key(log_key), signed)
        return signed

    def _cached_tiles(self, tiles: Sequence[Tile]) -> list[bytes]:
        for tile in tiles:
            if tile not in self._tiles:
                self._tiles[tile] = self.client.fetch_tile(tile)
        return [self._tiles[t] for t in tiles]

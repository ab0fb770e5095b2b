"""A client of a TimeSeal log: the auditor that rebuilds the log from its public tiles, and the
fetcher of offline receipts (C2SP tlog-proof) for time-stamp tokens.

The log is served as C2SP tlog-tiles under ``<server>/log/`` (``checkpoint``, ``tile/<L>/<N>``,
``tile/entries/<N>``, and TimeSeal's ``vkey``); ``/api/v1/log/leaf-index/<leaf hash>`` says
where an entry landed. Nothing the server sends is trusted until it is checked against a
checkpoint signed by a log key the caller chose.

:meth:`LogClient.audit` runs, in order (``Check`` names):

(1) CHECKPOINT_ORIGIN, CHECKPOINT_SIGNATURE  the checkpoint is the expected log's, signed by
    its key (C2SP tlog-checkpoint); without that, no tile is fetched (C2SP tlog-tiles: clients
    MUST NOT fetch partial tiles without verifying a checkpoint that requires them)
(2) COSIGNATURE        only with witness keys: at least ``quorum`` of them cosigned
(3) CONSISTENCY_PROOF  only with a previous state: the tree did not shrink (rollback,
    truncation) and its first ``previous.size`` leaves still hash to the root seen last time
    (a rewrite or a split view fails)
(4) LOG_TILES          every hash tile is what the level-0 tiles below it give, and the level-0
    tiles rebuild the signed root (RFC 9162 §2.1.1)
(5) LOG_ENTRIES        the entry bundles rebuild the signed root: every entry's leaf hash,
    folded as the tiles lay it out, gives the checkpoint's root hash

(4) and (5) are judged separately against the *signed* root, so a tampered tile fails (4)
only and a tampered entry bundle fails (5) only. Each run downloads every tile and bundle once
(full tiles, and the partial ones the checkpoint's size requires, falling back to the full
tile if a partial one is gone) and streams them through O(256 x levels) memory.

:meth:`LogClient.receipt` looks a token's leaf up, computes its inclusion proof from the public
tiles itself (``TileHashReader``), verifies it against the signed checkpoint and returns the
``TlogProof``, which anyone can check offline with the log's key alone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from timeseal.capture.errors import CaptureError
from timeseal.core.errors import MalformedError, TimeSealError
from timeseal.core.log_entry import format_entry, tsa_token_entry
from timeseal.core.tlog import (
    HASH_SIZE,
    TILE_WIDTH,
    EntriesTile,
    SignedCheckpoint,
    Tile,
    TileHashReader,
    TlogProof,
    TreeState,
    VerifierKey,
    format_verifier_key,
    inclusion_proof,
    node_hash,
    parse_entry_bundle,
    parse_signed_checkpoint,
    parse_tile,
    parse_verifier_key,
    verify_checkpoint,
    verify_tlog_proof,
)
from timeseal.core.tlog.merkle import tree_hash_unchecked
from timeseal.core.tlog.note import MAX_NOTE_SIZE
from timeseal.core.tlog.tiles import MAX_BUNDLE_SIZE
from timeseal.core.tsp.response import TimeStampResponse
from timeseal.core.verification import Check, CheckResult, Status, VerificationResult

STATE_FORMAT = "timeseal/log-audit-state/v1"
TILE_BYTES = TILE_WIDTH * HASH_SIZE
POLL_INTERVAL = 0.2  # seconds between leaf-index lookups; the sequencer runs at least every 1 s
_MAX_SMALL = 4096  # /log/vkey, leaf-index JSON


class LogClientError(CaptureError):
    """The log could not be reached, or answered something unusable."""


class ReceiptTimeout(LogClientError):
    """The entry was not in a checkpoint within the wait; the token itself is fine."""


class ReceiptInvalid(LogClientError):
    """The server's data does not make a valid receipt; ``result`` says which check failed."""

    def __init__(self, result: VerificationResult) -> None:
        self.result = result
        names = ", ".join(c.value for c in result.failed)
        super().__init__(f"the receipt does not verify ({names})")


def token_leaf(response: TimeStampResponse) -> bytes:
    """The log entry the server logged for ``response``'s token (``timeseal/tsa-token/v1``)."""
    if response.token is None:
        raise ValueError("the response carries no token")
    return format_entry(tsa_token_entry(response.token))


# --- the auditor's memory ---------------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class AuditReport:
    result: VerificationResult
    checkpoint: SignedCheckpoint | None  # None if it did not parse
    previous: AuditState | None
    state: AuditState | None  # what to remember: set only when ``result.ok``
    tiles: int = 0  # hash tiles fetched
    bundles: int = 0  # entry bundles fetched
    bytes: int = 0


# --- rebuilding the tree the way the tiles lay it out ---------------------------------------


class _TileTree:
    """MTH over level-0 hashes fed 256 at a time: each full tile's subtree hash goes into the
    tile above, so the hashes of level-L tiles appear in order, and the root is the fold of the
    right-edge subtrees of the partial tile left at each level (largest first)."""

    __slots__ = ("full", "levels")

    def __init__(self) -> None:
        self.levels: list[list[bytes]] = [[]]  # the unfinished tile at each level
        self.full: list[int] = [0]  # how many full tiles each level has

    def copy(self) -> _TileTree:
        other = _TileTree()
        other.levels = [list(level) for level in self.levels]
        other.full = list(self.full)
        return other

    def add(self, hashes: Sequence[bytes]) -> list[tuple[Tile, list[bytes]]]:
        """Append one level-0 tile's hashes (a partial one only last); return the full tiles of
        level 1 and up that this completes, with their computed hashes."""
        done: list[tuple[Tile, list[bytes]]] = []
        if len(hashes) < TILE_WIDTH:
            self.levels[0] = list(hashes)
            return done
        h = tree_hash_unchecked(hashes)
        self.full[0] += 1
        level = 1
        while True:
            if level == len(self.levels):
                self.levels.append([])
                self.full.append(0)
            self.levels[level].append(h)
            if len(self.levels[level]) < TILE_WIDTH:
                return done
            done.append((Tile(level, self.full[level]), self.levels[level]))
            h = tree_hash_unchecked(self.levels[level])
            self.levels[level] = []
            self.full[level] += 1
            level += 1

    def partial_tiles(self) -> list[tuple[Tile, list[bytes]]]:
        """The partial tiles of level 1 and up, at the end."""
        return [
            (Tile(level, self.full[level], len(items)), items)
            for level, items in enumerate(self.levels)
            if level and items
        ]

    def root(self, level0: Sequence[bytes] | None = None) -> bytes:
        """The root so far; with ``level0``, as if those hashes were the partial level-0 tile
        (used between tiles for the root of a prefix of the tree)."""
        edges: list[bytes] = []
        for level in range(len(self.levels) - 1, -1, -1):
            items = self.levels[level] if level or level0 is None else level0
            edges.extend(TreeState().extend(items).hashes)
        if not edges:
            return TreeState().root_hash
        h = edges[-1]
        for left in reversed(edges[:-1]):
            h = node_hash(left, h)
        return h


@dataclass(slots=True)
class _Chunk:
    """Level-0 tile ``index`` and its entry bundle, fetched and parsed (or why not)."""

    tile: Tile
    hashes: tuple[bytes, ...] | None = None
    leaf_hashes: list[bytes] | None = None
    tile_error: str = ""
    entries_error: str = ""
    bytes: int = 0


def _first_difference(a: Sequence[bytes], b: Sequence[bytes]) -> int:
    return next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)


def _skipped(check: Check, detail: str) -> CheckResult:
    return CheckResult(check, Status.SKIPPED, detail)


# --- the client -------------------------------------------------------------------------------


class LogClient:
    """Talks to one TimeSeal server's log. The transport is injectable (httpx ``MockTransport``
    in tests); ``sleep`` and ``clock`` too, for the receipt wait."""

    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        workers: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._http = httpx.Client(transport=transport, timeout=timeout)
        self._workers = max(1, workers)
        self._sleep = sleep
        self._clock = clock
        self._tiles: dict[Tile, bytes] = {}  # tiles are immutable; cached for receipts
        # The last checkpoint verified for receipts, and the vkey it was verified with.
        self._checkpoint: tuple[str, SignedCheckpoint] | None = None

    def __enter__(self) -> LogClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- HTTP ----------------------------------------------------------------------------------

    def _get(self, path: str, limit: int) -> bytes | None:
        """GET ``path``: its body, or None on 404; at most ``limit`` bytes once decoded."""
        url = f"{self._base}{path}"
        try:
            with self._http.stream("GET", url) as reply:
                if reply.status_code == 404:
                    return None
                if reply.status_code != 200:
                    raise LogClientError(f"{url} answered HTTP {reply.status_code}")
                body = bytearray()
                for chunk in reply.iter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise LogClientError(f"{url} sent more than {limit} bytes")
                return bytes(body)
        except httpx.HTTPError as exc:
            raise LogClientError(f"cannot fetch {url}: {exc}") from exc

    def fetch_verifier_key(self) -> VerifierKey | None:
        """``GET /log/vkey``: the key the server *says* it signs with (None: it has no log).
        Unauthenticated; pin it (trust on first use) or compare it with one you trust."""
        data = self._get("/log/vkey", _MAX_SMALL)
        if data is None:
            return None
        try:
            return parse_verifier_key(data.decode("utf-8").strip())
        except (UnicodeDecodeError, TimeSealError) as exc:
            raise LogClientError(f"{self._base}/log/vkey is not a verifier key: {exc}") from exc

    def fetch_checkpoint(self) -> bytes:
        """``GET /log/checkpoint``, unparsed and unverified."""
        data = self._get("/log/checkpoint", MAX_NOTE_SIZE)
        if data is None:
            raise LogClientError(f"{self._base}/log/checkpoint: not found (HTTP 404): no log here")
        return data

    def fetch_tile(self, tile: Tile) -> bytes:
        """A hash tile; for a partial tile that is gone, the full tile's first ``width`` hashes
        (C2SP tlog-tiles allows that fallback)."""
        data = self._get(f"/log/{tile.path}", TILE_BYTES)
        if data is None and tile.is_partial:
            data = self._get(f"/log/{Tile(tile.level, tile.index).path}", TILE_BYTES)
            if data is not None and len(data) == TILE_BYTES:
                data = data[: tile.width * HASH_SIZE]
        if data is None:
            raise LogClientError(f"{tile.path}: not found (HTTP 404)")
        return data

    def fetch_entries(self, bundle: EntriesTile) -> tuple[bytes, ...]:
        """An entry bundle's entries, exactly ``bundle.width`` of them (full-bundle fallback as
        for tiles). ``MalformedError`` if it does not parse."""
        data = self._get(f"/log/{bundle.path}", MAX_BUNDLE_SIZE)
        if data is not None:
            return parse_entry_bundle(data, bundle.width)
        if bundle.is_partial:
            data = self._get(f"/log/{EntriesTile(bundle.index).path}", MAX_BUNDLE_SIZE)
            if data is not None:
                return parse_entry_bundle(data, TILE_WIDTH)[: bundle.width]
        raise LogClientError(f"{bundle.path}: not found (HTTP 404)")

    # -- audit ---------------------------------------------------------------------------------

    def audit(
        self,
        log_key: VerifierKey,
        *,
        previous: AuditState | None = None,
        cosigners: Sequence[VerifierKey] = (),
        quorum: int | None = None,
    ) -> AuditReport:
        """Download the checkpoint, every tile and every entry bundle, and check them (see the
        module docstring). ``LogClientError`` only if the checkpoint cannot be fetched; the
        state to remember is in the report only when every check passed. ``ValueError`` if
        ``log_key`` is not the key pinned in ``previous``, or as ``verify_checkpoint`` raises.
        """
        if previous is not None and format_verifier_key(log_key) != previous.vkey:
            raise ValueError(f"{log_key.label} is not the key pinned in the state")
        note = self.fetch_checkpoint()
        try:
            signed = parse_signed_checkpoint(note)
        except MalformedError as exc:
            checks = [
                _skipped(Check.CHECKPOINT_ORIGIN, "the checkpoint does not parse"),
                CheckResult(Check.CHECKPOINT_SIGNATURE, Status.FAIL, f"malformed: {exc}"),
            ]
            return AuditReport(self._skip_rest(checks, cosigners, previous), None, previous, None)
        origin = previous.origin if previous is not None else log_key.name
        head = verify_checkpoint(
            signed, log_key, origin=origin, cosigners=cosigners, quorum=quorum
        ).checks
        if any(c.status is Status.FAIL for c in head[:2]):
            result = self._skip_rest(list(head), (), previous)
            return AuditReport(result, signed, previous, None)

        checkpoint = signed.checkpoint
        size = checkpoint.size
        old = previous.size if previous is not None else None
        # Rolled back, or the same size: the signed checkpoint alone decides.
        consistency: CheckResult | None = None
        if previous is not None and (size <= previous.size or previous.size == 0):
            consistency = _compare_prefix(previous, checkpoint.root_hash, size)
            old = None
        run = _Run(self, size, checkpoint.root_hash, old)
        run.walk()
        if consistency is None and previous is not None:
            consistency = run.consistency(previous)
        checks = [*head, *([consistency] if consistency else []), run.tiles_check()]
        checks.append(run.entries_check())
        result = VerificationResult(tuple(checks))
        state = AuditState(format_verifier_key(log_key), note) if result.ok else None
        return AuditReport(result, signed, previous, state, run.tiles, run.bundles, run.bytes)

    @staticmethod
    def _skip_rest(
        checks: list[CheckResult], cosigners: Sequence[VerifierKey], previous: AuditState | None
    ) -> VerificationResult:
        why = "the checkpoint is not verified, so no tile is fetched (C2SP tlog-tiles)"
        if cosigners:
            checks.append(_skipped(Check.COSIGNATURE, "the checkpoint does not parse"))
        if previous is not None:
            checks.append(_skipped(Check.CONSISTENCY_PROOF, why))
        checks += [_skipped(Check.LOG_TILES, why), _skipped(Check.LOG_ENTRIES, why)]
        return VerificationResult(tuple(checks))

    def _load_chunk(self, index: int, size: int) -> _Chunk:
        width = min(TILE_WIDTH, size - index * TILE_WIDTH)
        chunk = _Chunk(Tile(0, index, width))
        try:
            data = self.fetch_tile(chunk.tile)
            chunk.bytes += len(data)
            chunk.hashes = parse_tile(data, width)
        except LogClientError as exc:
            chunk.tile_error = str(exc)
        except MalformedError as exc:
            chunk.tile_error = f"{chunk.tile.path}: {exc}"
        bundle = EntriesTile(index, width)
        try:
            entries = self.fetch_entries(bundle)
            chunk.bytes += sum(2 + len(e) for e in entries)
            sha256 = hashlib.sha256
            chunk.leaf_hashes = [sha256(b"\x00" + e).digest() for e in entries]
        except LogClientError as exc:
            chunk.entries_error = str(exc)
        except MalformedError as exc:
            chunk.entries_error = f"{bundle.path}: {exc}"
        return chunk

    def _chunks(self, size: int) -> Iterator[_Chunk]:
        """Every level-0 tile with its bundle, in order, fetched ``workers`` at a time."""
        count = -(-size // TILE_WIDTH)
        window = 4 * self._workers
        with ThreadPoolExecutor(self._workers) as pool:
            pending: deque[Future[_Chunk]] = deque()
            for index in range(count):
                pending.append(pool.submit(self._load_chunk, index, size))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()

    # -- receipts ------------------------------------------------------------------------------

    def leaf_index(self, leaf_hash: bytes, *, wait: float = 5.0) -> int:
        """``GET /api/v1/log/leaf-index/<hex>``, asked again while 404 for up to ``wait``
        seconds (at least once); ``ReceiptTimeout`` if still not sequenced."""
        deadline = self._clock() + wait
        url = f"/api/v1/log/leaf-index/{leaf_hash.hex()}"
        while True:
            data = self._get(url, _MAX_SMALL)
            if data is not None:
                return _parse_leaf_index(data, url)
            if self._clock() >= deadline:
                raise ReceiptTimeout(f"leaf {leaf_hash.hex()} is not in the log after {wait:g} s")
            self._sleep(POLL_INTERVAL)

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
        deadline = self._clock() + wait
        index = self.leaf_index(leaf_hash, wait=wait)
        vkey = format_verifier_key(log_key)
        signed = self._checkpoint[1] if self._checkpoint and self._checkpoint[0] == vkey else None
        while signed is None or signed.checkpoint.size <= index:
            signed = self._verified_checkpoint(log_key, cosigners, quorum)
            if signed.checkpoint.size > index:
                break
            if self._clock() >= deadline:
                raise ReceiptTimeout(f"leaf {index} is not yet in a signed checkpoint")
            self._sleep(POLL_INTERVAL)
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
            signed = parse_signed_checkpoint(self.fetch_checkpoint())
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
                self._tiles[tile] = self.fetch_tile(tile)
        return [self._tiles[t] for t in tiles]


def _parse_leaf_index(data: bytes, url: str) -> int:
    try:
        body: Any = json.loads(data)
    except ValueError as exc:
        raise LogClientError(f"{url}: not JSON") from exc
    index = body.get("leaf_index") if isinstance(body, dict) else None
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise LogClientError(f"{url}: no leaf_index in {data[:100]!r}")
    return index


def _compare_prefix(previous: AuditState, root_hash: bytes, size: int) -> CheckResult:
    """CONSISTENCY_PROOF decided by the sizes alone: shrinking, same size, or from empty."""
    check = Check.CONSISTENCY_PROOF
    if previous.size == 0:
        return CheckResult(check, Status.PASS, "the previous checkpoint was the empty tree")
    if size < previous.size:
        return CheckResult(
            check,
            Status.FAIL,
            f"the log shrank from {previous.size} to {size} leaves (rollback or truncation); "
            f"a log never deletes entries",
        )
    if not hmac.compare_digest(root_hash, previous.root_hash):
        return CheckResult(
            check,
            Status.FAIL,
            f"same size {size}, different root: previously {previous.root_hash.hex()}, "
            f"now {root_hash.hex()} (a split view or rewritten history)",
        )
    return CheckResult(check, Status.PASS, f"unchanged at {size} leaves")


class _Run:
    """One streaming pass over the tiles and bundles of the tree of ``size``."""

    def __init__(self, client: LogClient, size: int, root_hash: bytes, old: int | None) -> None:
        self.client, self.size, self.root_hash, self.old = client, size, root_hash, old
        self.tiles = self.bundles = self.bytes = 0
        self.tile_problems: list[str] = []
        self.entry_problems: list[str] = []
        # The first leaf whose hash in its level-0 tile differs from its entry's leaf hash:
        # (tile, position, hash in the tile, hash of the entry).
        self.hint: tuple[Tile, int, bytes, bytes] | None = None
        self.tiles_root: bytes | None = None
        self.entries_root: bytes | None = None
        self.tiles_prefix: bytes | None = None
        self.entries_prefix: bytes | None = None

    def walk(self) -> None:
        tiles_tree: _TileTree | None = _TileTree()
        entries_tree: _TileTree | None = tiles_tree  # the same object while they agree
        for chunk in self.client._chunks(self.size):
            self.tiles += 1
            self.bundles += 1
            self.bytes += chunk.bytes
            t = chunk.hashes if tiles_tree is not None else None
            e = chunk.leaf_hashes if entries_tree is not None else None
            if tiles_tree is not None and t is None:
                self.tile_problems.append(chunk.tile_error)
            if entries_tree is not None and e is None:
                self.entry_problems.append(chunk.entries_error)
            if entries_tree is tiles_tree and (t is None or e is None or list(t) != e):
                if t is not None and e is not None and self.hint is None:
                    i = _first_difference(t, e)
                    self.hint = (chunk.tile, i, t[i], e[i])
                entries_tree = None if e is None or tiles_tree is None else tiles_tree.copy()
            if self.old is not None and chunk.tile.begin <= self.old < chunk.tile.end:
                cut = self.old - chunk.tile.begin
                if tiles_tree is not None and t is not None:
                    self.tiles_prefix = tiles_tree.root(t[:cut])
                if entries_tree is not None and e is not None:
                    self.entries_prefix = entries_tree.root(e[:cut])
            if tiles_tree is not None:
                if t is None:
                    tiles_tree = None
                else:
                    for tile, computed in tiles_tree.add(t):
                        self._compare_tile(tile, computed)
            if entries_tree is not None and entries_tree is not tiles_tree:
                if e is None:
                    entries_tree = None
                else:
                    entries_tree.add(e)
            if tiles_tree is None and entries_tree is None:
                break
        if tiles_tree is not None:
            for tile, computed in tiles_tree.partial_tiles():
                self._compare_tile(tile, computed)
            self.tiles_root = tiles_tree.root()
        if entries_tree is not None:
            self.entries_root = entries_tree.root()

    def _compare_tile(self, tile: Tile, computed: list[bytes]) -> None:
        self.tiles += 1
        try:
            data = self.client.fetch_tile(tile)
            self.bytes += len(data)
            served = parse_tile(data, tile.width)
        except LogClientError as exc:
            self.tile_problems.append(str(exc))
            return
        except MalformedError as exc:
            self.tile_problems.append(f"{tile.path}: {exc}")
            return
        if list(served) != computed:
            i = _first_difference(served, computed)
            self.tile_problems.append(
                f"{tile.path} hash {i} is {served[i].hex()}, "
                f"the tiles below give {computed[i].hex()}"
            )

    def _root_ok(self, root: bytes | None) -> bool:
        return root is not None and hmac.compare_digest(root, self.root_hash)

    def tiles_check(self) -> CheckResult:
        check = Check.LOG_TILES
        problems = list(self.tile_problems)
        if self.tiles_root is not None and not self._root_ok(self.tiles_root):
            if self._root_ok(self.entries_root) and self.hint is not None:
                tile, i, in_tile, of_entry = self.hint
                bundle = EntriesTile(tile.index, tile.width)
                problems.insert(
                    0,
                    f"{tile.path} hash {i} (leaf {tile.begin + i}) is {in_tile.hex()}, but "
                    f"entry {i} of {bundle.path} hashes to {of_entry.hex()}",
                )
            problems.append(
                f"root mismatch: the checkpoint signs {self.root_hash.hex()}, "
                f"the level-0 tiles give {self.tiles_root.hex()}"
            )
        if problems:
            return CheckResult(check, Status.FAIL, "; ".join(problems[:4]))
        return CheckResult(check, Status.PASS, f"{self.size} leaves, hash tiles: {self.tiles}")

    def entries_check(self) -> CheckResult:
        check = Check.LOG_ENTRIES
        problems = list(self.entry_problems)
        if self.entries_root is not None and not self._root_ok(self.entries_root):
            problems.append(
                f"root mismatch: the checkpoint signs {self.root_hash.hex()}, "
                f"the entries give {self.entries_root.hex()}"
            )
            if self.hint is not None:
                tile, i, in_tile, of_entry = self.hint
                bundle = EntriesTile(tile.index, tile.width)
                problems.append(
                    f"first difference: entry {i} of {bundle.path} (leaf {tile.begin + i}) "
                    f"hashes to {of_entry.hex()}, {tile.path} has {in_tile.hex()}"
                )
        if problems:
            return CheckResult(check, Status.FAIL, "; ".join(problems[:4]))
        return CheckResult(check, Status.PASS, f"{self.size} entries, bundles: {self.bundles}")

    def consistency(self, previous: AuditState) -> CheckResult:
        """The prefix root at ``previous.size``, from whichever of entries and tiles rebuilt
        the signed root, against the root remembered from last time."""
        check = Check.CONSISTENCY_PROOF
        if self._root_ok(self.entries_root):
            prefix, source = self.entries_prefix, "entries"
        elif self._root_ok(self.tiles_root):
            prefix, source = self.tiles_prefix, "tiles"
        else:
            return _skipped(check, "neither the tiles nor the entries rebuild the signed tree")
        assert prefix is not None
        if not hmac.compare_digest(prefix, previous.root_hash):
            return CheckResult(
                check,
                Status.FAIL,
                f"history rewritten: the first {previous.size} leaves now hash to {prefix.hex()}"
                f" (from the {source}), the checkpoint seen before signed "
                f"{previous.root_hash.hex()} (a split view or a rewrite)",
            )
        return CheckResult(
            check, Status.PASS, f"the tree of {self.size} extends the tree of {previous.size}"
        )

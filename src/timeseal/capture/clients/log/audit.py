"""The log auditor: it rebuilds a TimeSeal log from its public tiles and entry bundles.

:func:`audit_log` runs, in order (``Check`` names):

(1) CHECKPOINT_ORIGIN, CHECKPOINT_SIGNATURE  the checkpoint is the expected log's, signed by
    its key (C2SP tlog-checkpoint); without that, no tile is fetched (C2SP tlog-tiles: clients
    MUST NOT fetch partial tiles without verifying a checkpoint that requires them)
(2) COSIGNATURE        only with witness keys: at least ``quorum`` of them cosigned (when
    that alone fails because cosignatures are absent, the report names the missing witnesses:
    the log is consistent, a witness did not cosign)
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
tile if a partial one is gone) and streams them through O(256 x levels) memory
(:class:`~.tile_tree.TileTree`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from timeseal.capture.clients.log.client import LogClient
from timeseal.capture.clients.log.errors import LogClientError
from timeseal.capture.clients.log.state import AuditState
from timeseal.capture.clients.log.tile_tree import TileTree
from timeseal.core.errors import MalformedError
from timeseal.core.tlog import (
    TILE_WIDTH,
    EntriesTile,
    SignedCheckpoint,
    Tile,
    VerifierKey,
    find_signature,
    format_verifier_key,
    parse_signed_checkpoint,
    parse_tile,
    verify_checkpoint,
)
from timeseal.core.verification import Check, CheckResult, Status, VerificationResult


@dataclass(frozen=True, slots=True)
class AuditReport:
    result: VerificationResult
    checkpoint: SignedCheckpoint | None  # None if it did not parse
    previous: AuditState | None
    state: AuditState | None  # what to remember: set only when ``result.ok``
    tiles: int = 0  # hash tiles fetched
    bundles: int = 0  # entry bundles fetched
    bytes: int = 0
    #: When the only failure is that these witnesses' cosignatures are absent (every one
    #: present verifies): the log itself is consistent, just not witnessed enough (a witness
    #: that is down), which the report says as such.
    missing_cosigners: tuple[str, ...] = ()


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


def audit_log(
    client: LogClient,
    log_key: VerifierKey,
    *,
    previous: AuditState | None = None,
    cosigners: Sequence[VerifierKey] = (),
    quorum: int | None = None,
) -> AuditReport:
    """Download the checkpoint, every tile and every entry bundle through ``client``, and
    check them (see the module docstring). ``LogClientError`` only if the checkpoint cannot
    be fetched; the state to remember is in the report only when every check passed.
    ``ValueError`` if ``log_key`` is not the key pinned in ``previous``, or as
    ``verify_checkpoint`` raises.
    """
    if previous is not None and format_verifier_key(log_key) != previous.vkey:
        raise ValueError(f"{log_key.label} is not the key pinned in the state")
    note = client.fetch_checkpoint()
    try:
        signed = parse_signed_checkpoint(note)
    except MalformedError as exc:
        checks = [
            _skipped(Check.CHECKPOINT_ORIGIN, "the checkpoint does not parse"),
            CheckResult(Check.CHECKPOINT_SIGNATURE, Status.FAIL, f"malformed: {exc}"),
        ]
        return AuditReport(_skip_rest(checks, cosigners, previous), None, previous, None)
    origin = previous.origin if previous is not None else log_key.name
    head = verify_checkpoint(
        signed, log_key, origin=origin, cosigners=cosigners, quorum=quorum
    ).checks
    if any(c.status is Status.FAIL for c in head[:2]):
        result = _skip_rest(list(head), (), previous)
        return AuditReport(result, signed, previous, None)

    checkpoint = signed.checkpoint
    size = checkpoint.size
    old = previous.size if previous is not None else None
    # Rolled back, or the same size: the signed checkpoint alone decides.
    consistency: CheckResult | None = None
    if previous is not None and (size <= previous.size or previous.size == 0):
        consistency = _compare_prefix(previous, checkpoint.root_hash, size)
        old = None
    run = _Run(client, size, checkpoint.root_hash, old)
    run.walk()
    if consistency is None and previous is not None:
        consistency = run.consistency(previous)
    checks = [*head, *([consistency] if consistency else []), run.tiles_check()]
    checks.append(run.entries_check())
    result = VerificationResult(tuple(checks))
    state = AuditState(format_verifier_key(log_key), note) if result.ok else None
    missing = _only_missing(result, signed, log_key, origin, cosigners)
    return AuditReport(result, signed, previous, state, run.tiles, run.bundles, run.bytes, missing)


def _only_missing(
    result: VerificationResult,
    signed: SignedCheckpoint,
    log_key: VerifierKey,
    origin: str,
    cosigners: Sequence[VerifierKey],
) -> tuple[str, ...]:
    """The witnesses whose cosignatures are absent, when that is all that failed."""
    if result.failed != (Check.COSIGNATURE,):
        return ()
    missing = [key for key in cosigners if find_signature(signed.note, key) is None]
    present = [key for key in cosigners if key not in missing]
    if (
        present
        and not verify_checkpoint(
            signed, log_key, origin=origin, cosigners=present, quorum=len(present)
        ).ok
    ):
        return ()  # a present cosignature is bad: that is not a witness being down
    return tuple(key.label for key in missing)


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


def _load_chunk(client: LogClient, index: int, size: int) -> _Chunk:
    width = min(TILE_WIDTH, size - index * TILE_WIDTH)
    chunk = _Chunk(Tile(0, index, width))
    try:
        data = client.fetch_tile(chunk.tile)
        chunk.bytes += len(data)
        chunk.hashes = parse_tile(data, width)
    except LogClientError as exc:
        chunk.tile_error = str(exc)
    except MalformedError as exc:
        chunk.tile_error = f"{chunk.tile.path}: {exc}"
    bundle = EntriesTile(index, width)
    try:
        entries = client.fetch_entries(bundle)
        chunk.bytes += sum(2 + len(e) for e in entries)
        sha256 = hashlib.sha256
        chunk.leaf_hashes = [sha256(b"\x00" + e).digest() for e in entries]
    except LogClientError as exc:
        chunk.entries_error = str(exc)
    except MalformedError as exc:
        chunk.entries_error = f"{bundle.path}: {exc}"
    return chunk


def _chunks(client: LogClient, size: int) -> Iterator[_Chunk]:
    """Every level-0 tile with its bundle, in order, fetched ``workers`` at a time."""
    count = -(-size // TILE_WIDTH)
    window = 4 * client.workers
    with ThreadPoolExecutor(client.workers) as pool:
        pending: deque[Future[_Chunk]] = deque()
        for index in range(count):
            pending.append(pool.submit(_load_chunk, client, index, size))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


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
        tiles_tree: TileTree | None = TileTree()
        entries_tree: TileTree | None = tiles_tree  # the same object while they agree
        for chunk in _chunks(self.client, self.size):
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

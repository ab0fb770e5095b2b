"""The log's sequencer: it integrates pending entries and signs checkpoints.

Every server runs a :class:`Sequencer` (a thread of a single-process server, else a process
of its own: :mod:`timeseal.server.log.sequencer_process`), but only the one holding the
:class:`~timeseal.store.log.lock.SequencerLock` integrates: at least every ``interval`` it takes the
pending entries, writes their tiles and a new signed checkpoint in one transaction, and then
asks the configured witnesses to cosign. It never signs a checkpoint smaller than, or
inconsistent with, the last one it signed (:mod:`timeseal.server.log.guard`); when the
database's log would make it, it stops signing and reports :attr:`Sequencer.failure`
(``/healthz`` answers 503). Any process serves the log over HTTP
(:mod:`timeseal.server.api.log`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from timeseal.core.tlog import (
    Cosignature,
    SignedCheckpoint,
    SignerKey,
    VerifierKey,
    format_signed_checkpoint,
    parse_signed_checkpoint,
)
from timeseal.server.log.guard import LastSignedGuard, LogRollback
from timeseal.server.log.witness_client import (
    Conflict,
    WitnessClientError,
    attach_cosignatures,
    submit_checkpoint,
)
from timeseal.server.runtime import datadir, platform_keys
from timeseal.store.log.lock import SequencerLock
from timeseal.store.log.store import MAX_BATCH, LogStore
from timeseal.store.log.witnesses import WitnessBook

log = logging.getLogger("timeseal.log")

OnCheckpoint = Callable[[SignedCheckpoint], None]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


#: The sequencer's pause between rounds while entries keep arriving (seconds).
BUSY_PAUSE = 0.1
#: The sequencer copies SQLite's write-ahead log into the database file at most this often
#: (seconds). Each checkpoint writes and fsyncs the database file beside the TSA journal's
#: commits; one a second instead of one a round cut the peak p99 from 14 to 12 ms.
CHECKPOINT_INTERVAL = 1.0


class Sequencer:
    """Integrates pending entries while this process holds the sequencer lock."""

    def __init__(
        self,
        store: LogStore,
        lock: SequencerLock,
        key: SignerKey,
        origin: str,
        *,
        interval: float = 0.5,
        on_checkpoint: OnCheckpoint | None = None,
        on_idle: Callable[[], None] | None = None,
        guard: LastSignedGuard,
    ) -> None:
        self.store = store
        self.lock = lock
        self._key = key
        self._origin = origin
        self._interval = interval
        self._on_checkpoint = on_checkpoint
        self._on_idle = on_idle
        self._guard = guard
        self._failure: str | None = None
        self._initialised = False
        self._checkpointed_at = -math.inf  # time.monotonic() of the last WAL checkpoint
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-sequencer", daemon=True)

    @property
    def is_sequencer(self) -> bool:
        return self.lock.held

    @property
    def failure(self) -> str | None:
        """Why this sequencer stopped signing (the log would have rolled back), or None."""
        return self._failure

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.lock.release()

    def step(self) -> SignedCheckpoint | None:
        """One round: take the lock if free, then integrate what is pending (nothing pending:
        the ``on_idle`` chore, e.g. catching a witness up). After a refusal
        (:class:`LogRollback`) it signs nothing more; the lock stays held, so that no other
        server's sequencer signs on the same database either."""
        if self._failure is not None:
            return None
        if not self.lock.try_acquire() or not self.lock.still_held():
            return None
        try:
            signed = self._integrate()
        except LogRollback as exc:
            self._failure = str(exc)
            log.critical("the log stopped signing: %s", exc)
            return None
        if time.monotonic() - self._checkpointed_at >= CHECKPOINT_INTERVAL:
            self.store.checkpoint_wal()
            self._checkpointed_at = time.monotonic()
        if signed is not None and self._on_checkpoint is not None:
            self._on_checkpoint(signed)
        elif signed is None and self._on_idle is not None:
            self._on_idle()
        return signed

    def _integrate(self) -> SignedCheckpoint | None:
        guard = self._guard
        if not self._initialised:  # once per process: the state row never goes away
            if self.store.head() is None:
                guard.check_no_tree()
            self.store.initialise(
                self._key, self._origin, _now(), before_publish=guard.before_publish
            )
            self._initialised = True
        head = self.store.head()
        if head is None:
            raise AssertionError("the log state row went away")
        plan = guard.plan(self.store, head)
        signed = self.store.sequence(
            self._key,
            self._origin,
            _now(),
            max_batch=plan.max_batch,
            id_runs=plan.id_runs,
            before_publish=guard.before_publish,
        )
        if signed is None and plan.id_runs is not None:
            raise LogRollback(
                f"the entries of the last round signed ({guard.path}) are no longer pending "
                f"in the database, whose log is size {head.size}: a rollback"
            )
        return signed

    def _run(self) -> None:
        size: int | None = None
        while not self._stop.is_set():
            try:
                signed = self.step()
            except Exception:  # a failed round is logged and retried; nothing was committed
                log.exception("sequencing failed")
                signed = None
            # After a full batch (a backlog) go again at once; after a partial one, pause
            # briefly: under steady load something is always pending, and a round per trickle
            # costs a checkpoint signature, rewritten partial tiles and a WAL checkpoint each
            # time. A longer wait would make each round's commit, which the TSA journals
            # queue behind, longer.
            if signed is None:
                self._stop.wait(self._interval)
            elif size is None or signed.checkpoint.size - size < MAX_BATCH:
                self._stop.wait(min(self._interval, BUSY_PAUSE))
            if signed is not None:
                size = signed.checkpoint.size


def sequencer_for(data_dir: Path, store: LogStore) -> Sequencer:
    """The data directory's sequencer: its log key, origin, interval and witnesses."""
    config = datadir.load_config(data_dir).log
    cosigner = WitnessCosigner(store, platform_keys.witness_keys(config))
    return Sequencer(
        store,
        SequencerLock(store.engine, data_dir / "log.sequencer.lock"),
        platform_keys.load_log_key(data_dir, config),
        config.origin,
        interval=config.interval_ms / 1000,
        on_checkpoint=cosigner,
        on_idle=cosigner.catch_up,
        guard=LastSignedGuard.for_data_dir(data_dir, config.origin),
    )


#: A witness that did not cosign the latest checkpoint is asked again, while the log is idle,
#: after this many seconds; twice as long after each further failure, at most RETRY_MAX.
RETRY_FIRST = 5.0
RETRY_MAX = 300.0


class WitnessCosigner:
    """Asks every configured witness to cosign each new checkpoint (C2SP tlog-witness) and
    stores the cosigned note, which ``GET /log/checkpoint`` then serves; records each
    witness's outcome (:class:`~timeseal.store.log.witnesses.WitnessBook`, shown by
    ``/healthz``).

    Each witness's last known size starts at what it last cosigned; a witness that holds more
    answers 409 with its size, and the request is repeated with a consistency proof from
    there. A witness that is down misses this checkpoint, and :meth:`catch_up` (the
    sequencer's idle chore) asks it again with back-off until it has cosigned the latest one,
    so an outage ends with the served checkpoint cosigned even when no new entry arrives.
    """

    def __init__(
        self,
        store: LogStore,
        witnesses: Sequence[tuple[str, VerifierKey]],
        timeout: float = 5.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._store = store
        self._transport = transport
        self._book = WitnessBook(store.engine)
        self._witnesses = list(witnesses)
        self._known: dict[str, int] = {}
        self._timeout = timeout
        self._clock = clock
        #: Witnesses that missed the latest checkpoint: when to ask again, and the delay.
        self._retry_at: dict[str, float] = {}
        self._delay: dict[str, float] = {}
        self._seeded = False

    def __call__(self, signed: SignedCheckpoint) -> None:
        if self._witnesses:
            self._seed()
            asyncio.run(self.cosign(signed))

    def catch_up(self) -> None:
        """Ask the witnesses that missed the latest checkpoint again, once their back-off has
        passed, adding their cosignatures to the one served."""
        if not self._witnesses:
            return
        self._seed()
        now = self._clock()
        due = [(u, k) for u, k in self._witnesses if self._retry_at.get(u, now + 1) <= now]
        head = self._store.head() if due else None
        if head is None:
            return
        signed = parse_signed_checkpoint(head.checkpoint)
        asyncio.run(self.cosign(signed, due, served=head.served_checkpoint))

    def _seed(self) -> None:
        """Once: each witness's size as last recorded, and which ones are behind the head."""
        if self._seeded:
            return
        self._seeded = True
        states = self._book.states()
        head = self._store.head()
        for url, _key in self._witnesses:
            state = states.get(url)
            cosigned = None if state is None else state.cosigned_size
            if cosigned is not None:
                self._known[url] = cosigned
            if head is not None and head.size > 0 and (cosigned or 0) < head.size:
                self._retry_at[url] = self._clock()

    async def cosign(
        self,
        signed: SignedCheckpoint,
        witnesses: Sequence[tuple[str, VerifierKey]] | None = None,
        *,
        served: bytes | None = None,
    ) -> bytes | None:
        """Ask ``witnesses`` (all by default) to cosign ``signed``; store and return the note
        with their cosignatures added to ``served`` (the note already served for this size,
        with earlier cosignatures), or None if none cosigned."""
        note = format_signed_checkpoint(signed)
        size = signed.checkpoint.size
        asked = self._witnesses if witnesses is None else witnesses
        async with httpx.AsyncClient(timeout=self._timeout, transport=self._transport) as client:
            results = await asyncio.gather(
                *(self._one(client, url, key, note, size) for url, key in asked)
            )
        cosignatures = [c for c in results if c is not None]
        if not cosignatures:
            return None
        cosigned = attach_cosignatures(served or note, cosignatures)
        self._store.store_cosigned(size, cosigned)
        return cosigned

    async def _one(
        self, client: httpx.AsyncClient, url: str, key: VerifierKey, note: bytes, size: int
    ) -> Cosignature | None:
        error = "the witness answered 409 twice"
        for _ in range(2):  # a 409 teaches us the witness's size; then once more
            old = min(self._known.get(url, 0), size)
            try:
                proof = self._store.consistency_proof(old, size) if 0 < old < size else ()
                result = await submit_checkpoint(url, key, note, old, proof, client=client)
            except (WitnessClientError, LookupError) as exc:
                log.warning("witness %s did not cosign size %d: %s", url, size, exc)
                error = str(exc)
                break
            if isinstance(result, Conflict):
                self._known[url] = result.size
                continue
            self._known[url] = size
            self._retry_at.pop(url, None)
            self._delay.pop(url, None)
            self._book.cosigned(url, key.label, size, _now())
            return result
        delay = min(RETRY_MAX, self._delay.get(url, RETRY_FIRST / 2) * 2)
        self._delay[url] = delay
        self._retry_at[url] = self._clock() + delay
        self._book.failed(url, key.label, error, _now())
        return None

"""A witness that was down cosigns the latest checkpoint once it is back, even while the log
is idle (issue 18, point 9), and the log records what each witness last cosigned, which
``/healthz`` shows. The witness is the real one (:mod:`timeseal.witness.server`), reached
through an ASGI transport that can be switched off."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from timeseal.core.tlog import (
    SignatureType,
    VerifierKey,
    format_verifier_key,
    parse_signed_checkpoint,
    parse_verifier_key,
    verify_checkpoint,
)
from timeseal.server.log import sequencer as server_log
from timeseal.server.log.guard import LastSignedGuard
from timeseal.server.log.sequencer import Sequencer, WitnessCosigner
from timeseal.server.log.witness_health import WitnessHealth
from timeseal.server.runtime import datadir, platform_keys
from timeseal.server.runtime.configuration import WitnessConfig
from timeseal.store.db import DATABASE_URL_ENV, create_schema, database_url, make_engine
from timeseal.store.log.lock import SequencerLock
from timeseal.store.log.store import LogStore
from timeseal.store.log.witnesses import WitnessBook
from timeseal.witness.server import DB_FILE, VKEY_FILE, create_witness_app, initialise
from timeseal.witness.store import WitnessStore

WITNESS_URL = "http://witness.test"


class SwitchableTransport(httpx.AsyncBaseTransport):
    """The witness app, or a refused connection while ``down``."""

    def __init__(self, app: object) -> None:
        self._app = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        self.down = False
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        return await self._app.handle_async_request(request)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    store: LogStore
    sequencer: Sequencer
    cosigner: WitnessCosigner
    witness: SwitchableTransport
    wkey: VerifierKey
    log_key: VerifierKey
    clock: Clock


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    data_dir = tmp_path / "data"
    datadir.initialise(data_dir, now=dt.datetime.now(dt.UTC))
    config = datadir.load_config(data_dir).log
    log_key = platform_keys.load_log_key(data_dir, config)
    witness_dir = tmp_path / "witness"
    initialise(witness_dir, name="witness.test/w1")
    WitnessStore(witness_dir / DB_FILE).add_log(
        log_key.verifier_key, config.origin, now=dt.datetime.now(dt.UTC)
    )
    wkey = parse_verifier_key((witness_dir / VKEY_FILE).read_text().strip())
    assert wkey.signature_type is SignatureType.COSIGNATURE_V1
    engine = make_engine(database_url(data_dir, os.environ.get(DATABASE_URL_ENV)))
    create_schema(engine)
    store = LogStore(engine)
    witness = SwitchableTransport(create_witness_app(witness_dir))
    clock = Clock()
    cosigner = WitnessCosigner(store, [(WITNESS_URL, wkey)], clock=clock, transport=witness)
    sequencer = Sequencer(
        store,
        SequencerLock(engine, data_dir / "log.sequencer.lock"),
        log_key,
        config.origin,
        on_checkpoint=cosigner,
        on_idle=cosigner.catch_up,
        guard=LastSignedGuard.for_data_dir(data_dir, config.origin),
    )
    try:
        yield World(store, sequencer, cosigner, witness, wkey, log_key.verifier_key, clock)
    finally:
        sequencer.lock.release()
        engine.dispose()


def _served_is_cosigned(world: World) -> bool:
    head = world.store.head()
    assert head is not None
    signed = parse_signed_checkpoint(head.served_checkpoint)
    return verify_checkpoint(signed, world.log_key, cosigners=[world.wkey]).ok


def _state(world: World) -> tuple[int | None, str | None]:
    state = WitnessBook(world.store.engine).states()[WITNESS_URL]
    return state.cosigned_size, state.error


def test_a_witness_back_from_an_outage_cosigns_the_idle_log(world: World) -> None:
    world.store.append([b"first"])
    assert world.sequencer.step() is not None
    assert _served_is_cosigned(world)
    assert _state(world) == (1, None)

    world.witness.down = True
    world.store.append([b"second", b"third"])
    assert world.sequencer.step() is not None  # size 3, signed while the witness is down
    assert not _served_is_cosigned(world)
    size, error = _state(world)
    assert size == 1 and error is not None and "connection refused" in error

    world.witness.down = False
    asked = world.witness.requests
    assert world.sequencer.step() is None  # idle, and the back-off has not passed yet
    assert world.witness.requests == asked
    world.clock.now += server_log.RETRY_FIRST
    assert world.sequencer.step() is None  # idle: no new checkpoint, but the witness is asked
    assert _served_is_cosigned(world)
    assert _state(world) == (3, None)
    asked = world.witness.requests
    world.clock.now += server_log.RETRY_MAX
    assert world.sequencer.step() is None
    assert world.witness.requests == asked  # caught up: not asked again


def test_the_back_off_doubles_while_the_witness_stays_down(world: World) -> None:
    world.witness.down = True
    world.store.append([b"entry"])
    assert world.sequencer.step() is not None
    delays = []
    for _ in range(8):
        asked = world.witness.requests
        waited = 0.0
        while world.witness.requests == asked:
            world.clock.now += 1.0
            waited += 1.0
            world.sequencer.step()
        delays.append(waited)
    assert delays[:3] == [
        server_log.RETRY_FIRST,
        2 * server_log.RETRY_FIRST,
        4 * server_log.RETRY_FIRST,
    ]
    assert max(delays) == server_log.RETRY_MAX


def test_a_restarted_sequencer_catches_up_what_its_predecessor_missed(world: World) -> None:
    world.witness.down = True
    world.store.append([b"entry"])
    assert world.sequencer.step() is not None
    world.witness.down = False
    # A new process: nothing in memory, only what the log recorded.
    fresh = WitnessCosigner(
        world.store, [(WITNESS_URL, world.wkey)], clock=world.clock, transport=world.witness
    )
    fresh.catch_up()
    assert _served_is_cosigned(world)


def test_healthz_shows_each_witness(world: World) -> None:
    config = WitnessConfig(url=WITNESS_URL, vkey=format_verifier_key(world.wkey))
    health = WitnessHealth(world.store, [config])
    assert health() == [
        {
            "url": WITNESS_URL,
            "key": world.wkey.name,
            "cosigned_size": None,
            "cosigned_at": None,
            "behind": 0,
            "last_error": None,
        }
    ]
    world.store.append([b"a"])
    world.sequencer.step()
    world.witness.down = True
    world.store.append([b"b"])
    world.sequencer.step()
    (report,) = health()
    assert report["cosigned_size"] == 1 and report["behind"] == 1
    assert "connection refused" in str(report["last_error"])
    assert str(report["cosigned_at"]).endswith("Z")
    assert WitnessHealth(world.store, [])() == []

"""The shared journal process (:mod:`timeseal.server.journal.process`), run as the supervisor
runs it, with workers' clients (:class:`RemoteJournal`) talking to it: every acknowledged entry
is in the journal and the log, a failed commit fails only its own batch, a broken peer is
dropped alone, and a journal process that dies (kill -9) or is replaced loses nothing it
acknowledged while the clients carry on with its successor."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import multiprocessing as mp
import os
import signal
import socket
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from pathlib import Path

import httpx
import pytest

from tests.support.postgres import postgres_url_or_skip, scratch_database
from tests.support.processes import children, listening_unix, wait_for
from tests.support.server import LiveServer, live_server
from timeseal.core.tsp.request import build_request
from timeseal.core.tsp.response import FailureInfo, PKIStatus, TimeStampResponse, parse_response
from timeseal.server.journal import process as journal_process
from timeseal.server.journal.client import JournalCommitFailed, JournalUnavailable, RemoteJournal
from timeseal.server.runtime import datadir
from timeseal.store.db import DATABASE_URL_ENV, create_schema, database_url, make_engine
from timeseal.store.issuance import JournalEntry, iter_journal
from timeseal.store.log.store import LogStore

pytestmark = pytest.mark.e2e


def entry(n: int, epoch: int = 5) -> JournalEntry:
    return JournalEntry(
        serial_number=(epoch << 64) | n,
        gen_time=dt.datetime(2026, 12, 6, 9, 30, 0, (n % 1000) * 1000, tzinfo=dt.UTC),
        hash_algorithm="SHA256",
        message_imprint=n.to_bytes(32, "big"),
        policy="2.25.77",
        token_sha256=bytes(32),
    )


def start(data_dir: Path, path: Path) -> BaseProcess:
    # The process opens the data directory's database, which needs the data directory.
    datadir.initialise(data_dir, now=dt.datetime.now(dt.UTC))
    process = mp.get_context("spawn").Process(
        target=journal_process.run, args=(data_dir, os.environ.get(DATABASE_URL_ENV), path)
    )
    process.start()
    return process


def stop(process: BaseProcess, sig: int = signal.SIGTERM) -> None:
    if process.is_alive() and process.pid is not None:
        os.kill(process.pid, sig)
    process.join(30)
    assert not process.is_alive()


@contextmanager
def journal_at(data_dir: Path) -> Iterator[tuple[Path, list[BaseProcess]]]:
    """The journal process for ``data_dir``; the list holds it and any successor a test
    starts, all stopped at the end."""
    path = data_dir / "journal.sock"
    processes = [start(data_dir, path)]
    try:
        yield path, processes
    finally:
        for process in processes:
            stop(process)


def journalled(data_dir: Path) -> list[JournalEntry]:
    engine = make_engine(database_url(data_dir, os.environ.get(DATABASE_URL_ENV)))
    try:
        return [e for _, e in iter_journal(engine)]
    finally:
        engine.dispose()


def pending_leaves(data_dir: Path) -> int:
    engine = make_engine(database_url(data_dir, os.environ.get(DATABASE_URL_ENV)))
    try:
        return LogStore(engine).pending_count()
    finally:
        engine.dispose()


async def settle(futures: list[asyncio.Future[None]]) -> list[BaseException | None]:
    return list(await asyncio.gather(*futures, return_exceptions=True))


def check_two_workers_commit_together(data_dir: Path) -> None:
    with journal_at(data_dir) as (path, _):

        async def scenario() -> list[BaseException | None]:
            a = await RemoteJournal.connect(path)
            b = await RemoteJournal.connect(path)
            try:
                futures = []
                for n in range(1, 401):
                    futures.append((a if n % 2 else b).record(entry(n)))
                    if n % 50 == 0:
                        await asyncio.sleep(0)  # a new batch, as a new turn of a worker's loop
                return await settle(futures)
            finally:
                a.close()
                b.close()

        outcomes = asyncio.run(scenario())
    assert outcomes == [None] * 400
    got = sorted(journalled(data_dir), key=lambda e: e.serial_number)
    assert got == [entry(n) for n in range(1, 401)]
    assert pending_leaves(data_dir) == 400


def test_entries_from_two_workers_are_journalled_and_logged(tmp_path: Path) -> None:
    check_two_workers_commit_together(tmp_path)


@pytest.mark.postgres
def test_entries_from_two_workers_are_journalled_on_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with scratch_database(postgres_url_or_skip()) as url:
        monkeypatch.setenv(DATABASE_URL_ENV, url)  # passed to the spawned process by start()
        engine = make_engine(url)
        create_schema(engine)
        engine.dispose()
        check_two_workers_commit_together(tmp_path)


def test_the_socket_is_for_its_owner_only(tmp_path: Path) -> None:
    with journal_at(tmp_path) as (path, _):

        async def connected() -> None:
            (await RemoteJournal.connect(path)).close()

        asyncio.run(connected())
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_failed_commit_fails_its_batch_only(tmp_path: Path) -> None:
    with journal_at(tmp_path) as (path, _):

        async def scenario() -> tuple[list[BaseException | None], list[BaseException | None]]:
            journal = await RemoteJournal.connect(path)
            try:
                assert await settle([journal.record(entry(1))]) == [None]
                # The same serial again: the journal's unique index refuses the commit.
                failed = await settle([journal.record(entry(1)), journal.record(entry(2))])
                later = await settle([journal.record(entry(3))])
                return failed, later
            finally:
                journal.close()

        failed, later = asyncio.run(scenario())
    assert [type(e) for e in failed] == [JournalCommitFailed, JournalCommitFailed]
    assert later == [None]
    assert [e.serial_number & 0xFFFF for e in journalled(tmp_path)] == [1, 3]


def test_a_broken_peer_is_dropped_and_the_others_go_on(tmp_path: Path) -> None:
    with journal_at(tmp_path) as (path, _):

        async def scenario() -> list[BaseException | None]:
            journal = await RemoteJournal.connect(path)
            rogue = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                rogue.connect(str(path))
                rogue.sendall(b"\xff" * 12)  # a batch "of 4 GiB"
                rogue.settimeout(10)
                assert rogue.recv(16) == b"", "the journal process must close the connection"
                return await settle([journal.record(entry(n)) for n in range(1, 4)])
            finally:
                rogue.close()
                journal.close()

        assert asyncio.run(scenario()) == [None] * 3
    assert len(journalled(tmp_path)) == 3


def test_kill_9_loses_nothing_acknowledged_and_clients_carry_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(RemoteJournal, "RECONNECT_GRACE", 60.0)  # a slow machine's restart
    with journal_at(tmp_path) as (path, processes):

        async def scenario() -> tuple[list[BaseException | None], list[BaseException | None]]:
            journal = await RemoteJournal.connect(path)
            try:
                futures = []
                for n in range(1, 201):
                    futures.append(journal.record(entry(n)))
                    if n % 10 == 0:
                        await asyncio.sleep(0)  # 20 batches: some committed, some in flight
                pid = processes[0].pid
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
                during = await settle(futures)
                processes[0].join(10)
                # Recorded while no journal process runs: these wait for the successor.
                waiting = [journal.record(entry(n)) for n in range(201, 211)]
                await asyncio.sleep(0.3)
                assert not any(f.done() for f in waiting)
                processes.append(start(tmp_path, path))
                return during, await settle(waiting)
            finally:
                journal.close()

        during, after = asyncio.run(scenario())
    assert after == [None] * 10
    assert all(e is None or isinstance(e, JournalUnavailable) for e in during), during
    acknowledged = {(5 << 64) | n for n, e in enumerate(during, start=1) if e is None}
    serials = [e.serial_number for e in journalled(tmp_path)]
    assert len(set(serials)) == len(serials)
    assert acknowledged <= set(serials), "an acknowledged entry is missing"
    assert {(5 << 64) | n for n in range(201, 211)} <= set(serials)


def test_a_replacement_takes_over_the_socket(tmp_path: Path) -> None:
    """As on SIGHUP: the successor starts beside the old process and takes the path over; the
    old one is stopped, and its clients reconnect to the successor."""
    with journal_at(tmp_path) as (path, processes):

        async def scenario() -> list[BaseException | None]:
            journal = await RemoteJournal.connect(path)
            try:
                assert await settle([journal.record(entry(1))]) == [None]
                old_inode = path.stat().st_ino
                processes.append(start(tmp_path, path))
                while path.stat().st_ino == old_inode:
                    await asyncio.sleep(0.05)
                stop(processes[0])
                await asyncio.sleep(0.1)
                return await settle([journal.record(entry(n)) for n in range(2, 12)])
            finally:
                journal.close()

        assert asyncio.run(scenario()) == [None] * 10
        assert processes[1].is_alive()
    assert len(journalled(tmp_path)) == 11


def test_no_journal_process_fails_entries_after_the_grace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(RemoteJournal, "RECONNECT_GRACE", 0.5)
    with journal_at(tmp_path) as (path, processes):

        async def scenario() -> list[BaseException | None]:
            journal = await RemoteJournal.connect(path)
            try:
                stop(processes[0])
                await asyncio.sleep(0.1)
                return await settle([journal.record(entry(1))])
            finally:
                journal.close()

        outcome = asyncio.run(scenario())
    assert [type(e) for e in outcome] == [JournalUnavailable]
    assert journalled(tmp_path) == []


def test_connect_gives_up_when_nothing_listens(tmp_path: Path) -> None:
    async def scenario() -> None:
        await RemoteJournal.connect(tmp_path / "nobody.sock", timeout=0.3)

    with pytest.raises(JournalUnavailable, match="no journal process"):
        asyncio.run(scenario())


def stamp(server: LiveServer, i: int) -> TimeStampResponse:
    body = build_request(hashlib.sha256(i.to_bytes(4, "big")).digest(), nonce=i).der
    reply = httpx.post(
        server.tsa_url,
        content=body,
        headers={"content-type": "application/timestamp-query"},
        timeout=90,
    )
    assert reply.status_code == 200
    return parse_response(reply.content)


def serial(response: TimeStampResponse) -> int:
    assert response.status is PKIStatus.GRANTED, response.status_text
    assert response.token is not None
    return response.token.tst_info.serial_number


def test_serve_journals_every_workers_tokens_through_one_process(tmp_path: Path) -> None:
    """``timeseal serve --workers 2``: one journal process; after a kill -9 of it, every reply
    is still either a journalled token or ``systemFailure``, and a replacement takes over."""
    with live_server(tmp_path / "data", workers=2) as server:

        def journals() -> list[int]:
            return listening_unix(children(server.process.pid), "journal.sock")

        wait_for(lambda: len(journals()) == 1, "the journal process")
        (first,) = journals()
        issued = [serial(stamp(server, i)) for i in range(20)]

        os.kill(first, signal.SIGKILL)
        for i in range(20, 40):
            response = stamp(server, i)
            if response.status is PKIStatus.GRANTED:
                issued.append(serial(response))
            else:
                assert response.failure_info == {FailureInfo.SYSTEM_FAILURE}, response.status_text
        wait_for(lambda: len(journals()) == 1 and journals()[0] != first, "a new journal process")
        issued += [serial(stamp(server, i)) for i in range(40, 60)]

    journal = {e.serial_number for e in journalled(tmp_path / "data")}
    assert len(issued) >= 40
    assert set(issued) <= journal, "a token left the server without its journal entry"


def test_close_fails_what_is_not_acknowledged_at_once(tmp_path: Path) -> None:
    with journal_at(tmp_path) as (path, _):

        async def scenario() -> list[BaseException | None]:
            journal = await RemoteJournal.connect(path)
            sent = journal.record(entry(1))
            await asyncio.sleep(0)  # the batch goes out
            queued = journal.record(entry(2))
            journal.close()
            assert sent.done() and queued.done()
            after = journal.record(entry(3))
            return await settle([sent, queued, after])

        outcome = asyncio.run(scenario())
    assert [type(e) for e in outcome] == [JournalUnavailable] * 3

"""The issuance journal in a process of its own, shared by all the HTTP workers.

With a journal per worker, every worker's commits took turns for the one SQLite file, and each
commit ran on a thread that had to win its worker's GIL back from the event loop for every
statement: a commit that takes 0.3 ms alone held the database for 0.8 ms on average, and the
workers' fsyncs followed one another. This process is one writer with no event loop to
compete with: whatever all the workers sent while a commit ran goes into the next commit, so
one fsync covers the tokens of every worker.

The workers send their batches over a Unix socket (:mod:`timeseal.server.journal.wire`,
:class:`timeseal.server.journal.client.RemoteJournal`); a batch is acknowledged once committed.
``timeseal serve`` with several workers starts one (see :mod:`timeseal.server.runtime.workers`); a
single-process server keeps :class:`~timeseal.store.issuance.IssuanceJournal` in-process.
"""

from __future__ import annotations

import logging
import os
import selectors
import socket
import sys
import threading
from pathlib import Path

from timeseal.server.journal.wire import COMMITTED, FAILED, BatchReader, WireError, encode_ack
from timeseal.server.runtime.configuration import DataDirError
from timeseal.server.runtime.database import open_database
from timeseal.server.runtime.workers import STARTUP_FAILURE, companion_stop_event
from timeseal.store.issuance import JournalEntry, JournalWriter

log = logging.getLogger("timeseal.journal")

#: How often the loop looks up from its sockets to see whether it should stop.
POLL_INTERVAL = 0.2
_READ_SIZE = 256 * 1024


def listen(path: Path) -> socket.socket:
    """A listening socket at ``path``, swapped in atomically: a replacement process (SIGHUP)
    takes the path over while its predecessor still serves the workers connected to it."""
    partial = path.with_name(f"{path.name}.{os.getpid()}")
    partial.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(partial))
        os.chmod(partial, 0o600)
        listener.listen(64)
        os.replace(partial, path)
    except BaseException:
        listener.close()
        partial.unlink(missing_ok=True)
        raise
    listener.setblocking(False)
    return listener


class _Peer:
    """One worker's connection: the batches it sent, the acknowledgements it is owed."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = BatchReader()
        self.ready: list[tuple[int, list[JournalEntry]]] = []
        self.outgoing = b""


class JournalServer:
    """Commits what the connected workers send, a batch of batches at a time, on one thread.

    Each turn of the loop reads whatever every worker has sent, commits all of it in one
    transaction (:class:`~timeseal.store.issuance.JournalWriter`), then acknowledges each
    batch: the batches that arrive during a commit make up the next one. A failed commit
    fails its batches (the workers answer ``systemFailure``) and the loop goes on.
    """

    def __init__(self, listener: socket.socket, writer: JournalWriter) -> None:
        self._listener = listener
        self._writer = writer
        self._selector = selectors.DefaultSelector()
        self._selector.register(listener, selectors.EVENT_READ, None)
        self._peers: dict[int, _Peer] = {}

    def serve(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set; then close every connection."""
        try:
            while not stop.is_set():
                for key, events in self._selector.select(POLL_INTERVAL):
                    if key.data is None:
                        self._accept()
                    elif events & selectors.EVENT_READ:
                        self._read(key.data)
                    if key.data is not None and events & selectors.EVENT_WRITE:
                        self._flush(key.data)
                self._commit_ready()
        finally:
            for peer in list(self._peers.values()):
                self._drop(peer)
            self._selector.close()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            peer = _Peer(sock)
            self._peers[sock.fileno()] = peer
            self._selector.register(sock, selectors.EVENT_READ, peer)

    def _read(self, peer: _Peer) -> None:
        try:
            data = peer.sock.recv(_READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(peer)
            return
        try:
            peer.ready += peer.reader.feed(data)
        except WireError as exc:
            log.error("dropping a journal connection: %s", exc)
            self._drop(peer)

    def _commit_ready(self) -> None:
        waiting = [peer for peer in self._peers.values() if peer.ready]
        if not waiting:
            return
        entries = [e for peer in waiting for _, batch in peer.ready for e in batch]
        try:
            self._writer.write(entries)
            status = COMMITTED
        except Exception:
            log.exception("journal commit of %d entries failed", len(entries))
            status = FAILED
        for peer in waiting:
            peer.outgoing += b"".join(encode_ack(batch_id, status) for batch_id, _ in peer.ready)
            peer.ready = []
            self._flush(peer)

    def _flush(self, peer: _Peer) -> None:
        if peer.sock.fileno() not in self._peers:
            return
        try:
            sent = peer.sock.send(peer.outgoing) if peer.outgoing else 0
        except BlockingIOError:
            sent = 0
        except OSError:
            self._drop(peer)
            return
        peer.outgoing = peer.outgoing[sent:]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if peer.outgoing else 0)
        self._selector.modify(peer.sock, events, peer)

    def _drop(self, peer: _Peer) -> None:
        if self._peers.pop(peer.sock.fileno(), None) is None:
            return
        self._selector.unregister(peer.sock)
        peer.sock.close()


def run(data_dir: Path, database_url: str | None, socket_path: Path) -> None:
    """The process: journal until SIGTERM or SIGINT. A failure before it listens exits with
    the supervisor's start-up failure status (it would only fail again)."""
    stop = companion_stop_event()
    try:
        engine = open_database(data_dir, database_url)
        writer = JournalWriter(engine)
        listener = listen(socket_path)
    except DataDirError as exc:  # e.g. another database than the data directory's
        log.error("the journal process cannot start: %s", exc)
        sys.exit(STARTUP_FAILURE)
    except Exception:
        log.exception("the journal process could not start")
        sys.exit(STARTUP_FAILURE)
    log.info("journal process %d started", os.getpid())
    try:
        JournalServer(listener, writer).serve(stop)
    finally:
        listener.close()
        writer.close()
        engine.dispose()

"""The worker that does what offline queue entries owe (tokens, uploads, cases).

Each entry of :mod:`timeseal.capture.offline.queue` is worked through item by item:

1. The file must still be the file that was captured (same SHA-256); a changed or missing
   file is reported and its entry kept — a token over other bytes would prove nothing.
2. A missing ``FILE.tsr`` is fetched from the server's TSA. Its genTime is *now*, the sync
   time, later than the capture: the token (and any certificate made from it) says so, and
   the output prints it; nothing claims the capture time.
3. An item to upload goes through the resumable :class:`~timeseal.cli.vault.tus.TusUploader`
   with the capture's metadata (:mod:`timeseal.capture.offline.upload_meta`) and a progress bar.
   The tus URL is written to the entry before any byte is sent, so a rerun after ``kill -9``
   asks the server whether that upload was already sealed (``HEAD``) before uploading; the
   bytes themselves resume from ``uploads.json``. So nothing is uploaded twice.
4. A web capture uploaded with ``--upload`` then becomes one case, whose evidence package is
   downloaded beside it as ``package.zip`` (:mod:`timeseal.cli.capture.case`).
5. An entry that owes nothing more is removed.

Every change to an entry is written at once, atomically. ``timeseal sync`` and the captures'
``--upload`` both call :func:`run_queue`, so an immediate upload and a later one cannot differ.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from rich.progress import Progress, TaskID

from timeseal.capture.clients.tsa import TSAClient, TSAClientError
from timeseal.capture.offline import queue as offline_queue
from timeseal.capture.offline.file_seal import file_sha256, stamp_file, token_covers, token_gen_time
from timeseal.capture.offline.queue import CaseTarget, PendingItem, QueueEntry
from timeseal.capture.offline.upload_meta import CaptureMetadataError, capture_metadata, encoded
from timeseal.cli.capture.case import assemble_case
from timeseal.cli.credentials import stored_token
from timeseal.cli.server_client import ServerCallFailed, make_client, resolve_server
from timeseal.cli.vault.transfer import DEFAULT_BACKOFF, DEFAULT_RETRIES, RetryPolicy, progress_bar
from timeseal.cli.vault.tus import CHUNK_SIZE, TusUploader
from timeseal.cli.verify.report import format_time


class QueueWorker:
    """Works queue entries against one server: its TSA for tokens, its vault for uploads
    (``uploader`` None: not logged in, uploads stay queued)."""

    def __init__(
        self,
        tsa: TSAClient,
        uploader: TusUploader | None,
        progress: Progress,
        *,
        directory: Path | None = None,
    ) -> None:
        self.tsa = tsa
        self.uploader = uploader
        self.progress = progress
        self.directory = directory
        self.problems: list[str] = []
        self._tsa_down = False
        self._vault_down = False

    def _say(self, message: str) -> None:
        self.progress.console.print(message, markup=False, highlight=False, soft_wrap=True)

    def _problem(self, message: str) -> None:
        self.problems.append(message)
        self._say(f"✗ {message}")

    def work(self, entry: QueueEntry) -> bool:
        """Do what ``entry`` owes; True when it is done (and removed from the queue)."""
        meta: str | None = None
        for item in entry.items:
            if item.done or not self._unchanged(item):
                continue
            if item.needs_token:
                self._token(entry, item)
            if item.upload and item.number is None:
                if meta is None:
                    meta = self._metadata(entry)
                    if meta is None:
                        return False
                self._upload(entry, item, meta)
        if entry.items_done and entry.case is not None and not entry.case.done:
            self._assemble(entry, entry.case)
        if entry.done:
            offline_queue.remove(entry, self.directory)
            return True
        return False

    def _unchanged(self, item: PendingItem) -> bool:
        try:
            now = file_sha256(item.path).hex()
        except OSError as exc:
            self._problem(f"{item.path}: {exc}")
            return False
        if now != item.sha256:
            self._problem(
                f"{item.path}: 文件在取证后被修改 changed since it was captured "
                f"(SHA-256 {item.sha256} then, {now} now); kept in the queue"
            )
            return False
        return True

    def _token(self, entry: QueueEntry, item: PendingItem) -> None:
        sha = bytes.fromhex(item.sha256)
        if not token_covers(item.path, sha):
            if self._tsa_down:
                return
            try:
                token = stamp_file(self.tsa, item.path, sha)
            except TSAClientError as exc:
                self._tsa_down = True
                self._problem(f"时间戳服务不可达 TSA unreachable, tokens stay queued: {exc}")
                return
            self._say(
                f"⏱ {token}  不晚于 existed no later than {format_time(token_gen_time(token))}"
                " (同步时获取，晚于取证时间 fetched now, at sync, after the capture)"
            )
        item.needs_token = False
        offline_queue.save(entry, self.directory)

    def _metadata(self, entry: QueueEntry) -> str | None:
        try:
            return encoded(capture_metadata(entry.capture_json.read_bytes()))
        except (OSError, CaptureMetadataError) as exc:
            self._problem(f"{entry.capture_json}: {exc}")
            return None

    def _upload(self, entry: QueueEntry, item: PendingItem, meta: str) -> None:
        if self.uploader is None or self._vault_down:
            if self.uploader is None and not self._vault_down:
                self._vault_down = True
                self._problem("未登录 not logged in: uploads stay queued (`timeseal login`)")
            return
        uploader = self.uploader
        try:
            if item.upload_url is not None:
                item.number = uploader.finished_number(item.upload_url)
            if item.number is None:
                item.number = self._send(entry, item, uploader, meta)
        except ServerCallFailed as exc:
            self._problem(f"{item.path}: {exc}")
            self._vault_down = exc.retryable
            return
        except OSError as exc:
            self._problem(f"{item.path}: {exc}")
            return
        offline_queue.save(entry, self.directory)
        self._say(f"✓ {item.path} -> {item.number}")

    def _assemble(self, entry: QueueEntry, case: CaseTarget) -> None:
        """The capture's items as one case, and its package beside the capture."""
        if self.uploader is None or self._vault_down:
            if self.uploader is None and not self._vault_down:
                self._vault_down = True
                self._problem("未登录 not logged in: the case stays queued (`timeseal login`)")
            return
        try:
            sha256 = assemble_case(
                self.uploader.client,
                entry,
                case,
                save=lambda e: offline_queue.save(e, self.directory),
                policy=self.uploader.policy,
            )
        except ServerCallFailed as exc:
            self._problem(f"案件 case {case.title}: {exc}")
            self._vault_down = exc.retryable
            return
        except OSError as exc:
            self._problem(f"{case.package}: {exc}")
            return
        self._say(f"✓ 案件 case {case.id}: {case.title}")
        self._say(f"✓ {case.package}  SHA-256 {sha256} ✓  (timeseal verify {case.package})")

    def _send(self, entry: QueueEntry, item: PendingItem, uploader: TusUploader, meta: str) -> str:
        progress = self.progress
        hashing = progress.add_task(f"SHA-256 {item.path.name}", total=item.size)
        sending = progress.add_task(f"上传 upload {item.path.name}", total=item.size, visible=False)

        def hashed(n: int, task: TaskID = hashing) -> None:
            progress.advance(task, n)

        def show(offset: int, total: int) -> None:
            progress.update(hashing, visible=False)
            progress.update(sending, completed=offset, total=total, visible=True)

        def created(url: str) -> None:
            item.upload_url = url
            offline_queue.save(entry, self.directory)

        return uploader.upload(
            item.path,
            kind=item.kind,
            title=item.title,
            hashing=hashed,
            sending=show,
            capture=meta,
            created=created,
        )


def run_queue(
    entries: list[QueueEntry],
    server: str | None,
    *,
    retries: int = DEFAULT_RETRIES,
    transport: httpx.BaseTransport | None = None,
    directory: Path | None = None,
    chunk_size: int | None = None,
    backoff: float = DEFAULT_BACKOFF,
) -> list[str]:
    """Work ``entries`` (grouped by server; ``server`` overrides each entry's own); the
    problems met. ``transport``, ``chunk_size`` and ``backoff`` are for tests."""
    problems: list[str] = []
    groups: dict[str, list[QueueEntry]] = {}
    for entry in entries:
        base = resolve_server(server or entry.server)
        groups.setdefault(base, []).append(entry)
    for base, mine in groups.items():
        token = stored_token(base) if any(i.upload for e in mine for i in e.items) else None
        client = make_client(base, token or "", transport)
        uploader = None
        if token is not None:
            uploader = TusUploader(
                client,
                base,
                chunk_size=chunk_size or CHUNK_SIZE,
                policy=RetryPolicy(retries=retries, backoff=backoff),
            )
        with client, TSAClient(base, transport=transport) as tsa, progress_bar() as progress:
            worker = QueueWorker(tsa, uploader, progress, directory=directory)
            for entry in mine:
                worker.work(entry)
            problems.extend(worker.problems)
    return problems

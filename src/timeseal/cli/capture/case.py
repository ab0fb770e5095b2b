"""A capture's sealed items as one case, and the case's evidence package beside the capture.

The last step of ``capture web --upload`` (and of the ``timeseal sync`` that finishes it):
once every item of the capture has its evidence number,

1. the case is created, titled after the capture (unless ``--case`` named one), and its id is
   written to the queue entry at once, so a rerun after ``kill -9`` never makes a second case;
2. every item is added to it in the capture's order (adding an item twice changes nothing);
3. the case's package (evidence package v1, docs/package-format.md) is downloaded to
   ``DIR/package.zip`` (resumable, checked against the server's SHA-256; a package asked for
   before the items reached the public log is retried until they have).
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from timeseal.capture.offline.queue import CaseTarget, QueueEntry
from timeseal.cli.credentials import stored_token
from timeseal.cli.server_client import ServerCallFailed, call_api, make_client, resolve_server
from timeseal.cli.vault.download import download_package
from timeseal.cli.vault.transfer import RetryPolicy

#: The server's limit on case titles (``CaseCreate.title``).
MAX_TITLE = 255
_DESCRIPTION = "由 timeseal capture web --upload 创建 Made by timeseal capture web --upload"


def assemble_case(
    client: httpx.Client,
    entry: QueueEntry,
    case: CaseTarget,
    *,
    save: Callable[[QueueEntry], object],
    policy: RetryPolicy | None = None,
) -> str:
    """Do the steps above for ``entry`` (whose items are all sealed), writing it with
    ``save`` after each step that must survive; the package's SHA-256. Raises
    :class:`ServerCallFailed` (the entry then keeps what was done so far)."""
    if case.id is None:
        made = call_api(
            client,
            "POST",
            "/api/v1/cases",
            expect=201,
            json={"title": case.title[:MAX_TITLE], "description": _DESCRIPTION},
        )
        case.id = int(made["id"])
        save(entry)
    for item in entry.items:
        if item.number is not None:
            call_api(client, "PUT", f"/api/v1/cases/{case.id}/items/{item.number}", json={})
    sha256 = download_package(
        client, f"/api/v1/cases/{case.id}/package", case.package, policy=policy
    )
    case.done = True
    save(entry)
    return sha256


def unknown_case(server: str | None, case_id: int) -> str | None:
    """Why ``--case case_id`` cannot be used, asked before the capture starts: the server
    does not know it (or it is not ours). None when it exists, and also when we cannot ask
    now (offline, not logged in): the queued upload then finds out."""
    base = resolve_server(server)
    token = stored_token(base)
    if token is None:
        return None
    with make_client(base, token) as client:
        try:
            call_api(client, "GET", f"/api/v1/cases/{case_id}")
        except ServerCallFailed as exc:
            return None if exc.retryable else str(exc)
    return None

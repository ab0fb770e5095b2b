"""``timeseal sync``'s first step: recordings that stopped owing a head token.

For every recording :mod:`timeseal.capture.recording.state` lists (killed, or stopped while
the TSA was unreachable), the newest head of its chain is timestamped by the recording's
server (or ``--server``), the token written to ``tokens/``, and the recording taken off the
list. The token's time is the sync time and is printed as such: it proves the chained
segments existed no later than now, nothing about when they were recorded (their earlier
tokens say that for the segments they cover).

Then every recording made with ``--upload`` whose segments the server does not all have yet
(server unreachable, not logged in, ``kill -9``; :mod:`timeseal.capture.recording.live_upload`) gets
the rest, from the server's ``next_index``, and is finished there after a normal stop.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

import typer

from timeseal.capture.clients.recordings import RecordingApi, RecordingApiError
from timeseal.capture.clients.tsa import TSAClient, TSAClientError
from timeseal.capture.recording import live_upload
from timeseal.capture.recording import state as recording_state
from timeseal.capture.recording.live_upload import LiveUpload
from timeseal.capture.recording.state import RecordingState
from timeseal.cli.credentials import stored_token
from timeseal.cli.server_client import resolve_server
from timeseal.cli.verify.report import format_time
from timeseal.core.errors import MalformedError


class _Listed(Protocol):
    @property
    def directory(self) -> Path: ...


_L = TypeVar("_L", bound=_Listed)


def _each(listed: list[_L], problems: list[str], handle: Callable[[_L], str | None]) -> list[str]:
    """``handle`` every listed recording; the listing's problems and theirs (each printed)."""
    for message in problems:
        typer.echo(f"✗ {message}", err=True)
    for entry in listed:
        problem = handle(entry)
        if problem is not None:
            typer.echo(f"✗ {entry.directory}: {problem}", err=True)
            problems.append(f"{entry.directory}: {problem}")
    return problems


def seal_recordings(server: str | None) -> list[str]:
    """Seal the newest head of every listed recording; the problems met (each printed). A
    recording whose directory is gone is dropped from the list, with a message."""
    states, problems = recording_state.registered()
    return _each(states, problems, lambda state: _seal_one(state, server))


def _seal_one(state: RecordingState, server: str | None) -> str | None:
    directory = state.directory
    if not (directory / recording_state.CHAIN_NAME).is_file():
        recording_state.unregister(state.recording_id)
        typer.echo(f"– {directory}: 录像已不存在 the recording is gone; taken off the list")
        return None
    base = resolve_server(server or state.server)
    try:
        with TSAClient(base) as client:
            started = recording_state.seal_start_metadata(directory, client.stamp_digest)
            sealed = recording_state.seal_newest_head(directory, client.stamp_digest)
    except TSAClientError as exc:
        return f"时间戳服务不可达 TSA unreachable, the newest head stays pending: {exc}"
    except (MalformedError, OSError) as exc:
        return f"chain.jsonl: {exc}"
    recording_state.unregister(state.recording_id)
    if started is not None and started.response.token is not None:
        when = format_time(started.response.token.tst_info.gen_time)
        typer.echo(f"⏱ {directory / recording_state.START_NAME}.tsr  {when} (fetched at sync)")
    if sealed is None:
        typer.echo(f"✓ {directory}: 最新链头已有时间戳 the newest head is already sealed")
        return None
    head, result = sealed
    assert result.response.token is not None
    when = format_time(result.response.token.tst_info.gen_time)
    typer.echo(
        f"⏱ {head.token} → link[{head.index}]  不晚于 existed no later than {when}"
        " (同步时获取，晚于录制时间 fetched now, at sync, after the recording)"
    )
    return None


def upload_live_recordings(server: str | None) -> list[str]:
    """Send every ``--upload`` recording's segments that the server lacks; the problems met
    (each printed). A recording whose directory is gone is dropped from the list."""
    uploads, problems = live_upload.registered()
    return _each(uploads, problems, lambda upload: _upload_one(upload, server))


def _upload_one(upload: LiveUpload, server: str | None) -> str | None:
    directory = upload.directory
    if not (directory / live_upload.CHAIN_NAME).is_file():
        live_upload.unregister(upload.recording_id)
        typer.echo(f"– {directory}: 录像已不存在 the recording is gone; taken off the list")
        return None
    base = resolve_server(server or upload.server)
    token = stored_token(base)
    if token is None:
        return f"未登录 not logged in to {base}: run `timeseal login --server {base}`"
    try:
        with RecordingApi(base, token) as api:
            sent = live_upload.send_rest(api, upload)
    except RecordingApiError as exc:
        if exc.code != "recording_closed":
            return f"上传未完成 upload not finished: {exc}"
        # Idle too long, the server cut it off and filed what it had: sealed as it is.
        live_upload.unregister(upload.recording_id)
        typer.echo(
            f"– {directory}: 服务器已将该录制作为截断录像归档 the server filed the recording "
            "as cut off; the rest stays local"
        )
        return None
    except (MalformedError, OSError, ValueError) as exc:
        return f"{exc}"
    live_upload.unregister(upload.recording_id)
    if sent.evidence is not None:
        typer.echo(f"✓ {directory}: 已上传 uploaded as evidence {sent.evidence}")
    else:
        typer.echo(
            f"✓ {directory}: 服务器已收到全部 {sent.sent} 段（录制被截断）"
            f" the server has all {sent.sent} segments (the recording was cut off)"
        )
    return None

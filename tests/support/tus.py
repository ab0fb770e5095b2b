"""Uploading through the tus API (``/api/v1/uploads``) in tests: the protocol header, the
``Upload-Metadata`` encoding, and a whole upload in one PATCH, over any httpx client (a
``TestClient`` on the app, or an ``httpx.Client`` on a live server)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping

import httpx
from starlette.testclient import TestClient

TUS = {"Tus-Resumable": "1.0.0"}
#: The headers of every tus ``PATCH`` besides ``Upload-Offset``.
PATCH = {**TUS, "Content-Type": "application/offset+octet-stream"}


def tus_metadata(**values: str) -> str:
    """``Upload-Metadata``: each key, a space, its value in base64; comma-separated (tus 1.0.0)."""
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def upload_whole(
    client: TestClient | httpx.Client, headers: Mapping[str, str], data: bytes, **metadata: str
) -> Mapping[str, str]:
    """Create a tus upload of ``data`` with ``metadata`` and send all of it in one PATCH, with
    ``headers`` (the caller's credentials) on both; the PATCH answer's headers. Both must
    succeed (201, then 204: the record is sealed)."""
    created = client.post(
        "/api/v1/uploads",
        headers={
            **headers,
            **TUS,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": tus_metadata(**metadata),
        },
    )
    assert created.status_code == 201, created.text
    sent = client.patch(
        created.headers["location"],
        content=data,
        headers={
            **headers,
            **PATCH,
            "Upload-Offset": "0",
        },
    )
    assert sent.status_code == 204, sent.text
    return sent.headers


def create_upload(
    client: TestClient | httpx.Client,
    auth: Mapping[str, str],
    data: bytes,
    sha: str | None = None,
    filename: str = "clip.mp4",
) -> str:
    """Create a tus upload declaring ``data``'s length and SHA-256 (or ``sha``, to declare a
    wrong one); its URL. Nothing is sent yet; the server must answer 201 at offset 0."""
    reply = client.post(
        "/api/v1/uploads",
        headers={
            **auth,
            **TUS,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": tus_metadata(
                filename=filename,
                kind="video",
                title="证据",
                sha256=sha or hashlib.sha256(data).hexdigest(),
            ),
        },
    )
    assert reply.status_code == 201, reply.text
    assert reply.headers["upload-offset"] == "0"
    location: str = reply.headers["location"]
    return location


def patch_upload(
    client: TestClient | httpx.Client,
    auth: Mapping[str, str],
    url: str,
    offset: int,
    body: bytes,
    **extra: str,
) -> tuple[int, dict[str, str]]:
    """Send ``body`` at ``offset`` of the upload at ``url``; the status and the headers."""
    reply = client.patch(
        url, content=body, headers={**auth, **PATCH, "Upload-Offset": str(offset), **extra}
    )
    return reply.status_code, dict(reply.headers)

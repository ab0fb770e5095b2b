"""A client of the server's live recording API (README "Recording in the browser (API)").

The CLI recorder streams its closed MPEG-TS segments through it (:mod:`.live_upload`); it is
thin on purpose: one method per request, every failure one :class:`RecordingApiError` that
says whether trying again may help.
"""

from __future__ import annotations

from typing import Any

import httpx

from timeseal.capture.clients import error_words, http_client
from timeseal.capture.errors import CaptureError
from timeseal.core.package.canonical import JSONValue

#: What the CLI recorder's segments are: MPEG-TS, which joins by concatenation.
MIME_TYPE = "video/mp2t"
TIMEOUT = httpx.Timeout(30.0, connect=5.0)
_DECIMAL_CHARS = set("-.0123456789")


class RecordingApiError(CaptureError):
    """A request failed. ``retryable`` when trying again may help (network, 5xx, 429);
    ``next_index`` when the server expects another chunk (``409 chunk_out_of_order``,
    ``chunk_count_mismatch``)."""

    def __init__(
        self, message: str, *, retryable: bool, code: str = "", next_index: int | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code
        self.next_index = next_index


def api_location(location: dict[str, JSONValue] | None) -> dict[str, str] | None:
    """The recording's ``--location`` as the API takes it: decimal coordinates only (an
    address stays in the local capture.json; the API has no field for it)."""
    if location is None:
        return None
    lat, lon = location.get("lat"), location.get("lon")
    if not (isinstance(lat, str) and isinstance(lon, str)):
        return None
    lat, lon = lat.removeprefix("+"), lon.removeprefix("+")  # the API's pattern has no "+"
    if not (set(lat) <= _DECIMAL_CHARS and set(lon) <= _DECIMAL_CHARS):
        return None
    return {"lat": lat, "lon": lon}


class RecordingApi:
    """``/api/v1/recordings`` of ``base_url`` with the API token ``token``."""

    def __init__(
        self, base_url: str, token: str, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self._client = http_client(
            base_url=base_url.rstrip("/"), token=token, timeout=TIMEOUT, transport=transport
        )

    def __enter__(self) -> RecordingApi:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def create(
        self,
        recording_id: str,
        kind: str,
        *,
        title: str | None = None,
        location: dict[str, str] | None = None,
    ) -> int:
        """Start (or, the id being ours already, look up) the recording; its ``next_index``."""
        body: dict[str, Any] = {
            "kind": kind,
            "mime_type": MIME_TYPE,
            "recording_id": recording_id,
            "title": title,
            "location": location,
        }
        answer = self._call("POST", "/api/v1/recordings", 201, json=body)
        return int(answer["next_index"])

    def put_chunk(self, recording_id: str, index: int, data: bytes) -> dict[str, Any]:
        """Send segment ``index``; the server's answer once it is chained and sealed."""
        return self._call(
            "PUT",
            f"/api/v1/recordings/{recording_id}/chunks/{index}",
            200,
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )

    def finish(self, recording_id: str, chunks: int) -> str:
        """A normal stop after ``chunks`` segments; the evidence number it was filed as."""
        body = {"chunks": chunks}
        answer = self._call("POST", f"/api/v1/recordings/{recording_id}/finish", 200, json=body)
        return str(answer["evidence"])

    def status(self, recording_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/v1/recordings/{recording_id}", 200)

    def _call(self, method: str, url: str, expect: int, **kwargs: Any) -> dict[str, Any]:
        try:
            reply = self._client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise RecordingApiError(
                f"无法连接 cannot reach {self._client.base_url}: {exc!r}", retryable=True
            ) from exc
        if reply.status_code != expect:
            raise _failure(reply)
        try:
            answer: dict[str, Any] = reply.json()
        except ValueError as exc:
            raise RecordingApiError(f"{url}: the answer is not JSON", retryable=False) from exc
        return answer


def _failure(reply: httpx.Response) -> RecordingApiError:
    code, message, next_index = "http_error", f"HTTP {reply.status_code}", None
    try:
        error = reply.json()["error"]
        code, message = str(error["code"]), f"{error_words(error)} (HTTP {reply.status_code})"
        if isinstance(error.get("next_index"), int):
            next_index = int(error["next_index"])
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    retryable = reply.status_code >= 500 or reply.status_code == 429
    return RecordingApiError(message, retryable=retryable, code=code, next_index=next_index)

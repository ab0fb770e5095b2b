"""A blob is sealed into an account only from bytes that this very upload received.

The attack (issue 12, point 1): the SHA-256 and size of every sealed file are public in the
log's entries. Account B creates an upload declaring those of A's file, then races ``DELETE``
against a ``PATCH`` with ``Upload-Offset == Upload-Length`` and an empty body. A ``PATCH``
that found no staging (discarded by the ``DELETE`` a moment before the row went) sealed the
existing blob with that hash into B's account, and B downloaded A's file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.support.accounts import OTHER_PHONE, bearer
from tests.support.tus import PATCH, TUS, create_upload, patch_upload, tus_metadata
from tests.unit.server.conftest import running_app
from timeseal.server.runtime.housekeeping import Housekeeper
from timeseal.store.uploads import STAGING_DIR, PartialUpload

SECRET = b"A's leaked contract: name, phone, address " * 2000
#: How many times the race is tried; it succeeded within tens of tries before the fix.
RACES = 40


@pytest.fixture
def vault(data_dir: Path, db_url: str) -> Iterator[TestClient]:
    with running_app(data_dir) as client:
        yield client


@pytest.fixture
def victim_sealed(vault: TestClient, data_dir: Path) -> str:
    """A's sealed file: its SHA-256 and size are what the public log shows anyone."""
    a = bearer(vault, data_dir)
    status, headers = patch_upload(vault, a, create_upload(vault, a, SECRET), 0, SECRET)
    assert status == 204, headers
    return headers["timeseal-evidence-number"]


def _declare_victims_file(vault: TestClient, b: dict[str, str]) -> str:
    """B creates an upload declaring A's public hash and size, without having the bytes."""
    return create_upload(vault, b, SECRET)


def _evidence_of(vault: TestClient, auth: dict[str, str]) -> list[str]:
    reply = vault.get("/api/v1/evidence", headers=auth)
    assert reply.status_code == 200, reply.text
    return [item["number"] for item in reply.json()["items"]]


def test_a_patch_after_the_staging_was_discarded_seals_nothing(
    vault: TestClient, data_dir: Path, victim_sealed: str
) -> None:
    """The race's window, held open: a termination (or an expiry) has discarded the staging
    and not yet removed the row. Before the fix, this PATCH sealed A's blob for B."""
    b = bearer(vault, data_dir, OTHER_PHONE)
    url = _declare_victims_file(vault, b)
    PartialUpload.open(data_dir / STAGING_DIR, url.rsplit("/", 1)[1]).discard()

    status, headers = patch_upload(vault, b, url, len(SECRET), b"")
    assert status == 404, headers
    assert "timeseal-evidence-number" not in headers
    assert vault.head(url, headers={**b, **TUS}).status_code == 404
    assert _evidence_of(vault, b) == []
    content = vault.get(f"/api/v1/evidence/{victim_sealed}/content", headers=b)
    assert content.status_code == 404


def _race(*actions: Callable[[], int]) -> list[int]:
    """Run ``actions`` at once (released together by a barrier); their status codes."""
    barrier = threading.Barrier(len(actions))
    results: list[int] = [0] * len(actions)

    def run(i: int, action: Callable[[], int]) -> None:
        barrier.wait(timeout=10)
        results[i] = action()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    return results


def test_racing_delete_against_the_final_patch_never_yields_a_record(
    vault: TestClient, data_dir: Path, victim_sealed: str
) -> None:
    b = bearer(vault, data_dir, OTHER_PHONE)
    seen: set[int] = set()
    for _ in range(RACES):
        url = _declare_victims_file(vault, b)
        numbers: list[str] = []

        def final_patch(url: str = url, numbers: list[str] = numbers) -> int:
            reply = vault.patch(
                url, content=b"", headers={**b, **PATCH, "Upload-Offset": str(len(SECRET))}
            )
            if "timeseal-evidence-number" in reply.headers:
                numbers.append(reply.headers["timeseal-evidence-number"])
            return reply.status_code

        def terminate(url: str = url) -> int:
            return vault.delete(url, headers={**b, **TUS}).status_code

        statuses = _race(final_patch, terminate, final_patch)
        seen.update(statuses)
        assert numbers == [], f"B sealed A's file as {numbers}"
        # Every answer is a refusal or the termination; never a server error.
        assert set(statuses) <= {204, 404, 409}, statuses
    assert _evidence_of(vault, b) == []
    assert 204 in seen  # the terminations did happen


def test_housekeeping_expiry_leaves_no_window_either(
    vault: TestClient, data_dir: Path, victim_sealed: str
) -> None:
    """Expiry removes the row before the staging, like termination: a PATCH arriving as the
    expired upload goes finds nothing to seal."""
    b = bearer(vault, data_dir, OTHER_PHONE)
    url = _declare_victims_file(vault, b)
    upload_id = url.rsplit("/", 1)[1]
    state = vault.app.app.state  # type: ignore[attr-defined]
    keeper = Housekeeper(
        state.timeseal_vault, state.timeseal_auth, upload_expiry=dt.timedelta(seconds=0)
    )
    assert keeper.run_once().uploads >= 1
    assert not (data_dir / STAGING_DIR / upload_id).exists()
    status, headers = patch_upload(vault, b, url, len(SECRET), b"")
    assert status == 404, headers
    assert _evidence_of(vault, b) == []


def test_the_same_bytes_uploaded_by_another_account_are_its_own_record(
    vault: TestClient, data_dir: Path, victim_sealed: str
) -> None:
    """Deduplication still works: B who really has the bytes gets a record of its own."""
    b = bearer(vault, data_dir, OTHER_PHONE)
    status, headers = patch_upload(vault, b, create_upload(vault, b, SECRET), 0, SECRET)
    assert status == 204, headers
    assert _evidence_of(vault, b) == [headers["timeseal-evidence-number"]]
    assert headers["timeseal-evidence-number"] != victim_sealed


@pytest.mark.parametrize("value", ["²", "١٢", "+5", "5_000", " 5", "99999999999999999999"])
@pytest.mark.parametrize("header", ["Upload-Length", "Upload-Offset"])
def test_numeric_tus_headers_take_ascii_digits_only(
    vault: TestClient, data_dir: Path, header: str, value: str
) -> None:
    """``str.isdigit`` took "²" and "١٢", which ``int`` then refused: a 500."""
    auth = bearer(vault, data_dir)
    meta = tus_metadata(filename="a.txt", sha256=hashlib.sha256(b"abc").hexdigest())

    def raw(headers: dict[str, str]) -> dict[bytes, bytes]:
        """As a client sends them: the value's UTF-8 bytes, not refused on the way out."""
        return {k.encode(): v.encode() for k, v in {**headers, header: value}.items()}

    if header == "Upload-Length":
        reply = vault.post("/api/v1/uploads", headers=raw({**auth, **TUS, "Upload-Metadata": meta}))
    else:
        url = create_upload(vault, auth, b"abc")
        reply = vault.patch(url, content=b"abc", headers=raw({**auth, **PATCH}))
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("filename", "chat\r\nSet-Cookie: x=1.txt"),
        ("filename", "nul\x00.txt"),
        ("filename", "invoice\u202egpj.exe"),
        ("title", "line\nbreak"),
        ("filetype", "text/plain\r\nX-Evil: 1"),
        ("filetype", "not a media type"),
    ],
)
def test_names_and_types_that_would_break_downloads_are_refused(
    vault: TestClient, data_dir: Path, field: str, value: str
) -> None:
    auth = bearer(vault, data_dir)
    values = {"filename": "ok.txt", "sha256": hashlib.sha256(b"abc").hexdigest(), field: value}
    reply = vault.post(
        "/api/v1/uploads",
        headers={**auth, **TUS, "Upload-Length": "3", "Upload-Metadata": tus_metadata(**values)},
    )
    assert reply.status_code == 400, reply.text
    assert _evidence_of(vault, auth) == []


def test_chinese_names_and_browser_media_types_are_accepted(
    vault: TestClient, data_dir: Path
) -> None:
    auth = bearer(vault, data_dir)
    data = b"webm bytes"
    values = {
        "filename": "聊天记录 2026-12-07.webm",
        "title": "客服承认泄露",
        "filetype": 'video/webm;codecs="vp8, opus"',
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    reply = vault.post(
        "/api/v1/uploads",
        headers={
            **auth,
            **TUS,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": tus_metadata(**values),
        },
    )
    assert reply.status_code == 201, reply.text
    status, headers = patch_upload(vault, auth, reply.headers["location"], 0, data)
    assert status == 204, headers

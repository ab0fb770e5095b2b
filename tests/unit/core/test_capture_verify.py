"""Verifying a web capture directory (timeseal.core.capture_verify): a sound capture passes;
every changed, missing, added or re-dated part fails by name, in the section of that file."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Callable

import pytest

from tests.support.pki import NOW
from tests.support.recordings import PKI
from timeseal.core.capture_verify import Opener, verify_capture_directory
from timeseal.core.digest import HashAlgorithm
from timeseal.core.package.canonical import JSONValue, format_canonical_json
from timeseal.core.package.report import PackageReport
from timeseal.core.tsp.request import build_request
from timeseal.core.verification import Check, Status

#: Tokens are issued an hour after the test PKI's certificates start to be valid.
SEALED = NOW + dt.timedelta(hours=1)
START = SEALED - dt.timedelta(seconds=5)
OUTPUTS = {
    "video.webm": b"video bytes",
    "screenshots/01-goto.png": b"png bytes",
    "capture.wacz": b"wacz bytes",
}


def _stamp(
    data: bytes,
    serial: int,
    gen_time: dt.datetime = SEALED,
    algorithm: HashAlgorithm = HashAlgorithm.SHA256,
) -> bytes:
    digest = algorithm.digest(data)
    request = build_request(digest, algorithm, nonce=serial, cert_req=True)
    return PKI.authority().issue(request, gen_time=gen_time, serial_number=serial).response_der


def _metadata(outputs: dict[str, bytes], **changes: JSONValue) -> bytes:
    doc: dict[str, JSONValue] = {
        "format": "timeseal-web-capture/1",
        "started_at": START.isoformat().replace("+00:00", "Z"),
        "files": [
            {"path": p, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
            for p, d in outputs.items()
        ],
    }
    doc.update(changes)
    return format_canonical_json(doc)


def _capture(**changes: JSONValue) -> dict[str, bytes]:
    files = dict(OUTPUTS)
    files["capture.json"] = _metadata(OUTPUTS, **changes)
    for serial, (name, data) in enumerate(sorted(files.items()), start=1):
        files[name + ".tsr"] = _stamp(data, serial)
    return files


def _verify(files: dict[str, bytes], *, roots: bool = True) -> PackageReport:
    def opener(data: bytes) -> Opener:
        return lambda: io.BytesIO(data)

    return verify_capture_directory(
        {n: opener(d) for n, d in files.items()}, [PKI.root.certificate] if roots else []
    )


def test_a_sound_capture_passes_every_check() -> None:
    result = _verify(_capture())
    assert result.ok, result.failed
    subjects = [s.subject for s in result.sections]
    assert subjects == [
        "capture.json",
        "capture.json.tsr",
        "video.webm",
        "screenshots/01-goto.png",
        "capture.wacz",
    ]
    video = result.section("video.webm")
    assert video is not None
    assert [c.check for c in video.result.checks][:5] == [
        Check.FILE_PRESENT,
        Check.FILE_SIZE,
        Check.FILE_SHA256,
        Check.TOKEN_PARSES,
        Check.PKI_STATUS_GRANTED,
    ]
    assert video.result.checks[-1].check is Check.CAPTURE_WINDOW
    assert {s for s, _ in result.tst_infos} == {"capture.json.tsr"} | set(OUTPUTS)


Tamper = Callable[[dict[str, bytes]], None]


@pytest.mark.parametrize(
    ("tamper", "failed"),
    [
        (
            lambda f: f.__setitem__("video.webm", b"video bytez"),
            [("video.webm", Check.FILE_SHA256), ("video.webm", Check.IMPRINT_MATCHES)],
        ),
        (
            lambda f: f.__setitem__("capture.wacz", b"wacz bytes!"),
            [
                ("capture.wacz", Check.FILE_SIZE),
                ("capture.wacz", Check.FILE_SHA256),
                ("capture.wacz", Check.IMPRINT_MATCHES),
            ],
        ),
        (
            lambda f: f.pop("screenshots/01-goto.png"),
            [
                ("screenshots/01-goto.png", Check.FILE_PRESENT),
                ("screenshots/01-goto.png", Check.IMPRINT_MATCHES),
            ],
        ),
        (
            lambda f: f.__setitem__("screenshots/99-extra.png", b"planted"),
            [("screenshots/99-extra.png", Check.FILE_LISTED)],
        ),
        (
            lambda f: f.pop("video.webm.tsr"),
            [("video.webm", Check.TOKEN_PARSES)],
        ),
        (
            lambda f: f.__setitem__("video.webm.tsr", b"not a token"),
            [("video.webm", Check.TOKEN_PARSES)],
        ),
        (
            # A token over other bytes, moved to this file's name.
            lambda f: f.__setitem__("video.webm.tsr", f["capture.wacz.tsr"]),
            [("video.webm", Check.IMPRINT_MATCHES)],
        ),
    ],
)
def test_each_tampering_fails_by_name(tamper: Tamper, failed: list[tuple[str, Check]]) -> None:
    files = _capture()
    tamper(files)
    assert list(_verify(files).failed) == failed


def test_a_rewritten_capture_json_fails_its_token() -> None:
    files = _capture()
    # The file list rewritten to match a swapped video, canonical again: only the token over
    # capture.json (and the video's own token) can tell.
    swapped = {**OUTPUTS, "video.webm": b"other video"}
    files["capture.json"] = _metadata(swapped)
    files["video.webm"] = b"other video"
    assert list(_verify(files).failed) == [
        ("capture.json.tsr", Check.IMPRINT_MATCHES),
        ("video.webm", Check.IMPRINT_MATCHES),
    ]


def test_capture_json_edited_by_hand_is_not_canonical() -> None:
    files = _capture()
    files["capture.json"] = files["capture.json"].replace(b'{"files"', b'{ "files"')
    failed = _verify(files).failed
    assert failed[0] == ("capture.json", Check.MANIFEST_CANONICAL)
    assert ("capture.json.tsr", Check.IMPRINT_MATCHES) in failed


@pytest.mark.parametrize(
    "changes",
    [
        {"format": "timeseal-capture/1"},
        {"started_at": "yesterday"},
        {"files": [{"path": "../etc/passwd", "size": 1, "sha256": "00" * 32}]},
        {"files": []},
        {"files": ["video.webm"]},
        {"files": [{"path": "a", "size": 1, "sha256": "00" * 32}] * 2},
        {"files": [{"path": "a", "size": -1, "sha256": "00" * 32}]},
        {"files": [{"path": "a", "size": 1, "sha256": "00"}]},
        {"files": [{"path": "a", "size": 1, "sha256": "zz" * 32}]},
        {"started_at": 5},
        {"started_at": "2026-11-29T10:00:00"},
    ],
)
def test_a_capture_json_of_the_wrong_shape_fails_schema(changes: dict[str, JSONValue]) -> None:
    result = _verify(_capture(**changes))
    assert ("capture.json", Check.MANIFEST_SCHEMA) in result.failed


def test_a_token_from_before_the_capture_started_fails_the_window() -> None:
    files = _capture()
    files["video.webm.tsr"] = _stamp(OUTPUTS["video.webm"], 99, START - dt.timedelta(minutes=5))
    assert list(_verify(files).failed) == [("video.webm", Check.CAPTURE_WINDOW)]


def test_without_roots_the_anchor_fails_and_token_checks_are_skipped() -> None:
    result = _verify(_capture(), roots=False)
    assert list(result.failed) == [("capture.json", Check.TRUST_ANCHOR)]
    video = result.section("video.webm")
    assert video is not None
    signature = video.result.get(Check.SIGNATURE)
    assert signature is not None and signature.status is Status.SKIPPED


def test_missing_capture_json_fails_and_every_file_is_unlisted() -> None:
    files = _capture()
    del files["capture.json"]
    failed = _verify(files).failed
    assert failed[0] == ("capture.json", Check.MANIFEST_CANONICAL)
    assert ("video.webm", Check.FILE_LISTED) in failed


def test_capture_json_that_is_not_json_fails_and_the_schema_is_skipped() -> None:
    files = _capture()
    files["capture.json"] = b"{"
    result = _verify(files)
    assert result.failed[0] == ("capture.json", Check.MANIFEST_CANONICAL)
    section = result.section("capture.json")
    assert section is not None
    schema = section.result.get(Check.MANIFEST_SCHEMA)
    assert schema is not None and schema.status is Status.SKIPPED


def test_a_foreign_sha512_token_is_checked_with_its_own_algorithm() -> None:
    files = _capture()
    files["video.webm.tsr"] = _stamp(OUTPUTS["video.webm"], 98, algorithm=HashAlgorithm.SHA512)
    assert list(_verify(files).failed) == []

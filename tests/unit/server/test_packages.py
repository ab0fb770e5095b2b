"""Evidence packages built by the server: an item's, a case's and a share link's (the copy that
withholds IP addresses and locations); each verifies offline (``timeseal verify PACKAGE.zip``),
comes back byte for byte on the next request, resumes with ``Range``, and carries the capture
metadata the client sent; SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from starlette.testclient import TestClient
from typer.testing import CliRunner

from tests.support.accounts import FakeClock, bearer, server_database_url
from tests.support.tus import PATCH, TUS, tus_metadata
from tests.unit.server import test_shares
from tests.unit.server.test_shares import custody, error
from timeseal.cli.main import app as cli
from timeseal.core.cades.verify import parse_signed_data, verify_detached
from timeseal.core.log_entry import format_entry, tsa_token_entry
from timeseal.core.package import parse_manifest, verify_package
from timeseal.core.package.layout import item_id
from timeseal.core.pdf_signature import certificate_signature_check, verify_pdf_signatures
from timeseal.core.tlog import leaf_hash, parse_verifier_key
from timeseal.core.tsp.response import parse_response
from timeseal.server.app import ServerSettings, create_app
from timeseal.server.certificate import media
from timeseal.server.runtime import datadir, platform_keys
from timeseal.server.tsa.clock import LocalSource

clock = test_shares.clock
server = test_shares.server

PHOTO = b"\xff\xd8\xff\xe0 a photo of the parcel label " * 3000
CLIP = b"\x00\x00\x00\x18ftypmp42 the courier reads my address " * 9000


def seal(
    client: TestClient,
    auth: dict[str, str],
    data: bytes,
    filename: str,
    kind: str,
    capture: dict[str, Any] | None = None,
) -> str:
    meta = {
        "filename": filename,
        "kind": kind,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    if capture is not None:
        meta["capture"] = json.dumps(capture, ensure_ascii=False)
    encoded = tus_metadata(**meta)
    created = client.post(
        "/api/v1/uploads",
        headers={**auth, **TUS, "Upload-Length": str(len(data)), "Upload-Metadata": encoded},
    )
    assert created.status_code == 201, created.text
    done = client.patch(
        created.headers["location"], content=data, headers={**auth, **PATCH, "Upload-Offset": "0"}
    )
    assert done.status_code == 204, done.text
    number: str = done.headers["timeseal-evidence-number"]
    return number


def fetch(client: TestClient, url: str, headers: dict[str, str]) -> bytes:
    """The package at ``url``, waiting while its items are not in the log yet."""
    deadline = time.monotonic() + 20
    while True:
        reply = client.get(url, headers=headers)
        if reply.status_code != 503 or time.monotonic() > deadline:
            break
        assert reply.json()["error"]["code"] == "not_sequenced"
        assert int(reply.headers["retry-after"]) >= 1
        time.sleep(0.2)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/zip"
    assert reply.headers["content-length"] == str(len(reply.content))
    assert reply.headers["etag"] == f'"{hashlib.sha256(reply.content).hexdigest()}"'
    return reply.content


def verified(data_dir: Path, package: bytes) -> dict[str, Any]:
    """The package's manifest, after checking that it verifies against this server's root
    and log key, with nothing but the package."""
    root = platform_keys.load_chain(data_dir, datadir.load_config(data_dir).tsa.signer)[-1]
    vkey = (data_dir / "log" / "log.vkey").read_text().strip()
    report = verify_package(
        io.BytesIO(package),
        roots=[root],
        log_key=parse_verifier_key(vkey),
        certificate_check=certificate_signature_check,
    )
    assert report.ok, report.failed
    manifest, canonical = parse_manifest(zipfile.ZipFile(io.BytesIO(package)).read("manifest.json"))
    assert canonical
    answer: dict[str, Any] = json.loads(zipfile.ZipFile(io.BytesIO(package)).read("manifest.json"))
    assert answer["scope"] == manifest.scope
    return answer


def test_an_item_package_verifies_and_comes_back_the_same(
    server: TestClient, data_dir: Path, tmp_path: Path
) -> None:
    auth = bearer(server, data_dir)
    started = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    capture = {
        "started_at": started.isoformat(),
        "ended_at": (started + dt.timedelta(minutes=1)).isoformat(),
        "device": {"model": "Xiaomi 14", "os": "Android 15"},
        "location": {"latitude": "31.2304", "longitude": "121.4737"},
    }
    number = seal(server, auth, PHOTO, "面单.jpg", "photo", capture)
    url = f"/api/v1/evidence/{number}/package"
    package = fetch(server, url, auth)
    manifest = verified(data_dir, package)
    [item] = manifest["items"]
    assert (item["number"], item["kind"], item["size"]) == (number, "photo", len(PHOTO))
    assert item["capture"] == capture
    assert item["capture_window"]["start"].startswith(started.strftime("%Y-%m-%dT%H:%M"))
    assert [e["action"] for e in item["custody"]][:2] == ["uploaded", "sealed"]
    members = zipfile.ZipFile(io.BytesIO(package)).namelist()
    assert f"items/{item_id(number)}_面单.jpg" in members, members
    assert "VERIFY.md" in members

    # The item's one certificate: in the package, and on its own (signed and timestamped).
    certificate = server.get(f"/api/v1/evidence/{number}/certificate", headers=auth)
    assert certificate.status_code == 200
    assert certificate.headers["content-type"] == "application/pdf"
    assert zipfile.ZipFile(io.BytesIO(package)).read("certificate.pdf") == certificate.content
    root = platform_keys.load_chain(data_dir, datadir.load_config(data_dir).tsa.signer)[-1]
    signatures = verify_pdf_signatures(certificate.content, roots=[root])
    assert signatures.ok and signatures.signed and signatures.timestamped

    # The same inputs: the same bytes, so a broken download resumes with Range.
    again = server.get(url, headers=auth)
    assert again.content == package
    # Named as a file may be named anywhere (a check symbol such as * spelled _32).
    disposition = again.headers["content-disposition"]
    name = f"{item_id(number)}.zip"
    assert disposition == f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}"
    assert certificate.headers["content-disposition"].endswith(
        f"filename*=UTF-8''{item_id(number)}-certificate.pdf"
    )
    part = server.get(url, headers={**auth, "Range": "bytes=100-"})
    assert part.status_code == 206 and part.content == package[100:]
    assert part.headers["content-range"] == f"bytes 100-{len(package) - 1}/{len(package)}"
    assert custody(server, auth, number).count(("downloaded", "198.51.100.7")) == 4  # + certificate

    # The command-line verifier agrees, offline.
    path = tmp_path / f"{number}.zip"
    path.write_bytes(package)
    root_pem = data_dir / "pki" / "root.pem"
    vkey = (data_dir / "log" / "log.vkey").read_text().strip()
    result = CliRunner().invoke(
        cli, ["verify", str(path), "--ca", str(root_pem), "--log-key", vkey, "--json"]
    )
    assert result.exit_code == 0, result.output
    flipped = bytearray(package)
    flipped[package.index(PHOTO[:40]) + 10] ^= 1
    path.write_bytes(bytes(flipped))
    result = CliRunner().invoke(
        cli, ["verify", str(path), "--ca", str(root_pem), "--log-key", vkey]
    )
    assert result.exit_code == 1


def test_capture_metadata_must_fit_a_package(server: TestClient, data_dir: Path) -> None:
    auth = bearer(server, data_dir)
    for bad in ('{"latitude": 31.23}', "[1, 2]", "{not json", '{"a": 1, "a": 2}'):
        encoded = tus_metadata(
            filename="x.jpg", sha256=hashlib.sha256(b"x").hexdigest(), capture=bad
        )
        reply = server.post(
            "/api/v1/uploads",
            headers={**auth, **TUS, "Upload-Length": "1", "Upload-Metadata": encoded},
        )
        assert error(reply) == (400, "invalid_request"), bad


def test_a_case_package_and_a_share_links_package(
    server: TestClient, data_dir: Path, clock: FakeClock
) -> None:
    auth = bearer(server, data_dir)
    photo = seal(server, auth, PHOTO, "label.jpg", "photo")
    clip = seal(server, auth, CLIP, "courier.mp4", "video")
    case_id = server.post("/api/v1/cases", json={"title": "地址泄露"}, headers=auth).json()["id"]
    assert error(server.get(f"/api/v1/cases/{case_id}/package", headers=auth)) == (
        409,
        "case_empty",
    )
    for number, note in ((clip, "骑手念出地址"), (photo, "面单")):
        added = server.put(
            f"/api/v1/cases/{case_id}/items/{number}", json={"note": note}, headers=auth
        )
        assert added.status_code == 200
    package = fetch(server, f"/api/v1/cases/{case_id}/package", auth)
    manifest = verified(data_dir, package)
    assert manifest["scope"] == "case"
    assert [i["number"] for i in manifest["items"]] == [clip, photo]
    assert manifest["case"]["title"] == "地址泄露"
    assert [i["note"] for i in manifest["case"]["items"]] == ["骑手念出地址", "面单"]
    # The same certificate, byte for byte, as the item's own.
    in_case = zipfile.ZipFile(io.BytesIO(package)).read(f"certificates/{item_id(photo)}.pdf")
    own = server.get(f"/api/v1/evidence/{photo}/certificate", headers=auth).content
    assert in_case == own

    # A link to the case gets the same items in a copy without IP addresses (its own package,
    # tests/security/test_share_privacy.py); a changed case gets a new one.
    expires = (clock() + dt.timedelta(days=2)).isoformat()
    link = server.post(
        f"/api/v1/cases/{case_id}/shares", json={"expires_at": expires}, headers=auth
    ).json()
    anyone = TestClient(server.app, client=("203.0.113.9", 1))
    shared = anyone.get(f"/api/v1/shares/{link['token']}/package")
    assert shared.status_code == 200 and shared.content != package
    assert [i["number"] for i in verified(data_dir, shared.content)["items"]] == [clip, photo]
    assert ("share_opened", "203.0.113.9") in custody(server, auth, photo)
    server.put(f"/api/v1/cases/{case_id}/items/{photo}", json={"note": "快递面单"}, headers=auth)
    changed = fetch(server, f"/api/v1/cases/{case_id}/package", auth)
    assert changed != package
    assert verified(data_dir, changed)["case"]["items"][1]["note"] == "快递面单"

    item_link = server.post(
        f"/api/v1/evidence/{photo}/shares", json={"expires_at": expires}, headers=auth
    ).json()
    item_package = anyone.get(f"/api/v1/shares/{item_link['token']}/package")
    assert item_package.status_code == 200
    assert verified(data_dir, item_package.content)["scope"] == "item"
    assert error(anyone.get(f"/api/v1/shares/{'x' * 43}/package")) == (404, "not_found")


def test_not_in_the_log_yet_says_retry(data_dir: Path, db_url: str) -> None:
    config = json.loads((data_dir / "config.json").read_text())
    config["log"]["interval_ms"] = 60_000  # the sequencer's first round comes at start only
    (data_dir / "config.json").write_text(json.dumps(config))
    settings = ServerSettings(
        database_url=server_database_url(), data_dir=data_dir, clock_source=LocalSource()
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        auth = bearer(client, data_dir)
        time.sleep(0.5)  # let the first (empty) round pass
        number = seal(client, auth, PHOTO, "p.jpg", "photo")
        reply = client.get(f"/api/v1/evidence/{number}/package", headers=auth)
        assert error(reply) == (503, "not_sequenced")
        assert reply.headers["retry-after"] == "2"


@pytest.mark.parametrize("path", ["/api/v1/evidence/TS-20261129-0000-000A/package"])
def test_unknown_items_are_404(server: TestClient, data_dir: Path, path: str) -> None:
    auth = bearer(server, data_dir)
    assert error(server.get(path, headers=auth)) == (404, "not_found")
    assert error(server.get("/api/v1/cases/424242/package", headers=auth)) == (404, "not_found")


def test_without_the_cjk_font_downloads_name_the_package_to_install(
    server: TestClient, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No 500: the certificate and the package answer 503 naming fonts-noto-cjk, and work
    as soon as the font is there, without a restart."""
    auth = bearer(server, data_dir)
    number = seal(server, auth, PHOTO, "label.jpg", "photo")
    font = media.NOTO_CJK_REGULAR
    monkeypatch.setattr(media, "NOTO_CJK_REGULAR", tmp_path / "NotoSansCJK-Regular.ttc")
    deadline = time.monotonic() + 20
    while True:  # until the item is in the log, the answer is not_sequenced
        reply = server.get(f"/api/v1/evidence/{number}/certificate", headers=auth)
        waiting = reply.status_code == 503 and error(reply) == (503, "not_sequenced")
        if not waiting or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert error(reply) == (503, "certificate_font_missing")
    assert "fonts-noto-cjk" in reply.json()["error"]["message"]
    english = {**auth, "Accept-Language": "en"}
    package = server.get(f"/api/v1/evidence/{number}/package", headers=english)
    assert error(package) == (503, "certificate_font_missing")
    assert "install the fonts-noto-cjk package" in package.json()["error"]["message"]
    monkeypatch.setattr(media, "NOTO_CJK_REGULAR", font)
    assert server.get(f"/api/v1/evidence/{number}/certificate", headers=auth).status_code == 200


def test_the_manifest_is_signed_by_the_installation_and_its_hash_is_in_the_log(
    server: TestClient, data_dir: Path
) -> None:
    """What a package claims is the installation's (its document-signing certificate signs
    the manifest), and the manifest's hash is in the public log: the TSA logs every token it
    issues, the manifest's own among them, so a package version can be proven to exist."""
    auth = bearer(server, data_dir)
    number = seal(server, auth, PHOTO, "面单.jpg", "photo")
    package = fetch(server, f"/api/v1/evidence/{number}/package", auth)
    verified(data_dir, package)
    files = zipfile.ZipFile(io.BytesIO(package))
    manifest = files.read("manifest.json")
    found = verify_detached(
        parse_signed_data(files.read("proofs/manifest.p7s")),
        manifest,
        [x509.load_pem_x509_certificate((data_dir / "pki" / "root.pem").read_bytes())],
        require_timestamp=True,
    )
    assert found.ok, found.failure_text()
    docsign = x509.load_pem_x509_certificate((data_dir / "pki" / "docsign.pem").read_bytes())
    assert found.signer == docsign

    token = parse_response(files.read("proofs/manifest.tsr")).token
    assert token is not None and token.tst_info.message_imprint == hashlib.sha256(manifest).digest()
    leaf = leaf_hash(format_entry(tsa_token_entry(token))).hex()
    deadline = time.monotonic() + 20
    while (reply := server.get(f"/api/v1/log/leaf-index/{leaf}")).status_code == 404:
        assert time.monotonic() < deadline, "the manifest's token never reached the log"
        time.sleep(0.2)
    assert reply.status_code == 200 and reply.json()["leaf_index"] >= 0
